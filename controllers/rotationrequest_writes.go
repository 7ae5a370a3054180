package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/dirsync"
	"github.com/fleetlaps/fleetlaps/internal/metrics"
	"github.com/fleetlaps/fleetlaps/internal/schedule"
)

// expiryTolerance absorbs the sub-second part of a requestedAt that status stores to the second.
const expiryTolerance = time.Second

// reconcileClaims decides, for every device whose intent is recorded and whose write is not
// acknowledged, what schedule.NextWrite says: claim the write (attempts+1, lastAttemptTime=now),
// wait, or count it as done from fresh directory data (rotated since the intent, or the expiry
// already written). The claims become durable with the next (resourceVersion-locked) patch,
// before reconcileWrite writes anything.
func (r *RotationRequestReconciler) reconcileClaims(ctx context.Context, s *rotationScope) error {
	for i := range s.req.Status.Results {
		res := &s.req.Status.Results[i]
		if res.State != lapsv1.DeviceRotationRequested || res.WrittenAt != nil || res.RequestedAt == nil {
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
		dir := d.Spec.DirectoryRef.Name
		in := schedule.WriteInput{Now: s.now, Deadline: s.deadline, Attempts: res.Attempts,
			LastAttempt: timeOf(res.LastAttemptTime), LastFailure: timeOf(res.LastFailureTime)}
		var rotatedAt time.Time
		rec, err := r.resolveTarget(d)
		switch {
		case errors.Is(err, dirsync.ErrNoSnapshot):
		case err != nil:
			failTarget(res, err)
			continue
		default:
			st, _ := r.Store.State(dir)
			in.SnapshotLoaded, in.SnapshotTaken = true, st.LastSuccess
			rotatedAt, in.RotatedSinceIntent = evidenceOf(rec, res)
			in.ExpiryWritten = r.expiryWritten(dir, rec, res.RequestedAt.Time)
		}
		switch w := schedule.NextWrite(in); w.Action {
		case schedule.WriteNow:
			if res.Attempts > 0 {
				// A repeated write counts against the policy's rate like a first one.
				retry, err := r.rateSlot(ctx, s, d)
				if err != nil {
					return err
				}
				if !retry.IsZero() {
					s.next = append(s.next, retry)
					continue
				}
			}
			res.Attempts++
			res.LastAttemptTime = mtime(s.now)
			res.Message = ""
			s.claimed = append(s.claimed, i)
		case schedule.WriteRotated:
			res.State, res.RotatedAt = lapsv1.DeviceRotationRotated, mtime(rotatedAt)
			metrics.Rotations.WithLabelValues("rotated").Inc()
			log.FromContext(ctx).Info("unacknowledged write resolved: the device rotated since the intent", "device", res.Device)
		case schedule.WriteDone:
			res.WrittenAt, res.LastFailureTime = res.LastAttemptTime, nil
			log.FromContext(ctx).Info("unacknowledged write resolved: the directory already holds it", "device", res.Device)
		case schedule.WriteWait:
			s.next = append(s.next, w.RetryAt)
			switch w.Reason {
			case schedule.WaitFirstRead:
				res.Message = "waiting for the first snapshot of directory " + dir
			case schedule.WaitClaim, schedule.WaitNewerRead:
				res.Message = fmt.Sprintf("the write claimed at %s has no recorded outcome; waiting for a directory read after %s to decide",
					rfc3339(res.LastAttemptTime.Time), rfc3339(res.LastAttemptTime.Add(schedule.ClaimTTL)))
			}
		case schedule.WriteTooLate:
			// reconcileDeadline fails the device.
		}
	}
	return nil
}

// expiryWritten says whether rec already holds the expiry a rotation write sets: on Active
// Directory the write is the expiration time itself (at or before requestedAt), so the
// snapshot shows it. An Entra rotation is an action whose effect only a new password shows.
func (r *RotationRequestReconciler) expiryWritten(dir string, rec directory.DeviceRecord, requested time.Time) bool {
	e, err := r.Directories.Lookup(dir)
	if err != nil || e.Directory.Type() != directory.TypeActiveDirectory {
		return false
	}
	exp, never := rec.Expiry() // the legacy attribute for a legacy device, "never" included
	return !exp.IsZero() && !never && !exp.After(requested.Add(expiryTolerance))
}

func timeOf(t *metav1.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time
}

// reconcileWrite performs the writes this pass claimed, each bounded by schedule.WriteTimeout
// (less than the claim's lifetime). A failed write is retried after schedule.Backoff(attempts,
// lastFailureTime) (1, 2, 4 ... 60 minutes).
func (r *RotationRequestReconciler) reconcileWrite(ctx context.Context, s *rotationScope) {
	var errs []error
	for _, i := range s.claimed {
		res := &s.req.Status.Results[i]
		d, err := r.device(ctx, s, res.Device)
		if err != nil || d == nil {
			errs = append(errs, fmt.Errorf("device %s: %v", res.Device, err))
			continue
		}
		e, err := r.Directories.Lookup(d.Spec.DirectoryRef.Name)
		if err != nil {
			res.State, res.Message = lapsv1.DeviceRotationFailed, err.Error()
			metrics.Rotations.WithLabelValues("failed").Inc()
			continue
		}
		// The write goes to the object the connection's own snapshot holds for the device,
		// never to a DN taken from the spec.
		rec, err := r.resolveTarget(d)
		if err != nil {
			failTarget(res, err)
			continue
		}
		ref := dirsync.TargetOf(rec)
		if id := d.Spec.Identity.EntraID; id != nil && ref.ManagedDeviceID == "" {
			// Until the backend has looked the device up, the record has no Intune id to compare
			// the spec's with: the backend compares it with its own lookup and refuses a
			// disagreement without a call (the action never goes to the spec's id).
			ref.ManagedDeviceID = id.ManagedDeviceID
		}
		wctx, cancel := context.WithTimeout(ctx, schedule.WriteTimeout)
		err = e.Directory.RequestRotation(wctx, ref, res.RequestedAt.Time)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				// The manager is stopping: the claim stays and the next pass decides it.
				errs = append(errs, ctx.Err())
				continue
			}
			metrics.Rotations.WithLabelValues("write_error").Inc()
			if errors.Is(err, directory.ErrNotFound) || errors.Is(err, directory.ErrPermissionDenied) || errors.Is(err, directory.ErrOutOfScope) {
				res.State = lapsv1.DeviceRotationFailed
				res.Message = fmt.Sprintf("directory write failed: %s", directoryErrorKind(err))
				metrics.Rotations.WithLabelValues("failed").Inc()
				continue
			}
			res.LastFailureTime = mtime(s.now)
			next := retryAt(res.Attempts, s.now)
			res.Message = fmt.Sprintf("directory write failed (attempt %d, %s); next attempt at %s", res.Attempts, directoryErrorKind(err), rfc3339(next))
			s.next = append(s.next, next)
			log.FromContext(ctx).Error(err, "directory write failed", "device", res.Device, "attempt", res.Attempts)
			continue
		}
		// Written: the state and writtenAt say it (compactResult drops the claim time).
		res.LastFailureTime, res.Message = nil, ""
		res.WrittenAt = mtime(s.now)
		metrics.Rotations.WithLabelValues("requested").Inc()
		if r.Recorder != nil {
			r.Recorder.Eventf(d, s.req, "Normal", "RotationRequested", "RequestRotation",
				"rotation requested by %s via RotationRequest %s: %s", s.requester(), s.req.Name, s.req.Spec.Reason)
		}
	}
	s.writeErr = errors.Join(errs...)
}

// recordOutcomes re-applies the outcome of this pass's writes to a fresh read of the request
// after the status patch recording them was refused, for each device whose claim there is
// still this pass's (same attempt, same time). A few tries; what stays unrecorded is decided
// later from the directory.
func (r *RotationRequestReconciler) recordOutcomes(ctx context.Context, s *rotationScope) {
	if len(s.claimed) == 0 {
		return
	}
	reader := r.APIReader
	if reader == nil {
		reader = r.Client
	}
	outcomes := make(map[string]lapsv1.DeviceRotationResult, len(s.claimed))
	for _, i := range s.claimed {
		if res := s.req.Status.Results[i]; res.State != lapsv1.DeviceRotationRequested || res.WrittenAt != nil || res.LastFailureTime != nil {
			outcomes[res.Device] = res
		}
	}
	// This pass claimed at its own time (out's claim time is gone once its write is recorded).
	claimedAt := mtime(s.now)
	for range 3 {
		var live lapsv1.RotationRequest
		if err := reader.Get(ctx, client.ObjectKeyFromObject(s.req), &live); err != nil {
			return
		}
		before := live.DeepCopy()
		for i := range live.Status.Results {
			res := &live.Status.Results[i]
			out, ok := outcomes[res.Device]
			if ok && res.State == lapsv1.DeviceRotationRequested && res.WrittenAt == nil &&
				res.Attempts == out.Attempts && res.LastAttemptTime != nil && res.LastAttemptTime.Equal(claimedAt) {
				*res = out
			}
		}
		wrote, err := patchStatusLocked(ctx, r.Client, before, &live, statusOfRequest)
		if err == nil {
			if wrote {
				log.FromContext(ctx).V(1).Info("write outcomes recorded on a fresh read")
			}
			return
		}
		if !apierrors.IsConflict(err) {
			return
		}
	}
}
