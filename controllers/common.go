// Package controllers holds the LapsPolicy, ManagedDevice and RotationRequest reconcilers.
// Each reads like a list of steps over a scope struct; after the steps (on every path, also when
// one failed) a status summary derives every owned condition from the scope and patches status
// once, only when it changed (STYLE.md).
package controllers

import (
	"context"
	"errors"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

// FieldOwner is the field manager of every write.
const FieldOwner = "fleetlaps-controller"

const (
	// IndexRotationActiveDevice indexes RotationRequests that are not finished by the names of
	// the devices they still act on.
	IndexRotationActiveDevice = "laps.fleetlaps.io/active-device"
)

// IndexByActiveDevice extracts IndexRotationActiveDevice.
func IndexByActiveDevice(o client.Object) []string {
	r := o.(*lapsv1.RotationRequest)
	if r.Status.Phase == lapsv1.RotationSucceeded || r.Status.Phase == lapsv1.RotationFailed {
		return nil
	}
	if len(r.Status.Results) == 0 {
		if r.Spec.DeviceName != "" {
			return []string{r.Spec.DeviceName}
		}
		return nil
	}
	var out []string
	for _, res := range r.Status.Results {
		if res.State == lapsv1.DeviceRotationPending || res.State == lapsv1.DeviceRotationRequested {
			out = append(out, res.Device)
		}
	}
	return out
}

// FieldIndexer is the part of manager.Manager's FieldIndexer the controllers need.
type FieldIndexer interface {
	IndexField(ctx context.Context, obj client.Object, field string, extract client.IndexerFunc) error
}

// SetupIndexes registers the RotationRequest field indexes. ManagedDevices have none: each
// index costs the cache two set entries per device, and the lists that would use one (a
// policy's devices, a directory's devices) run once per policy change or sync pass.
func SetupIndexes(ctx context.Context, idx FieldIndexer) error {
	if err := idx.IndexField(ctx, &lapsv1.RotationRequest{}, IndexRotationActiveDevice, IndexByActiveDevice); err != nil {
		return err
	}
	return idx.IndexField(ctx, &lapsv1.RotationRequest{}, IndexRotationTargetDevice, IndexByTargetDevice)
}

// stallError makes a step's failure Stalled: nothing but a spec or configuration change helps.
type stallError struct {
	reason string
	err    error
}

func (e *stallError) Error() string { return e.err.Error() }
func (e *stallError) Unwrap() error { return e.err }

func stalled(reason string, err error) error { return &stallError{reason: reason, err: err} }

// asStalled returns the stall reason and message of err, if it is one.
func asStalled(err error) (string, string, bool) {
	var s *stallError
	if errors.As(err, &s) {
		return s.reason, s.err.Error(), true
	}
	return "", "", false
}

// patchStatusIfChanged patches the status subresource from before to obj, only when the status
// differs semantically. It reports whether it wrote.
func patchStatusIfChanged(ctx context.Context, c client.Client, before, obj client.Object, statusOf func(client.Object) any) (bool, error) {
	if equality.Semantic.DeepEqual(statusOf(before), statusOf(obj)) {
		return false, nil
	}
	return true, c.Status().Patch(ctx, obj, client.MergeFrom(before), client.FieldOwner(FieldOwner))
}

// patchStatusLocked is patchStatusIfChanged with optimistic locking: the patch carries the
// resourceVersion read, so a reconcile working from a stale cache gets a Conflict instead of
// overwriting newer status (RotationRequest results record side effects).
func patchStatusLocked(ctx context.Context, c client.Client, before, obj client.Object, statusOf func(client.Object) any) (bool, error) {
	if equality.Semantic.DeepEqual(statusOf(before), statusOf(obj)) {
		return false, nil
	}
	patch := client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})
	return true, c.Status().Patch(ctx, obj, patch, client.FieldOwner(FieldOwner))
}

// lowestRequeue merges step results: the earliest future time wins (schedule.NextAttention:
// never in the past, at least a second, at most MaxRequeue).
func lowestRequeue(now time.Time, times ...time.Time) reconcile.Result {
	return reconcile.Result{RequeueAfter: nextAttention(now, times...)}
}

// Clock is the injected time source.
type Clock = clock.PassiveClock

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func statusOfDevice(o client.Object) any  { return o.(*lapsv1.ManagedDevice).Status }
func statusOfRequest(o client.Object) any { return o.(*lapsv1.RotationRequest).Status }
func statusOfPolicy(o client.Object) any  { return o.(*lapsv1.LapsPolicy).Status }
