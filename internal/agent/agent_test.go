package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/fleetlaps/fleetlaps/internal/render"
	"github.com/fleetlaps/fleetlaps/internal/report"
)

func TestBuildReport(t *testing.T) {
	now := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	vals := []render.RegistryValue{{Name: "BackupDirectory", Type: render.RegDWORD, DWord: 2}}
	st := State{OSBuild: "10.0.26100.1", BootMode: "Normal", ActiveRoot: "GroupPolicy", AppliedValues: vals}
	var forwarded []int32
	for id := range ForwardedEvents {
		forwarded = append(forwarded, id)
	}
	for i := 0; i < 30; i++ {
		st.Events = append(st.Events, report.Event{ID: 10004, Time: now.Add(-time.Duration(i) * time.Minute)}) // not forwarded
		st.Events = append(st.Events, report.Event{ID: forwarded[i%len(forwarded)], Time: now.Add(-time.Duration(i) * time.Minute),
			Message: "could not use k7Fq2ZpX9mWr4T\x07" + strings.Repeat("é", 200)})
	}
	r := BuildReport(report.DeviceRef{Namespace: "fleet", Name: "ws-1"}, st, 9, now)
	if err := r.Validate(); err != nil {
		t.Fatalf("the agent's own report does not validate: %v", err)
	}
	if r.AppliedPolicyHash != render.AppliedHash(vals) || r.Sequence != 9 || len(r.Events) != MaxForwardedEvents || !r.Events[0].Time.Equal(now) {
		t.Fatalf("report %+v", r)
	}
	ids := map[int32]bool{}
	for i, e := range r.Events {
		if ids[e.ID] || !e.Time.Equal(now.Add(-time.Duration(i)*time.Minute)) {
			t.Fatalf("event %d %+v: want the newest of each ID, newest first", i, e)
		}
		ids[e.ID] = true
		if !ForwardedEvents[e.ID] || len(e.Message) > 200 || strings.Contains(e.Message, "k7Fq2ZpX9mWr4T") || strings.ContainsRune(e.Message, 7) {
			t.Fatalf("event %+v", e)
		}
	}
	if r := BuildReport(report.DeviceRef{Namespace: "fleet", Name: "ws-1"}, State{OSBuild: "10.0.1", BootMode: "Normal"}, 1, now); r.AppliedPolicyHash != "" || r.Events != nil {
		t.Fatalf("a device without policy: %+v", r)
	}
}

func TestSequencer_growsAcrossRestarts(t *testing.T) {
	now := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	var a report.Sequencer
	s1, s2 := a.Next(now), a.Next(now)
	var restarted report.Sequencer
	s3 := restarted.Next(now.Add(time.Second))
	if !(s1 < s2 && s2 < s3) {
		t.Fatalf("sequences %d %d %d do not grow", s1, s2, s3)
	}
}
