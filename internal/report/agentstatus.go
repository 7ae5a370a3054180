package report

import (
	"crypto/sha256"
	"encoding/json"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

// AgentStatus is status.agent for an accepted report received at now (the server's clock: the
// agent's own clock only has to lie within the skew bound). Event messages are scrubbed; of
// each event ID only the newest is kept, newest first.
func AgentStatus(r Report, now time.Time) lapsv1.AgentStatus {
	st := lapsv1.AgentStatus{
		LastReportTime:       stamp(now),
		LastSequence:         r.Sequence,
		OSBuild:              r.OSBuild,
		ActivePolicyRoot:     lapsv1.PolicyRoot(r.ActivePolicyRoot),
		AppliedPolicyHash:    r.AppliedPolicyHash,
		LocalPasswordVersion: r.LocalPasswordVersion,
		BootMode:             r.BootMode,
	}
	if !r.LocalExpirationTime.IsZero() {
		st.LocalExpirationTime = stamp(r.LocalExpirationTime)
	}
	for _, e := range NewestPerID(r.Events) {
		st.RecentEvents = append(st.RecentEvents, lapsv1.AgentEvent{
			ID: e.ID, Time: *stamp(e.Time), ResultCode: int64(e.ResultCode), Message: Scrub(e.Message),
		})
	}
	return st
}

// stamp is t as status stores it: UTC, whole seconds (metav1.Time serialises seconds, so finer
// times would differ from what is read back and look like a change).
func stamp(t time.Time) *metav1.Time {
	m := metav1.NewTime(t.UTC().Truncate(time.Second))
	return &m
}

// contentHash identifies what a status.agent says apart from when it was said: the report
// time and sequence move with every report and alone are no reason to write.
func contentHash(st lapsv1.AgentStatus) [sha256.Size]byte {
	st.LastReportTime, st.LastSequence = nil, 0
	b, err := json.Marshal(st)
	if err != nil {
		// AgentStatus holds strings, integers and times: Marshal cannot fail.
		panic("report: marshal AgentStatus: " + err.Error())
	}
	return sha256.Sum256(b)
}

// written is what the last status.agent write said, as the server remembers it.
type written struct {
	content    [sha256.Size]byte
	reportTime time.Time
}

// writeDecision says whether an accepted report must be written: when it says something new,
// or when the last written report time is a heartbeat interval old (or unknown). A heartbeat
// inside the interval costs no apiserver write.
func writeDecision(last *written, next lapsv1.AgentStatus, now time.Time, heartbeat time.Duration) (bool, string) {
	switch {
	case last == nil:
		return true, "first report"
	case last.content != contentHash(next):
		return true, "changed"
	case now.Sub(last.reportTime) >= heartbeat:
		return true, "heartbeat due"
	}
	return false, "heartbeat within interval"
}

// writtenOf is what a status.agent read from the cluster says (nil when it holds no report).
func writtenOf(st *lapsv1.AgentStatus) *written {
	if st == nil || st.LastReportTime == nil {
		return nil
	}
	return &written{content: contentHash(*st), reportTime: st.LastReportTime.Time}
}
