package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/directoryconfig"
	"github.com/fleetlaps/fleetlaps/internal/dirsync"
	"github.com/fleetlaps/fleetlaps/internal/metrics"
	"github.com/fleetlaps/fleetlaps/internal/schedule"
)

const msgWaitingForWindow = schedule.MsgWaitingForWindow

// DefaultRotationDeadline applies when spec.deadline is unset: a device cycles hourly, so a
// day plus margin covers devices that are off overnight.
const DefaultRotationDeadline = 26 * time.Hour

// RotationRequestReconciler acts on RotationRequests: expand targets once, honour each policy's
// concurrency, rate and maintenance windows, record intent, write the directory, and declare a
// device Rotated only on evidence in the directory snapshot.
type RotationRequestReconciler struct {
	Client      client.Client
	Clock       Clock
	Directories *directoryconfig.Set
	Store       *dirsync.Store
	Recorder    events.EventRecorder
	// RequeueScale converts the RequeueAfter computed on Clock into the real wait (nil: identity).
	RequeueScale func(time.Duration) time.Duration
	// APIReader reads past the cache (mgr.GetAPIReader()) to record write outcomes after a
	// conflict; nil uses Client.
	APIReader client.Reader
}

// +kubebuilder:rbac:groups=laps.fleetlaps.io,resources=rotationrequests,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups=laps.fleetlaps.io,resources=rotationrequests/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=laps.fleetlaps.io,resources=manageddevices,verbs=get;list;watch
// +kubebuilder:rbac:groups=laps.fleetlaps.io,resources=lapspolicies,verbs=get;list;watch

// rotationScope holds the request and what the steps observed.
type rotationScope struct {
	req      *lapsv1.RotationRequest
	now      time.Time
	deadline time.Time
	next     []time.Time
	// devices caches target lookups by name (nil value: not found).
	devices map[string]*lapsv1.ManagedDevice
	// policies caches each device's policy rotation settings by device name, policyByName each
	// policy read.
	policies     map[string]devicePolicy
	policyByName map[string]devicePolicy
	// policyWaits holds the first wait decision of each policy in this pass.
	policyWaits map[string]schedule.SlotDecision
	// loads holds each policy's in-flight count and recent write times, gathered once per pass.
	loads map[string]*policyLoad
	// claimed lists the results (by index) whose write this pass claimed.
	claimed []int
	// writeErr collects directory write failures (retried with the controller's backoff).
	writeErr error
	// waits counts the pending devices by why they wait (said once, in the conditions).
	waits map[string]*waitNote
}

// Reconcile stops at the first error (expand → evidence → schedule → intent → write → deadline),
// then derives status and patches it once if it changed. The only other write is the intent
// patch before the directory write.
func (r *RotationRequestReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var rr lapsv1.RotationRequest
	if err := r.Client.Get(ctx, req.NamespacedName, &rr); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if rr.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	now := r.Clock.Now()
	s := &rotationScope{req: &rr, now: now, devices: map[string]*lapsv1.ManagedDevice{},
		policies: map[string]devicePolicy{}, loads: map[string]*policyLoad{}}
	// The default deadline runs from status.startTime on the controller's clock (the first
	// visit: now), not from the apiserver's creationTimestamp, so both ends of the interval
	// are read from one clock (the demo's simulated clock runs ahead of the apiserver's).
	start := now
	if rr.Status.StartTime != nil {
		start = rr.Status.StartTime.Time
	}
	s.deadline = start.Add(DefaultRotationDeadline)
	if rr.Spec.Deadline != nil {
		s.deadline = rr.Spec.Deadline.Time
	}
	if finished(&rr) {
		return r.reconcileTTL(ctx, s)
	}
	before := rr.DeepCopy()

	err := r.reconcileTargets(ctx, s)
	if err == nil {
		err = r.reconcileAccess(ctx, s)
	}
	if err == nil {
		// Evidence first: devices that rotated free their concurrency slot for this pass.
		r.reconcileEvidence(ctx, s)
		err = r.reconcileSchedule(ctx, s)
	}
	if err == nil {
		err = r.reconcileClaims(ctx, s)
	}
	if err == nil {
		// Intent and claims are durable before any directory write, and the patch carries the
		// resourceVersion read: a manager working from an older copy (a stale cache, a second
		// manager) gets a Conflict and writes nothing. A crash after this point leaves a claim
		// that schedule.NextWrite resolves from fresh directory data; a crash before it writes
		// nothing.
		compactResults(rr.Status.Results)
		wrote, perr := patchStatusLocked(ctx, r.Client, before, &rr, statusOfRequest)
		if apierrors.IsConflict(perr) {
			log.FromContext(ctx).V(1).Info("claim refused: the request changed since it was read; nothing written")
			return reconcile.Result{RequeueAfter: time.Second}, nil
		}
		if perr != nil {
			return reconcile.Result{}, perr
		}
		if wrote {
			before = rr.DeepCopy()
		}
		r.reconcileWrite(ctx, s)
		r.reconcileDeadline(s)
	}
	updateRequestStatus(s, err)
	if _, perr := patchStatusLocked(ctx, r.Client, before, &rr, statusOfRequest); perr != nil {
		if apierrors.IsConflict(perr) {
			// Record this pass's write outcomes on a fresh read; if that fails too, their claims
			// stay and the next pass decides them from the directory (schedule.NextWrite).
			log.FromContext(ctx).V(1).Info("status refused: the request changed since it was read")
			r.recordOutcomes(ctx, s)
			return reconcile.Result{RequeueAfter: time.Second}, nil
		}
		return reconcile.Result{}, perr
	}
	if finished(&rr) {
		r.announceCompletion(s)
		return r.reconcileTTL(ctx, s)
	}
	if err != nil {
		if _, _, ok := asStalled(err); ok {
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	if s.writeErr != nil {
		return reconcile.Result{}, s.writeErr
	}
	return lowestRequeue(now, append(s.next, s.deadline)...), nil
}

func finished(rr *lapsv1.RotationRequest) bool {
	return rr.Status.Phase == lapsv1.RotationSucceeded || rr.Status.Phase == lapsv1.RotationFailed
}

func (s *rotationScope) requester() string {
	if s.req.Spec.RequestedBy != "" {
		return s.req.Spec.RequestedBy
	}
	return "an unknown user"
}

// reconcileTargets expands deviceName or deviceSelector once, at the first visit, and records
// the targets in status.results.
func (r *RotationRequestReconciler) reconcileTargets(ctx context.Context, s *rotationScope) error {
	st := &s.req.Status
	if st.StartTime != nil {
		return nil
	}
	var names []string
	switch {
	case s.req.Spec.DeviceName != "":
		names = []string{s.req.Spec.DeviceName}
	case s.req.Spec.DeviceSelector != nil:
		sel, err := metav1.LabelSelectorAsSelector(s.req.Spec.DeviceSelector)
		if err != nil {
			return stalled("InvalidSelector", fmt.Errorf("spec.deviceSelector: %w", err))
		}
		var list lapsv1.ManagedDeviceList
		if err := r.Client.List(ctx, &list, client.InNamespace(s.req.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
			return fmt.Errorf("listing ManagedDevices: %w", err)
		}
		for _, d := range list.Items {
			names = append(names, d.Name)
		}
	}
	if len(names) == 0 {
		return stalled("NoTargets", errors.New("spec.deviceSelector matches no ManagedDevice in this namespace"))
	}
	if len(names) > lapsv1.MaxRotationTargets {
		return stalled(ReasonTooManyTargets, fmt.Errorf("spec.deviceSelector matches %d ManagedDevices; one RotationRequest targets at most %d: "+
			"split it into requests with narrower selectors (for example an additional label); nothing was written", len(names), lapsv1.MaxRotationTargets))
	}
	st.StartTime = mtime(s.now)
	st.Phase = lapsv1.RotationInProgress
	st.Results = make([]lapsv1.DeviceRotationResult, 0, len(names))
	for _, n := range names {
		st.Results = append(st.Results, lapsv1.DeviceRotationResult{Device: n, State: lapsv1.DeviceRotationPending})
	}
	sortResults(st.Results)
	if r.Recorder != nil {
		r.Recorder.Eventf(s.req, nil, "Normal", "Accepted", "ExpandTargets", "rotation of %d device(s) requested by %s: %s", len(names), s.requester(), s.req.Spec.Reason)
	}
	return nil
}

// reconcileAccess applies each target's connection gate before anything is scheduled: a
// request in a namespace a target's connection does not admit is Stalled (DirectoryNotAllowed)
// as a whole, and no directory call is made for it.
func (r *RotationRequestReconciler) reconcileAccess(ctx context.Context, s *rotationScope) error {
	checked := map[string]bool{}
	for _, res := range s.req.Status.Results {
		if res.State != lapsv1.DeviceRotationPending && res.State != lapsv1.DeviceRotationRequested {
			continue
		}
		d, err := r.device(ctx, s, res.Device)
		if err != nil {
			return err
		}
		if d == nil || checked[d.Spec.DirectoryRef.Name] {
			continue
		}
		checked[d.Spec.DirectoryRef.Name] = true
		_, err = directoryFor(ctx, r.Client, r.Directories, d.Spec.DirectoryRef.Name, s.req.Namespace)
		if reason, _, ok := asStalled(err); ok && reason != ReasonDirectoryNotAllowed {
			continue // an unusable connection fails only its own devices (reconcileWrite)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// resolveTarget finds the device's write target in its connection's snapshot (dirsync.Resolve:
// ErrNoSnapshot means wait; ErrNotInDirectory and ErrIdentityMismatch fail the device).
func (r *RotationRequestReconciler) resolveTarget(d *lapsv1.ManagedDevice) (directory.DeviceRecord, error) {
	return r.Store.Resolve(d.Spec.DirectoryRef.Name, d.Spec.Identity)
}

func (r *RotationRequestReconciler) device(ctx context.Context, s *rotationScope, name string) (*lapsv1.ManagedDevice, error) {
	if d, ok := s.devices[name]; ok {
		return d, nil
	}
	var d lapsv1.ManagedDevice
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: s.req.Namespace, Name: name}, &d)
	if apierrors.IsNotFound(err) {
		s.devices[name] = nil
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s.devices[name] = &d
	return &d, nil
}

// snapshotWait is how long a request waits before looking again for a connection's first
// snapshot (the device watch usually wakes it sooner).
const snapshotWait = 10 * time.Second

// failTarget ends a device whose identity does not resolve in its connection's snapshot.
func failTarget(res *lapsv1.DeviceRotationResult, err error) {
	res.State = lapsv1.DeviceRotationFailed
	res.Message = err.Error() + "; nothing was written" // the message starts with the reason
	metrics.Rotations.WithLabelValues("failed").Inc()
}

// reconcileEvidence marks Requested devices Rotated when the snapshot shows a new password
// version, or a directory-stated update time after requestedAt.
func (r *RotationRequestReconciler) reconcileEvidence(ctx context.Context, s *rotationScope) {
	for i := range s.req.Status.Results {
		res := &s.req.Status.Results[i]
		if res.State != lapsv1.DeviceRotationRequested || res.WrittenAt == nil {
			continue
		}
		d, err := r.device(ctx, s, res.Device)
		if err != nil || d == nil {
			continue
		}
		rec, ok := r.Store.Lookup(d.Spec.DirectoryRef.Name, d.Spec.Identity)
		if !ok {
			continue
		}
		at, rotated := evidenceOf(rec, res)
		if !rotated {
			continue
		}
		res.State, res.RotatedAt = lapsv1.DeviceRotationRotated, mtime(at)
		metrics.Rotations.WithLabelValues("rotated").Inc()
		if r.Recorder != nil {
			r.Recorder.Eventf(d, s.req, "Normal", "Rotated", "ObserveRotation",
				"password rotated (requested by %s via RotationRequest %s)", s.requester(), s.req.Name)
		}
	}
}

// reconcileDeadline fails every device without evidence once the deadline passed.
func (r *RotationRequestReconciler) reconcileDeadline(s *rotationScope) {
	if s.now.Before(s.deadline) {
		return
	}
	for i := range s.req.Status.Results {
		res := &s.req.Status.Results[i]
		if res.State == lapsv1.DeviceRotationPending || res.State == lapsv1.DeviceRotationRequested {
			// No message: the deadline is the request's, and its conditions name it once.
			res.State, res.Message = lapsv1.DeviceRotationFailed, ""
			metrics.Rotations.WithLabelValues("failed").Inc()
		}
	}
}

func (r *RotationRequestReconciler) announceCompletion(s *rotationScope) {
	if r.Recorder == nil {
		return
	}
	st := s.req.Status
	typ := "Normal"
	if st.Phase == lapsv1.RotationFailed {
		typ = "Warning"
	}
	r.Recorder.Eventf(s.req, nil, typ, string(st.Phase), "Complete", "%d of %d device(s) rotated, %d failed (requested by %s: %s)",
		st.Rotated, st.Targets, st.Failed, s.requester(), s.req.Spec.Reason)
}

// reconcileTTL deletes a finished request ttlSecondsAfterFinished after completion.
func (r *RotationRequestReconciler) reconcileTTL(ctx context.Context, s *rotationScope) (reconcile.Result, error) {
	ttl := s.req.Spec.TTLSecondsAfterFinished
	if ttl == nil || s.req.Status.CompletionTime == nil {
		return reconcile.Result{}, nil
	}
	at := s.req.Status.CompletionTime.Add(time.Duration(*ttl) * time.Second)
	if s.now.Before(at) {
		return lowestRequeue(s.now, at), nil
	}
	log.FromContext(ctx).Info("deleting finished RotationRequest after its TTL", "completionTime", rfc3339(s.req.Status.CompletionTime.Time))
	return reconcile.Result{}, client.IgnoreNotFound(r.Client.Delete(ctx, s.req, client.Preconditions{UID: &s.req.UID}))
}

// SetupWithManager watches RotationRequests (creation and spec; status writes do not wake it),
// ManagedDevices (a device's status change may carry evidence) mapped to the unfinished
// requests that target them, and LapsPolicy spec changes (watchPolicies).
func (r *RotationRequestReconciler) SetupWithManager(mgr ctrl.Manager, opts ...func(*builder.Builder)) error {
	b := ctrl.NewControllerManagedBy(mgr).
		Named("rotationrequest").
		For(&lapsv1.RotationRequest{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&lapsv1.ManagedDevice{}, handler.EnqueueRequestsFromMapFunc(r.requestsOfDevice))
	r.watchPolicies(b)
	for _, o := range opts {
		o(b)
	}
	return b.Complete(ScaleRequeue(r, r.RequeueScale))
}

func (r *RotationRequestReconciler) requestsOfDevice(ctx context.Context, o client.Object) []reconcile.Request {
	var list lapsv1.RotationRequestList
	if err := r.Client.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{IndexRotationActiveDevice: o.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "mapping ManagedDevice to RotationRequests")
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for _, q := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: q.Namespace, Name: q.Name}})
	}
	return out
}
