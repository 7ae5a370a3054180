package schedule

import (
	"fmt"
	"time"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

// ConcurrencyRetry is how long a device refused for maxConcurrent waits before asking again: the
// decision cannot know when an in-flight rotation finishes (its completion is a watch event that
// usually comes sooner).
const ConcurrencyRetry = 30 * time.Second

// SnapshotRetry is how often a decision that waits for the connection's first snapshot asks
// again.
const SnapshotRetry = 5 * time.Second

// RateWindow is the sliding window of spec.rotation.ratePerMinute.
const RateWindow = time.Minute

// SlotInput is what decides whether one pending device may start its rotation now.
type SlotInput struct {
	Now time.Time
	// SnapshotLoaded: the device's connection has a snapshot (the device's current password
	// version and legacy flag come from it).
	SnapshotLoaded bool
	// Windows are the policy's maintenance windows (none: always open).
	Windows []lapsv1.MaintenanceWindow
	// MaxConcurrent and RatePerMinute are the policy's limits; zero or negative is unlimited.
	MaxConcurrent, RatePerMinute int32
	// InFlight counts the policy's devices with a rotation requested and not yet evidenced.
	InFlight int
	// RecentWrites are the write times recorded in RotationRequest status for the policy's
	// devices (any request, finished or not). They are durable, so the rate holds across
	// restarts of the controller.
	RecentWrites []time.Time
}

// SlotWait says why a device waits.
type SlotWait string

const (
	SlotGo            SlotWait = ""
	SlotNoSnapshot    SlotWait = "NoSnapshot"
	SlotInvalidWindow SlotWait = "InvalidWindow"
	SlotWindow        SlotWait = "Window"
	SlotConcurrency   SlotWait = "Concurrency"
	SlotRate          SlotWait = "Rate"
)

// SlotDecision is the outcome of Slot. RetryAt is when asking again can succeed (zero with Go or
// InvalidWindow); Err explains InvalidWindow.
type SlotDecision struct {
	Wait    SlotWait
	RetryAt time.Time
	Err     error
}

// Go says whether the device may start now.
func (d SlotDecision) Go() bool { return d.Wait == SlotGo }

// Slot decides in this order: the first snapshot, the maintenance window, maxConcurrent, then
// ratePerMinute as a sliding window of RateWindow over RecentWrites (writes at or before
// Now-RateWindow no longer count; a write time after Now, from a clock that went back, counts).
func Slot(in SlotInput) SlotDecision {
	if !in.SnapshotLoaded {
		return SlotDecision{Wait: SlotNoSnapshot, RetryAt: in.Now.Add(SnapshotRetry)}
	}
	open, _, nextOpen, err := WindowAt(in.Windows, in.Now)
	if err != nil {
		return SlotDecision{Wait: SlotInvalidWindow, Err: err}
	}
	if !open {
		return SlotDecision{Wait: SlotWindow, RetryAt: nextOpen}
	}
	if in.MaxConcurrent > 0 && in.InFlight >= int(in.MaxConcurrent) {
		return SlotDecision{Wait: SlotConcurrency, RetryAt: in.Now.Add(ConcurrencyRetry)}
	}
	if in.RatePerMinute <= 0 {
		return SlotDecision{}
	}
	since := in.Now.Add(-RateWindow)
	var n int
	var oldest time.Time
	for _, w := range in.RecentWrites {
		if !w.After(since) {
			continue
		}
		n++
		if oldest.IsZero() || w.Before(oldest) {
			oldest = w
		}
	}
	if n < int(in.RatePerMinute) {
		return SlotDecision{}
	}
	// The window frees a slot when its oldest write leaves it. When more writes than the
	// limit are in the window (a lowered limit), that is still the earliest a slot may free.
	retry := oldest.Add(RateWindow)
	if !retry.After(in.Now) {
		retry = in.Now.Add(MinRequeue)
	}
	return SlotDecision{Wait: SlotRate, RetryAt: retry}
}

// Message explains a wait for a device of policy (empty for Go).
func (d SlotDecision) Message(policy string, maxConcurrent, ratePerMinute int32) string {
	switch d.Wait {
	case SlotNoSnapshot:
		return "waiting for the first snapshot of the directory"
	case SlotInvalidWindow:
		return "maintenance window: " + d.Err.Error()
	case SlotWindow:
		return fmt.Sprintf("%s of LapsPolicy %s opening at %s", MsgWaitingForWindow, policy, d.RetryAt.UTC().Format(time.RFC3339))
	case SlotConcurrency:
		return fmt.Sprintf("waiting: LapsPolicy %s allows %d concurrent rotations", policy, maxConcurrent)
	case SlotRate:
		return fmt.Sprintf("waiting: LapsPolicy %s allows %d rotations per minute", policy, ratePerMinute)
	}
	return ""
}

// MsgWaitingForWindow starts the message of a device waiting for its maintenance window.
const MsgWaitingForWindow = "waiting for the maintenance window"
