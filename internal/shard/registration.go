package shard

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const (
	// LabelRegistration marks the shard registration Leases.
	LabelRegistration = "laps.fleetlaps.io/shard-registration"
	// AnnotationSelector holds the registered --shard-selector.
	AnnotationSelector = "laps.fleetlaps.io/shard-selector"
	// LeaseDuration is how long a registration counts without renewal (a stopped manager's
	// registration lapses after it).
	LeaseDuration = 30 * time.Second
	// RenewInterval is how often a running manager renews its registration.
	RenewInterval = 10 * time.Second
)

// Registration is one manager's shard registration in its namespace. Managers of the same
// selector share the Lease (leader election decides between them); another selector gets
// another Lease.
type Registration struct {
	Client    client.Client
	Namespace string
	Selector  string
	// Holder names this manager (the pod name).
	Holder string
	Now    func() time.Time
}

// LeaseName is the registration Lease of a selector.
func LeaseName(selector string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(strings.TrimSpace(selector)))
	return fmt.Sprintf("fleetlaps-shard-%08x", h.Sum32())
}

// Register writes this manager's registration, then refuses (an error naming the other shard)
// when a live registration of another selector overlaps it. Registering before checking means
// two managers starting together with overlapping selectors cannot both miss each other.
func (r *Registration) Register(ctx context.Context) error {
	if err := r.renew(ctx); err != nil {
		return err
	}
	var leases coordinationv1.LeaseList
	if err := r.Client.List(ctx, &leases, client.InNamespace(r.Namespace), client.MatchingLabels{LabelRegistration: "true"}); err != nil {
		return fmt.Errorf("listing shard registrations: %w", err)
	}
	own := LeaseName(r.Selector)
	var errs []error
	for _, l := range leases.Items {
		if l.Name == own || !r.live(&l) {
			continue
		}
		other := l.Annotations[AnnotationSelector]
		overlap, err := Overlap(r.Selector, other)
		if err != nil {
			return err
		}
		if overlap {
			errs = append(errs, fmt.Errorf("--shard-selector %q overlaps the running shard %q (Lease %s/%s, held by %s): an object both select would be handled twice",
				r.Selector, other, r.Namespace, l.Name, ptr.Deref(l.Spec.HolderIdentity, "")))
		}
	}
	if len(errs) > 0 {
		_ = r.Release(context.WithoutCancel(ctx))
		return errors.Join(errs...)
	}
	return nil
}

func (r *Registration) live(l *coordinationv1.Lease) bool {
	if l.Spec.RenewTime == nil {
		return false
	}
	d := time.Duration(ptr.Deref(l.Spec.LeaseDurationSeconds, int32(LeaseDuration/time.Second))) * time.Second
	return r.Now().Before(l.Spec.RenewTime.Add(d))
}

// renew creates or renews the Lease.
func (r *Registration) renew(ctx context.Context) error {
	now := metav1.NewMicroTime(r.Now())
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: LeaseName(r.Selector), Namespace: r.Namespace,
		Labels: map[string]string{LabelRegistration: "true"}, Annotations: map[string]string{AnnotationSelector: r.Selector}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(r.Holder), LeaseDurationSeconds: ptr.To(int32(LeaseDuration / time.Second)), RenewTime: &now}}
	err := r.Client.Create(ctx, lease)
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	var cur coordinationv1.Lease
	if err := r.Client.Get(ctx, client.ObjectKeyFromObject(lease), &cur); err != nil {
		return err
	}
	cur.Labels, cur.Annotations = lease.Labels, lease.Annotations
	cur.Spec.HolderIdentity, cur.Spec.LeaseDurationSeconds, cur.Spec.RenewTime = lease.Spec.HolderIdentity, lease.Spec.LeaseDurationSeconds, &now
	return r.Client.Update(ctx, &cur)
}

// Start renews the registration every RenewInterval until ctx ends, then releases it (a
// manager.Runnable that runs on every replica, leader or not).
func (r *Registration) Start(ctx context.Context) error {
	t := time.NewTicker(RenewInterval)
	defer t.Stop()
	renewed := r.Now()
	for {
		select {
		case <-ctx.Done():
			return r.Release(context.WithoutCancel(ctx))
		case <-t.C:
			err := r.renew(ctx)
			switch {
			case err == nil:
				renewed = r.Now()
			case ctx.Err() != nil:
			case r.Now().Sub(renewed) >= LeaseDuration-RenewInterval:
				// The registration is about to lapse: an overlapping shard could start, so
				// this one stops rather than run unregistered.
				return fmt.Errorf("renewing shard registration: %w", err)
			}
		}
	}
}

// NeedLeaderElection: every replica keeps the registration alive.
func (r *Registration) NeedLeaderElection() bool { return false }

// Release deletes the registration when this manager holds it.
func (r *Registration) Release(ctx context.Context) error {
	var cur coordinationv1.Lease
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: LeaseName(r.Selector)}, &cur)
	if err != nil {
		return client.IgnoreNotFound(err)
	}
	if ptr.Deref(cur.Spec.HolderIdentity, "") != r.Holder {
		return nil // another replica of the shard renewed it since
	}
	return client.IgnoreNotFound(r.Client.Delete(ctx, &cur, client.Preconditions{ResourceVersion: &cur.ResourceVersion}))
}
