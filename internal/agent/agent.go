// Package agent is the endpoint agent: it gathers what Windows LAPS on a device applied and
// logged (from Windows itself, or from a simulated fleetsim device) and sends it to the report
// API with the device's enrollment token. The Windows collection sits behind build tags; what
// it reads is parsed by plain Go in this package, tested on any OS.
package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"

	"github.com/fleetlaps/fleetlaps/internal/render"
	"github.com/fleetlaps/fleetlaps/internal/report"
)

// State is what the device shows at one moment.
type State struct {
	OSBuild  string
	BootMode string
	// ActiveRoot is the Windows LAPS policy root in effect ("" when no root holds settings),
	// AppliedValues the values under its key.
	ActiveRoot           string
	AppliedValues        []render.RegistryValue
	LocalPasswordVersion string
	LocalExpirationTime  time.Time
	// Events of the Microsoft-Windows-LAPS/Operational channel, in any order.
	Events []report.Event
}

// Source gathers a device's State.
type Source interface {
	Collect(ctx context.Context) (State, error)
}

// ForwardedEvents are the events a report carries: failures, rollback, tampering and the last
// stored password (LAPS-REFERENCE.md §3). Routine cycle events stay on the device.
var ForwardedEvents = map[int32]bool{
	10005: true, 10006: true, 10011: true, 10012: true, 10013: true, 10015: true, 10017: true, 10018: true,
	10019: true, 10025: true, 10026: true, 10027: true, 10028: true, 10029: true, 10031: true, 10032: true,
	10034: true, 10035: true, 10043: true, 10048: true, 10049: true, 10056: true, 10057: true, 10059: true, 10108: true,
}

// MaxForwardedEvents is how many events a report carries (the newest).
const MaxForwardedEvents = 10

// BuildReport turns a State into a report: the applied values hashed, the forwarded events
// newest first and only the newest of each event ID, messages shortened at a character boundary and scrubbed on the device already.
func BuildReport(dev report.DeviceRef, st State, seq int64, now time.Time) report.Report {
	r := report.Report{
		Schema: report.SchemaV1, Device: dev, Sequence: seq, AgentTime: now.UTC(),
		OSBuild: st.OSBuild, BootMode: st.BootMode, ActivePolicyRoot: st.ActiveRoot,
		LocalPasswordVersion: st.LocalPasswordVersion, LocalExpirationTime: st.LocalExpirationTime,
	}
	if st.ActiveRoot != "" {
		r.AppliedPolicyHash = render.AppliedHash(st.AppliedValues)
	}
	evs := make([]report.Event, 0, len(st.Events))
	for _, e := range st.Events {
		if ForwardedEvents[e.ID] {
			evs = append(evs, e)
		}
	}
	evs = report.NewestPerID(evs)
	if len(evs) > MaxForwardedEvents {
		evs = evs[:MaxForwardedEvents]
	}
	for i := range evs {
		evs[i].Message = shorten(report.Scrub(evs[i].Message), 200)
	}
	if len(evs) > 0 {
		r.Events = evs
	}
	return r
}

// shorten cuts s to at most n bytes without splitting a character, dropping control
// characters the report schema refuses.
func shorten(s string, n int) string {
	out := make([]rune, 0, len(s))
	size := 0
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			c = ' '
		}
		if size+utf8.RuneLen(c) > n {
			break
		}
		out = append(out, c)
		size += utf8.RuneLen(c)
	}
	return string(out)
}

// Agent reports one device.
type Agent struct {
	Device report.DeviceRef
	Source Source
	Client *report.Client
	Clock  clock.Clock
	// Interval is how often the agent reports when nothing changed (the heartbeat); PollEvery
	// how often it looks for changes, which it reports at once.
	Interval  time.Duration
	PollEvery time.Duration
	Log       logr.Logger

	seq      report.Sequencer
	lastSent *report.Report
	lastAt   time.Time
}

// Once collects and sends one report.
func (a *Agent) Once(ctx context.Context) (report.Response, error) {
	st, err := a.Source.Collect(ctx)
	if err != nil {
		return report.Response{}, fmt.Errorf("collecting the device's state: %w", err)
	}
	return a.send(ctx, st)
}

func (a *Agent) send(ctx context.Context, st State) (report.Response, error) {
	now := a.Clock.Now()
	rep := BuildReport(a.Device, st, a.seq.Next(now), now)
	resp, err := a.Client.Send(ctx, rep)
	var ref *report.Refused
	if errors.As(err, &ref) && ref.Code == http.StatusConflict {
		// The server saw a newer sequence (the clock went back): take one past it next time.
		a.seq.Next(now.Add(time.Hour))
	}
	if err == nil {
		a.lastSent, a.lastAt = &rep, now
	}
	return resp, err
}

// due says whether a state must be sent now: it differs from the last report, or the interval
// passed since the last one.
func (a *Agent) due(st State, now time.Time) bool {
	if a.lastSent == nil || now.Sub(a.lastAt) >= a.Interval {
		return true
	}
	next := BuildReport(a.Device, st, a.lastSent.Sequence, a.lastSent.AgentTime)
	return !sameContent(*a.lastSent, next)
}

func sameContent(a, b report.Report) bool {
	a.Sequence, a.AgentTime, b.Sequence, b.AgentTime = 0, time.Time{}, 0, time.Time{}
	if len(a.Events) != len(b.Events) {
		return false
	}
	for i := range a.Events {
		if a.Events[i] != b.Events[i] {
			return false
		}
	}
	a.Events, b.Events = nil, nil
	return a.Device == b.Device && a.OSBuild == b.OSBuild && a.BootMode == b.BootMode && a.ActivePolicyRoot == b.ActivePolicyRoot &&
		a.AppliedPolicyHash == b.AppliedPolicyHash && a.LocalPasswordVersion == b.LocalPasswordVersion &&
		a.LocalExpirationTime.Equal(b.LocalExpirationTime)
}

// Report collects the device's state and sends it when it changed, when the interval passed
// since the last report, or when force; sent says whether it sent.
func (a *Agent) Report(ctx context.Context, force bool) (sent bool, resp report.Response, err error) {
	st, err := a.Source.Collect(ctx)
	if err != nil {
		return false, report.Response{}, fmt.Errorf("collecting the device's state: %w", err)
	}
	if !force && !a.due(st, a.Clock.Now()) {
		return false, report.Response{}, nil
	}
	resp, err = a.send(ctx, st)
	return true, resp, err
}

// Run polls until ctx ends, sending a report on change and at least every Interval. A refused
// report is logged with the server's reason and retried at the next poll (after Retry-After).
func (a *Agent) Run(ctx context.Context) error {
	if a.PollEvery <= 0 {
		a.PollEvery = 5 * time.Minute
	}
	if a.Interval <= 0 {
		a.Interval = time.Hour
	}
	wait := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-a.Clock.After(wait):
		}
		wait = a.PollEvery
		sent, resp, err := a.Report(ctx, false)
		var ref *report.Refused
		switch {
		case !sent && err == nil: // nothing new, heartbeat not due
		case errors.As(err, &ref):
			a.Log.Info("report refused", "code", ref.Code, "reason", ref.Reason, "message", ref.Message)
			if ref.RetryAfter > wait {
				wait = ref.RetryAfter
			}
		case err != nil:
			a.Log.Error(err, "sending the report")
		default:
			a.Log.V(1).Info("report accepted", "written", resp.Written)
		}
	}
}
