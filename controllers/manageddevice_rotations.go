package controllers

import (
	"slices"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

// IndexRotationTargetDevice indexes RotationRequests by every device they target, finished or
// not, so a device can read its rotation history (failures, newest request) from the cache.
const IndexRotationTargetDevice = "laps.fleetlaps.io/target-device"

// IndexByTargetDevice extracts IndexRotationTargetDevice.
func IndexByTargetDevice(o client.Object) []string {
	r := o.(*lapsv1.RotationRequest)
	out := []string{}
	if r.Spec.DeviceName != "" {
		out = append(out, r.Spec.DeviceName)
	}
	for _, res := range r.Status.Results {
		if !slices.Contains(out, res.Device) {
			out = append(out, res.Device)
		}
	}
	return out
}

// rotationHistory is what a device's RotationRequests say about it.
type rotationHistory struct {
	// active names the requests still acting on the device (Pending or Requested).
	active []string
	// activeDeadline is the latest deadline of the active requests.
	activeDeadline time.Time
	// newest is the most recently created request that targets the device.
	newest string
	// failedAttempts counts failures since the last successful rotation: failed directory writes
	// and requests that ended Failed for this device, after passwordUpdate.
	failedAttempts int32
	lastFailure    time.Time
}

// summarizeRotations derives a device's rotation history from the requests that target it.
// passwordUpdate is when the directory last showed a new password: failures before it were
// healed by that rotation and no longer count (cert-manager's failedIssuanceAttempts rule).
func summarizeRotations(device string, passwordUpdate time.Time, reqs []lapsv1.RotationRequest) rotationHistory {
	var h rotationHistory
	var newestAt time.Time
	for i := range reqs {
		q := &reqs[i]
		if created := q.CreationTimestamp.Time; h.newest == "" || created.After(newestAt) || (created.Equal(newestAt) && q.Name > h.newest) {
			h.newest, newestAt = q.Name, created
		}
		finished := q.Status.Phase == lapsv1.RotationSucceeded || q.Status.Phase == lapsv1.RotationFailed
		res := resultFor(q, device)
		if res == nil {
			if !finished && q.Spec.DeviceName == device {
				h.active = append(h.active, q.Name) // not expanded yet
				if d := requestDeadline(q); d.After(h.activeDeadline) {
					h.activeDeadline = d
				}
			}
			continue
		}
		if !finished && (res.State == lapsv1.DeviceRotationPending || res.State == lapsv1.DeviceRotationRequested) {
			h.active = append(h.active, q.Name)
			if d := requestDeadline(q); d.After(h.activeDeadline) {
				h.activeDeadline = d
			}
		}
		var failedAt time.Time
		if res.LastFailureTime != nil {
			failedAt = res.LastFailureTime.Time
		}
		if res.State == lapsv1.DeviceRotationFailed {
			at := failedAt
			if q.Status.CompletionTime != nil && q.Status.CompletionTime.After(at) {
				at = q.Status.CompletionTime.Time
			}
			failedAt = at
		}
		if failedAt.IsZero() || !failedAt.After(passwordUpdate) || res.State == lapsv1.DeviceRotationRotated {
			continue
		}
		switch {
		case res.State == lapsv1.DeviceRotationFailed:
			h.failedAttempts++
		case res.WrittenAt != nil:
			// The write went through on its last attempt; the ones before it failed.
			h.failedAttempts += max(res.Attempts-1, 0)
		default:
			// Every write so far failed; the next waits for its backoff.
			h.failedAttempts += max(res.Attempts, 1)
		}
		if failedAt.After(h.lastFailure) {
			h.lastFailure = failedAt
		}
	}
	slices.Sort(h.active)
	return h
}

func resultFor(q *lapsv1.RotationRequest, device string) *lapsv1.DeviceRotationResult {
	for i := range q.Status.Results {
		if q.Status.Results[i].Device == device {
			return &q.Status.Results[i]
		}
	}
	return nil
}

// requestDeadline is when q gives up: spec.deadline, or DefaultRotationDeadline after its start
// (after its creation while it has not started).
func requestDeadline(q *lapsv1.RotationRequest) time.Time {
	if q.Spec.Deadline != nil {
		return q.Spec.Deadline.Time
	}
	start := q.CreationTimestamp.Time
	if q.Status.StartTime != nil {
		start = q.Status.StartTime.Time
	}
	return start.Add(DefaultRotationDeadline)
}
