package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

// watchPolicies wakes waiting RotationRequests when a LapsPolicy's spec changes: a removed or
// widened maintenance window, or a raised concurrency or rate, lets them proceed now rather than
// at the time they computed from the old spec (RequeueAfter knows nothing of the change).
func (r *RotationRequestReconciler) watchPolicies(b *builder.Builder) {
	b.Watches(&lapsv1.LapsPolicy{}, handler.EnqueueRequestsFromMapFunc(r.requestsOfPolicy),
		builder.WithPredicates(predicate.GenerationChangedPredicate{}))
}

// requestsOfPolicy maps a LapsPolicy to the unfinished RotationRequests of its namespace that
// still have devices to schedule. Requests are few next to devices, so they are listed rather
// than traced through each device's effective policy; one that does not depend on the policy
// reconciles to no change.
func (r *RotationRequestReconciler) requestsOfPolicy(ctx context.Context, o client.Object) []reconcile.Request {
	var list lapsv1.RotationRequestList
	if err := r.Client.List(ctx, &list, client.InNamespace(o.GetNamespace())); err != nil {
		log.FromContext(ctx).Error(err, "mapping LapsPolicy to RotationRequests")
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		if q := &list.Items[i]; waitsToSchedule(q) {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: q.Namespace, Name: q.Name}})
		}
	}
	return out
}

// waitsToSchedule: q is unfinished and has devices not yet requested (or is not expanded yet).
func waitsToSchedule(q *lapsv1.RotationRequest) bool {
	if finished(q) {
		return false
	}
	if q.Status.StartTime == nil {
		return true
	}
	for _, res := range q.Status.Results {
		if res.State == lapsv1.DeviceRotationPending {
			return true
		}
	}
	return false
}
