package controllers

import (
	"context"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

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

// resultFor finds device's result: by binary search (the controller stores results sorted by
// device), else by a scan (a request written otherwise).
func resultFor(q *lapsv1.RotationRequest, device string) *lapsv1.DeviceRotationResult {
	rs := q.Status.Results
	if i, ok := slices.BinarySearchFunc(rs, device, func(r lapsv1.DeviceRotationResult, d string) int { return strings.Compare(r.Device, d) }); ok {
		return &rs[i]
	}
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

// requestTargetsChanged enqueues the devices a RotationRequest event concerns: all its targets
// when it is created or deleted, or when something every target reads changed (its phase, start
// or completion, its targets); otherwise only the devices whose result changed. A request over
// 10,000 devices changes a few results per pass; waking all its targets for each would cost
// every one a reconcile.
var requestTargetsChanged = handler.Funcs{
	CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		addAll(q, devicesOfRequest(context.Background(), e.Object))
	},
	DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		addAll(q, devicesOfRequest(context.Background(), e.Object))
	},
	GenericFunc: func(_ context.Context, e event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		addAll(q, devicesOfRequest(context.Background(), e.Object))
	},
	UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		old, oldOK := e.ObjectOld.(*lapsv1.RotationRequest)
		cur, curOK := e.ObjectNew.(*lapsv1.RotationRequest)
		if !oldOK || !curOK {
			return
		}
		names, all := changedTargets(old, cur)
		if all {
			addAll(q, devicesOfRequest(context.Background(), old))
			addAll(q, devicesOfRequest(context.Background(), cur))
			return
		}
		for _, n := range names {
			q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: cur.Namespace, Name: n}})
		}
	},
}

func addAll(q workqueue.TypedRateLimitingInterface[reconcile.Request], reqs []reconcile.Request) {
	for _, r := range reqs {
		q.Add(r)
	}
}

// changedTargets lists the devices whose result differs between old and cur, or says that every
// target is concerned.
func changedTargets(old, cur *lapsv1.RotationRequest) ([]string, bool) {
	o, c := &old.Status, &cur.Status
	if o.Phase != c.Phase || !o.StartTime.Equal(c.StartTime) || !o.CompletionTime.Equal(c.CompletionTime) ||
		len(o.Results) != len(c.Results) || old.Spec.DeviceName != cur.Spec.DeviceName {
		return nil, true
	}
	var out []string
	for i := range c.Results {
		a, b := &o.Results[i], &c.Results[i]
		if a.Device != b.Device {
			return nil, true
		}
		if !sameResult(a, b) {
			out = append(out, b.Device)
		}
	}
	return out, false
}

func sameResult(a, b *lapsv1.DeviceRotationResult) bool {
	return a.State == b.State && a.Attempts == b.Attempts && a.Message == b.Message && a.PreviousPasswordVersion == b.PreviousPasswordVersion &&
		a.RequestedAt.Equal(b.RequestedAt) && a.WrittenAt.Equal(b.WrittenAt) && a.RotatedAt.Equal(b.RotatedAt) &&
		a.LastFailureTime.Equal(b.LastFailureTime) && a.LastAttemptTime.Equal(b.LastAttemptTime)
}
