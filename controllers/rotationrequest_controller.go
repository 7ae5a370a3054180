package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
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
)

const msgWaitingForWindow = "waiting for the maintenance window"

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
	// APIReader reads past the cache (mgr.GetAPIReader()); nil uses Client.
	APIReader client.Reader
	// RequeueScale converts the RequeueAfter computed on Clock into the real wait (nil: identity).
	RequeueScale func(time.Duration) time.Duration

	mu      sync.Mutex
	budgets map[string]*rateBudget
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
	stall   error
	// writeErr collects directory write failures (retried with the controller's backoff).
	writeErr error
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
	s := &rotationScope{req: &rr, now: now, devices: map[string]*lapsv1.ManagedDevice{}}
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
		// Intent is durable before any directory write: a crash after this point replays the
		// same write (same requestedAt), a crash before it writes nothing.
		wrote, perr := patchStatusLocked(ctx, r.Client, before, &rr, statusOfRequest)
		if perr != nil {
			return reconcile.Result{}, perr
		}
		if wrote {
			before = rr.DeepCopy()
		} else if hasUnwritten(&rr) {
			// Nothing was patched, so nothing proves rr is current: a reconcile woken right
			// after our own last patch may read a cache that has not seen it (WrittenAt still
			// unset) and would repeat the write; Intune's rotate action is not idempotent.
			if fresh, ferr := r.isCurrent(ctx, &rr); ferr != nil {
				return reconcile.Result{}, ferr
			} else if !fresh {
				return reconcile.Result{RequeueAfter: time.Second}, nil
			}
		}
		r.reconcileWrite(ctx, s)
		r.reconcileDeadline(s)
	}
	updateRequestStatus(s, err)
	if _, perr := patchStatusLocked(ctx, r.Client, before, &rr, statusOfRequest); perr != nil {
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

// hasUnwritten says whether a recorded intent still waits for its directory write.
func hasUnwritten(rr *lapsv1.RotationRequest) bool {
	for _, res := range rr.Status.Results {
		if res.State == lapsv1.DeviceRotationRequested && res.WrittenAt == nil && res.RequestedAt != nil {
			return true
		}
	}
	return false
}

// isCurrent compares rr with a live read (not the cache).
func (r *RotationRequestReconciler) isCurrent(ctx context.Context, rr *lapsv1.RotationRequest) (bool, error) {
	reader := r.APIReader
	if reader == nil {
		reader = r.Client
	}
	var live lapsv1.RotationRequest
	if err := reader.Get(ctx, client.ObjectKeyFromObject(rr), &live); err != nil {
		return false, err
	}
	return live.ResourceVersion == rr.ResourceVersion, nil
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
	st.StartTime = mtime(s.now)
	st.Phase = lapsv1.RotationInProgress
	st.Results = make([]lapsv1.DeviceRotationResult, 0, len(names))
	for _, n := range names {
		st.Results = append(st.Results, lapsv1.DeviceRotationResult{Device: n, State: lapsv1.DeviceRotationPending, Message: "waiting for a rotation slot"})
	}
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

// budget returns the in-memory rate budget of a policy (reset on restart; concurrency is
// recounted from RotationRequest statuses, so a restart never exceeds maxConcurrent).
func (r *RotationRequestReconciler) budget(key string, rot *lapsv1.RotationSettings) *rateBudget {
	var maxC, perMin int32
	if rot != nil && rot.MaxConcurrent != nil {
		maxC = *rot.MaxConcurrent
	}
	if rot != nil && rot.RatePerMinute != nil {
		perMin = *rot.RatePerMinute
	}
	key = fmt.Sprintf("%s/%d/%d", key, maxC, perMin)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.budgets == nil {
		r.budgets = map[string]*rateBudget{}
	}
	b, ok := r.budgets[key]
	if !ok {
		b = newRateBudget(maxC, perMin)
		r.budgets[key] = b
	}
	return b
}

// inFlight counts devices of policy with a rotation requested but not yet evidenced, over every
// unfinished RotationRequest of the namespace.
func (r *RotationRequestReconciler) inFlight(ctx context.Context, s *rotationScope, policy string) (int, error) {
	var reqs lapsv1.RotationRequestList
	if err := r.Client.List(ctx, &reqs, client.InNamespace(s.req.Namespace)); err != nil {
		return 0, err
	}
	n := 0
	for i := range reqs.Items {
		q := &reqs.Items[i]
		if q.Name == s.req.Name {
			q = s.req // our own in-memory progress counts
		}
		for _, res := range q.Status.Results {
			if res.State != lapsv1.DeviceRotationRequested {
				continue
			}
			d, err := r.device(ctx, s, res.Device)
			if err != nil {
				return 0, err
			}
			if d != nil && d.Status.EffectivePolicy != nil && d.Status.EffectivePolicy.Name == policy {
				n++
			}
		}
	}
	return n, nil
}

// reconcileSchedule moves Pending devices to Requested (recording intent: requestedAt and the
// directory's current version) as each policy's windows, concurrency and rate allow.
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
		var rot *lapsv1.RotationSettings
		policyName := ""
		if ep := d.Status.EffectivePolicy; ep != nil {
			var p lapsv1.LapsPolicy
			if err := r.Client.Get(ctx, types.NamespacedName{Namespace: d.Namespace, Name: ep.Name}, &p); err == nil {
				rot, policyName = p.Spec.Rotation, p.Name
			} else if !apierrors.IsNotFound(err) {
				return err
			}
		}
		if rot != nil {
			open, _, nextOpen, werr := windowAt(rot.MaintenanceWindows, s.now)
			if werr != nil {
				res.Message = "maintenance window: " + werr.Error()
				continue
			}
			if !open {
				res.Message = fmt.Sprintf("%s of LapsPolicy %s opening at %s", msgWaitingForWindow, policyName, rfc3339(nextOpen))
				s.next = append(s.next, nextOpen)
				continue
			}
		}
		if policyName != "" && rot != nil && (rot.MaxConcurrent != nil || rot.RatePerMinute != nil) {
			n, err := r.inFlight(ctx, s, policyName)
			if err != nil {
				return err
			}
			ok, retryAt := r.budget(d.Namespace+"/"+policyName, rot).Take(s.now, n)
			if !ok {
				if rot.MaxConcurrent != nil && n >= int(*rot.MaxConcurrent) {
					// A slot frees when a device rotates: the ManagedDevice watch wakes us.
					res.Message = fmt.Sprintf("waiting: LapsPolicy %s allows %d concurrent rotations", policyName, *rot.MaxConcurrent)
				} else {
					res.Message = fmt.Sprintf("waiting: LapsPolicy %s allows %d rotations per minute", policyName, *rot.RatePerMinute)
				}
				s.next = append(s.next, retryAt)
				continue
			}
		}
		// A new request does not restart the device's failure backoff (a repeated rotate
		// annotation or request would otherwise write again at once after each failure).
		if failed, last := d.Status.FailedRotationAttempts, d.Status.LastFailureTime; failed > 0 && last != nil {
			if next := retryAt(failed, last.Time); s.now.Before(next) {
				res.Message = fmt.Sprintf("waiting: the device's last %d rotation attempt(s) failed; next attempt at %s", failed, rfc3339(next))
				s.next = append(s.next, next)
				continue
			}
		}
		rec, err := r.resolveTarget(d)
		if errors.Is(err, dirsync.ErrNoSnapshot) {
			res.Message = "waiting for the first snapshot of directory " + d.Spec.DirectoryRef.Name
			s.next = append(s.next, s.now.Add(snapshotWait))
			continue
		}
		if err != nil {
			failTarget(res, err)
			continue
		}
		res.State = lapsv1.DeviceRotationRequested
		res.RequestedAt = mtime(s.now)
		res.Message = "intent recorded; writing the directory"
		res.PreviousPasswordVersion = rec.CurrentPasswordVersion
	}
	return nil
}

// reconcileWrite performs the recorded, not yet acknowledged directory writes. Writes are
// idempotent (same device, same requestedAt), so replaying one after a crash is safe. A failed
// write is retried after schedule.Backoff(attempts, lastFailureTime) (1, 2, 4 ... 60 minutes).
func (r *RotationRequestReconciler) reconcileWrite(ctx context.Context, s *rotationScope) {
	var errs []error
	for i := range s.req.Status.Results {
		res := &s.req.Status.Results[i]
		if res.State != lapsv1.DeviceRotationRequested || res.WrittenAt != nil || res.RequestedAt == nil {
			continue
		}
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
		if res.LastFailureTime != nil {
			if next := retryAt(res.Attempts, res.LastFailureTime.Time); s.now.Before(next) {
				s.next = append(s.next, next)
				continue
			}
		}
		// The write goes to the object the connection's own snapshot holds for the device,
		// never to a DN taken from the spec.
		rec, err := r.resolveTarget(d)
		if errors.Is(err, dirsync.ErrNoSnapshot) {
			s.next = append(s.next, s.now.Add(snapshotWait))
			continue
		}
		if err != nil {
			failTarget(res, err)
			continue
		}
		ref := dirsync.TargetOf(rec)
		res.Attempts++
		if err := e.Directory.RequestRotation(ctx, ref, res.RequestedAt.Time); err != nil {
			if ctx.Err() != nil {
				// The manager is stopping: nothing was decided about this attempt.
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
		res.LastFailureTime = nil
		res.WrittenAt = mtime(s.now)
		res.Message = "directory expiry set to " + rfc3339(res.RequestedAt.Time) + "; waiting for the device's next cycle"
		metrics.Rotations.WithLabelValues("requested").Inc()
		if r.Recorder != nil {
			r.Recorder.Eventf(d, s.req, "Normal", "RotationRequested", "RequestRotation",
				"rotation requested by %s via RotationRequest %s: %s", s.requester(), s.req.Name, s.req.Spec.Reason)
		}
	}
	s.writeErr = errors.Join(errs...)
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
		at, rotated := evidence(rec, res)
		if !rotated {
			continue
		}
		res.State, res.RotatedAt = lapsv1.DeviceRotationRotated, mtime(at)
		res.Message = "the directory shows a new password since " + rfc3339(at)
		metrics.Rotations.WithLabelValues("rotated").Inc()
		if r.Recorder != nil {
			r.Recorder.Eventf(d, s.req, "Normal", "Rotated", "ObserveRotation",
				"password rotated (requested by %s via RotationRequest %s)", s.requester(), s.req.Name)
		}
	}
}

// evidence decides whether rec proves a rotation after res was requested, and when.
func evidence(rec directory.DeviceRecord, res *lapsv1.DeviceRotationResult) (time.Time, bool) {
	requested := res.RequestedAt.Time
	trustedUpdate := rec.UpdateTimeSource == directory.UpdateTimeReplicationMetadata || rec.UpdateTimeSource == directory.UpdateTimeDirectory
	if trustedUpdate && rec.PasswordUpdateTime.After(requested) {
		return rec.PasswordUpdateTime, true
	}
	if rec.CurrentPasswordVersion != "" && res.PreviousPasswordVersion != "" && !strings.EqualFold(rec.CurrentPasswordVersion, res.PreviousPasswordVersion) {
		at := rec.PasswordUpdateTime
		if !at.After(requested) {
			at = requested
		}
		return at, true
	}
	return time.Time{}, false
}

// reconcileDeadline fails every device without evidence once the deadline passed.
func (r *RotationRequestReconciler) reconcileDeadline(s *rotationScope) {
	if s.now.Before(s.deadline) {
		return
	}
	for i := range s.req.Status.Results {
		res := &s.req.Status.Results[i]
		if res.State == lapsv1.DeviceRotationPending || res.State == lapsv1.DeviceRotationRequested {
			res.State = lapsv1.DeviceRotationFailed
			res.Message = "no evidence of rotation by the deadline " + rfc3339(s.deadline)
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

// SetupWithManager watches RotationRequests (creation and spec; status writes do not wake it)
// and ManagedDevices (a device's status change may carry evidence) mapped to the unfinished
// requests that target them.
func (r *RotationRequestReconciler) SetupWithManager(mgr ctrl.Manager, opts ...func(*builder.Builder)) error {
	b := ctrl.NewControllerManagedBy(mgr).
		Named("rotationrequest").
		For(&lapsv1.RotationRequest{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&lapsv1.ManagedDevice{}, handler.EnqueueRequestsFromMapFunc(r.requestsOfDevice))
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
