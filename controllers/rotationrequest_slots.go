package controllers

import (
	"context"
	"errors"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/dirsync"
	"github.com/fleetlaps/fleetlaps/internal/metrics"
	"github.com/fleetlaps/fleetlaps/internal/schedule"
)

// devicePolicy is the rotation settings of a device's effective policy (name empty: none).
type devicePolicy struct {
	name string
	rot  *lapsv1.RotationSettings
}

// policyLoad is one policy's share of rotation work, recounted every pass from RotationRequest
// statuses (durable), never kept in memory across passes: a restarted manager sees the same.
type policyLoad struct {
	inFlight int
	writes   []time.Time
}

// policyOf returns the rotation settings of a device's effective policy.
func (r *RotationRequestReconciler) policyOf(ctx context.Context, s *rotationScope, d *lapsv1.ManagedDevice) (devicePolicy, error) {
	if p, ok := s.policies[d.Name]; ok {
		return p, nil
	}
	var out devicePolicy
	if ep := d.Status.EffectivePolicy; ep != nil {
		// Thousands of targets share a few policies: each is read once per pass.
		byName, ok := s.policyByName[ep.Name]
		if !ok {
			var p lapsv1.LapsPolicy
			err := r.Client.Get(ctx, types.NamespacedName{Namespace: d.Namespace, Name: ep.Name}, &p)
			switch {
			case err == nil:
				byName = devicePolicy{name: p.Name, rot: p.Spec.Rotation}
			case !apierrors.IsNotFound(err):
				return out, err
			}
			if s.policyByName == nil {
				s.policyByName = map[string]devicePolicy{}
			}
			s.policyByName[ep.Name] = byName
		}
		out = byName
	}
	s.policies[d.Name] = out
	return out, nil
}

// loadOf gathers the in-flight rotations and recent write times of policy over every
// RotationRequest of the namespace (finished ones too: their writes still count against the
// rate). This request counts with its in-memory progress.
func (r *RotationRequestReconciler) loadOf(ctx context.Context, s *rotationScope, policy string) (*policyLoad, error) {
	if l, ok := s.loads[policy]; ok {
		return l, nil
	}
	var reqs lapsv1.RotationRequestList
	// Read only: the cache's objects are not copied (a request holds up to 10,000 results).
	if err := r.Client.List(ctx, &reqs, client.InNamespace(s.req.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	l := &policyLoad{}
	since := s.now.Add(-schedule.RateWindow)
	for i := range reqs.Items {
		q := &reqs.Items[i]
		if q.Name == s.req.Name {
			q = s.req
		}
		for _, res := range q.Status.Results {
			w := writeTime(&res)
			inFlight := res.State == lapsv1.DeviceRotationRequested
			if !inFlight && !w.After(since) {
				continue
			}
			d, err := r.device(ctx, s, res.Device)
			if err != nil {
				return nil, err
			}
			if d == nil {
				continue
			}
			p, err := r.policyOf(ctx, s, d)
			if err != nil {
				return nil, err
			}
			if p.name != policy {
				continue
			}
			if inFlight {
				l.inFlight++
			}
			if !w.IsZero() {
				l.writes = append(l.writes, w)
			}
		}
	}
	s.loads[policy] = l
	return l, nil
}

// writeTime is the latest directory write of a result: its claim (kept until the outcome is
// recorded), the accepted write, a failed write, or (for intents recorded before claims were)
// the intent. A compacted result keeps only some of them; every one is at or before the latest
// write.
func writeTime(res *lapsv1.DeviceRotationResult) time.Time {
	var at time.Time
	for _, t := range []*metav1.Time{res.LastAttemptTime, res.WrittenAt, res.LastFailureTime, res.RequestedAt} {
		if t != nil && t.After(at) {
			at = t.Time
		}
	}
	return at
}

// reconcileSchedule moves Pending devices to Requested (recording intent: requestedAt and the
// directory's current version) once the device's failure backoff has passed and its identity
// resolves in the connection's snapshot, as schedule.Slot allows: the policy's maintenance
// windows, maxConcurrent and ratePerMinute.
func (r *RotationRequestReconciler) reconcileSchedule(ctx context.Context, s *rotationScope) error {
	if !s.now.Before(s.deadline) {
		return nil
	}
	for i := range s.req.Status.Results {
		res := &s.req.Status.Results[i]
		if res.State != lapsv1.DeviceRotationPending {
			continue
		}
		d, err := r.device(ctx, s, res.Device)
		if err != nil {
			return err
		}
		if d == nil {
			res.State, res.Message = lapsv1.DeviceRotationFailed, "ManagedDevice not found"
			metrics.Rotations.WithLabelValues("failed").Inc()
			continue
		}
		// A new request does not restart the device's failure backoff (a repeated rotate
		// annotation or request would otherwise write again at once after each failure).
		if failed, last := d.Status.FailedRotationAttempts, d.Status.LastFailureTime; failed > 0 && last != nil {
			if next := retryAt(failed, last.Time); s.now.Before(next) {
				s.waiting(waitOther, "backoff", "waiting: the device's last rotation attempts failed; each waits for its backoff")
				s.next = append(s.next, next)
				continue
			}
		}
		rec, err := r.resolveTarget(d)
		if errors.Is(err, dirsync.ErrNoSnapshot) {
			s.waiting(waitOther, "snapshot/"+d.Spec.DirectoryRef.Name, "waiting for the first snapshot of directory "+d.Spec.DirectoryRef.Name)
			s.next = append(s.next, s.now.Add(snapshotWait))
			continue
		}
		if err != nil {
			failTarget(res, err)
			continue
		}
		p, err := r.policyOf(ctx, s, d)
		if err != nil {
			return err
		}
		in := schedule.SlotInput{Now: s.now, SnapshotLoaded: true}
		var load *policyLoad
		if rot := p.rot; rot != nil {
			in.Windows = rot.MaintenanceWindows
			if rot.MaxConcurrent != nil {
				in.MaxConcurrent = *rot.MaxConcurrent
			}
			if rot.RatePerMinute != nil {
				in.RatePerMinute = *rot.RatePerMinute
			}
			if in.MaxConcurrent > 0 || in.RatePerMinute > 0 {
				if load, err = r.loadOf(ctx, s, p.name); err != nil {
					return err
				}
				in.InFlight, in.RecentWrites = load.inFlight, load.writes
			}
		}
		// Within a pass a policy's slots only fill: once one device of it waits, every later one
		// waits for the same reason (and Slot need not count the recent writes again).
		slot, known := s.policyWaits[p.name]
		if !known {
			slot = schedule.Slot(in)
			if !slot.Go() && p.rot != nil {
				if s.policyWaits == nil {
					s.policyWaits = map[string]schedule.SlotDecision{}
				}
				s.policyWaits[p.name] = slot
			}
		}
		if !slot.Go() {
			kind := waitOther
			if slot.Wait == schedule.SlotWindow {
				kind = waitWindow
			}
			msg := slot.Message(p.name, in.MaxConcurrent, in.RatePerMinute)
			s.waiting(kind, msg, msg)
			if !slot.RetryAt.IsZero() {
				s.next = append(s.next, slot.RetryAt)
			}
			continue
		}
		if load != nil {
			load.inFlight++
			load.writes = append(load.writes, s.now)
		}
		res.State = lapsv1.DeviceRotationRequested
		res.RequestedAt = mtime(s.now)
		res.Message = ""
		res.PreviousPasswordVersion = versionForEvidence(rec)
	}
	return nil
}

// rateSlot takes a slot of the device's policy's ratePerMinute for a repeated write (the device
// is in flight already, so maxConcurrent and the windows were decided with its first one). It
// returns when to ask again, or zero when the slot was taken.
func (r *RotationRequestReconciler) rateSlot(ctx context.Context, s *rotationScope, d *lapsv1.ManagedDevice) (time.Time, error) {
	p, err := r.policyOf(ctx, s, d)
	if err != nil || p.rot == nil || p.rot.RatePerMinute == nil || *p.rot.RatePerMinute <= 0 {
		return time.Time{}, err
	}
	load, err := r.loadOf(ctx, s, p.name)
	if err != nil {
		return time.Time{}, err
	}
	slot := schedule.Slot(schedule.SlotInput{Now: s.now, SnapshotLoaded: true, RatePerMinute: *p.rot.RatePerMinute, RecentWrites: load.writes})
	if !slot.Go() {
		return slot.RetryAt, nil
	}
	load.writes = append(load.writes, s.now)
	return time.Time{}, nil
}
