package controllers

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

// A RotationRequest holds one result per target, up to lapsv1.MaxRotationTargets, in one stored
// object (etcd refuses values over 1.5 MiB). So each result carries only what its state needs,
// and what many devices share (why they wait, the deadline they missed) is said once, in the
// request's conditions.

// compactResult drops what res's state no longer needs: Pending is the device and its state;
// Requested drops the claim time once the write is recorded (writtenAt is the same time) and
// the message unless a failed write or an undecided claim explains itself; Rotated keeps when
// it was written and rotated (and the attempts when more than one); Failed keeps the write time,
// the failure and its detail.
func compactResult(res *lapsv1.DeviceRotationResult) {
	switch res.State {
	case lapsv1.DeviceRotationPending:
		*res = lapsv1.DeviceRotationResult{Device: res.Device, State: res.State}
	case lapsv1.DeviceRotationRequested:
		if res.WrittenAt != nil {
			res.LastAttemptTime = nil
			if res.RequestedAt != nil && res.RequestedAt.Equal(res.WrittenAt) {
				res.RequestedAt = nil // intentTime reads writtenAt
			}
			if res.LastFailureTime == nil {
				res.Message = ""
			}
		}
	case lapsv1.DeviceRotationRotated:
		out := lapsv1.DeviceRotationResult{Device: res.Device, State: res.State, WrittenAt: res.WrittenAt, RotatedAt: res.RotatedAt}
		if res.Attempts > 1 {
			out.Attempts = res.Attempts
		}
		*res = out
	case lapsv1.DeviceRotationFailed:
		*res = lapsv1.DeviceRotationResult{Device: res.Device, State: res.State, WrittenAt: res.WrittenAt,
			LastFailureTime: res.LastFailureTime, Attempts: res.Attempts, Message: res.Message}
	}
}

func compactResults(results []lapsv1.DeviceRotationResult) {
	for i := range results {
		compactResult(&results[i])
	}
}

// waitKind groups pending devices by why they wait.
type waitKind int

const (
	waitOther waitKind = iota
	waitWindow
)

// waitNote is one reason pending devices wait, and how many.
type waitNote struct {
	kind    waitKind
	message string
	devices int
}

// waiting records that one pending device waits for reason key (explained by message).
func (s *rotationScope) waiting(kind waitKind, key, message string) {
	if s.waits == nil {
		s.waits = map[string]*waitNote{}
	}
	n, ok := s.waits[key]
	if !ok {
		n = &waitNote{kind: kind, message: message}
		s.waits[key] = n
	}
	n.devices++
}

// maxWaitNotes bounds the reasons a condition message lists.
const maxWaitNotes = 3

// waitSummary says why pending devices wait, the most common reasons first:
// "4 waiting: LapsPolicy base allows 2 rotations per minute".
func (s *rotationScope) waitSummary() string {
	notes := make([]*waitNote, 0, len(s.waits))
	for _, n := range s.waits {
		notes = append(notes, n)
	}
	slices.SortFunc(notes, func(a, b *waitNote) int {
		if c := cmp.Compare(b.devices, a.devices); c != 0 {
			return c
		}
		return strings.Compare(a.message, b.message)
	})
	var parts []string
	for i, n := range notes {
		if i == maxWaitNotes {
			rest := 0
			for _, m := range notes[i:] {
				rest += m.devices
			}
			parts = append(parts, fmt.Sprintf("%d for other reasons", rest))
			break
		}
		parts = append(parts, fmt.Sprintf("%d %s", n.devices, n.message))
	}
	return strings.Join(parts, "; ")
}

// allWaitForWindow: every pending device this pass looked at waits for a maintenance window.
func (s *rotationScope) allWaitForWindow(pending int32) bool {
	n := 0
	for _, w := range s.waits {
		if w.kind != waitWindow {
			return false
		}
		n += w.devices
	}
	return n > 0 && int32(n) == pending
}

// sortResults orders results by device name, so a device's entry is found by binary search.
func sortResults(results []lapsv1.DeviceRotationResult) {
	slices.SortFunc(results, func(a, b lapsv1.DeviceRotationResult) int { return strings.Compare(a.Device, b.Device) })
}
