package controllers

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/conditions"
)

// RotationRequest condition reasons.
const (
	ReasonAllRotated         = "AllRotated"
	ReasonRotationInProgress = "RotationInProgress"
	ReasonRotationFailed     = "RotationFailed"
	// ReasonWaitingForWindow: nothing is requested yet and every pending device waits for a
	// maintenance window (Argo CD shows the request Suspended).
	ReasonWaitingForWindow = "WaitingForMaintenanceWindow"
	// ReasonTooManyTargets: the selector matches more than lapsv1.MaxRotationTargets devices.
	ReasonTooManyTargets = "TooManyTargets"
)

// updateRequestStatus derives counters, phase and conditions from the per-device results.
// InProgress: Reconciling=True, Ready=Unknown. Succeeded: Ready=True. Failed: Stalled=True
// (only a new request can help), Ready=False.
func updateRequestStatus(s *rotationScope, err error) {
	st := &s.req.Status
	gen := s.req.Generation
	compactResults(st.Results)
	st.Targets = int32(len(st.Results))
	st.Pending, st.Requested, st.Rotated, st.Failed = 0, 0, 0, 0
	for _, res := range st.Results {
		switch res.State {
		case lapsv1.DeviceRotationPending:
			st.Pending++
		case lapsv1.DeviceRotationRequested:
			st.Requested++
		case lapsv1.DeviceRotationRotated:
			st.Rotated++
		case lapsv1.DeviceRotationFailed:
			st.Failed++
		}
	}
	set := func(t string, status metav1.ConditionStatus, reason, msg string) {
		conditions.Set(&st.Conditions, metav1.Condition{Type: t, Status: status, Reason: reason, Message: msg, ObservedGeneration: gen}, s.now)
	}
	if reason, msg, ok := asStalled(err); ok {
		st.Phase = lapsv1.RotationFailed
		st.CompletionTime = mtime(s.now)
		conditions.MarkStalled(&st.Conditions, reason, msg, s.now)
		set(lapsv1.ConditionReady, metav1.ConditionFalse, reason, msg)
		conditions.Stamp(st.Conditions, gen)
		st.ObservedGeneration = gen
		return
	}
	if st.Phase == "" {
		st.Phase = lapsv1.RotationPending
	}
	progress := fmt.Sprintf("%d of %d device(s) rotated, %d requested, %d pending, %d failed", st.Rotated, st.Targets, st.Requested, st.Pending, st.Failed)
	if st.Pending > 0 && len(s.waits) > 0 {
		progress += "; pending: " + s.waitSummary()
	}
	if n := deadlineFailures(st.Results); n > 0 {
		progress += fmt.Sprintf("; %d without evidence of rotation by the deadline %s", n, rfc3339(s.deadline))
	}
	switch {
	case st.Targets > 0 && st.Rotated == st.Targets:
		st.Phase = lapsv1.RotationSucceeded
		if st.CompletionTime == nil {
			st.CompletionTime = mtime(s.now)
		}
		conditions.ClearReconciling(&st.Conditions)
		conditions.ClearStalled(&st.Conditions)
		set(lapsv1.ConditionReady, metav1.ConditionTrue, ReasonAllRotated, progress)
	case st.Targets > 0 && st.Pending == 0 && st.Requested == 0:
		st.Phase = lapsv1.RotationFailed
		if st.CompletionTime == nil {
			st.CompletionTime = mtime(s.now)
		}
		conditions.MarkStalled(&st.Conditions, ReasonRotationFailed, progress, s.now)
		set(lapsv1.ConditionReady, metav1.ConditionFalse, ReasonRotationFailed, progress)
	default:
		if st.Targets > 0 {
			st.Phase = lapsv1.RotationInProgress
		}
		reason := ReasonRotationInProgress
		if st.Requested == 0 && st.Pending > 0 && s.allWaitForWindow(st.Pending) {
			reason = ReasonWaitingForWindow
		}
		conditions.MarkReconciling(&st.Conditions, reason, progress, s.now)
		set(lapsv1.ConditionReady, metav1.ConditionUnknown, reason, progress)
	}
	conditions.Stamp(st.Conditions, gen)
	st.ObservedGeneration = conditions.ObservedGeneration(st.Conditions, gen, st.ObservedGeneration)
}

// deadlineFailures counts the devices that failed for the request's deadline: their results
// carry no message of their own (reconcileDeadline).
func deadlineFailures(results []lapsv1.DeviceRotationResult) int {
	n := 0
	for _, r := range results {
		if r.State == lapsv1.DeviceRotationFailed && r.Message == "" {
			n++
		}
	}
	return n
}
