package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/directoryconfig"
	"github.com/fleetlaps/fleetlaps/internal/dirsync"
	"github.com/fleetlaps/fleetlaps/internal/metrics"
)

// ManagedDeviceReconciler observes one device: its effective policy, its directory record from
// the sync snapshot, expiry, rollback, compatibility and agent freshness. It never calls the
// directory: the sync runnable does, once per interval for all devices.
type ManagedDeviceReconciler struct {
	Client      client.Client
	Clock       Clock
	Directories *directoryconfig.Set
	Store       *dirsync.Store
	Recorder    events.EventRecorder
	// HeartbeatInterval is the agents' report interval; AgentReporting turns False after three
	// missed heartbeats unless AgentStaleAfter says otherwise.
	HeartbeatInterval time.Duration
	// AgentStaleAfter is how old status.agent.lastReportTime may get before AgentReporting
	// turns False (0: three heartbeat intervals).
	AgentStaleAfter time.Duration
	// DeviceEvents is the sync runnables' channel (nil: no channel source).
	DeviceEvents <-chan dirsync.DeviceEvent
	// RequeueScale converts the RequeueAfter computed on Clock into the real wait (nil: identity).
	RequeueScale func(time.Duration) time.Duration
	// Workers is how many devices are reconciled at once (0: one).
	Workers int
}

// Discovery creates ManagedDevices and patches each new one once, to clear its managedFields.
// +kubebuilder:rbac:groups=laps.fleetlaps.io,resources=manageddevices,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=laps.fleetlaps.io,resources=manageddevices/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=laps.fleetlaps.io,resources=lapspolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=laps.fleetlaps.io,resources=rotationrequests,verbs=get;list;watch;create

// deviceScope holds what the steps observed; updateDeviceStatus derives every condition from it.
type deviceScope struct {
	device *lapsv1.ManagedDevice
	now    time.Time
	// agentStaleAfter is the reconciler's AgentStaleAfter.
	agentStaleAfter time.Duration

	// dirErr is the connection lookup failure (unknown name, type without backend).
	dirErr  error
	dirType directory.Type

	policyErr error
	sel       selection
	settings  *settings

	state     dirsync.State
	haveState bool
	// identityErr: the spec's identity disagrees with the snapshot's record (IdentityMismatch);
	// the record is then not shown as the device's.
	identityErr error
	record      directory.DeviceRecord
	haveRecord  bool

	// active names the unfinished RotationRequests targeting the device.
	active    []string
	activeErr error
	// rotations is the device's rotation history, when the requests could be listed.
	rotations     rotationHistory
	haveRotations bool

	annotationErr error
	// next collects the interesting future times; the lowest becomes RequeueAfter.
	next []time.Time
}

// Reconcile runs every step (each condition gets an observation even when another step fails),
// then derives status and patches it once if it changed.
func (r *ManagedDeviceReconciler) Reconcile(ctx context.Context, req reconcile.Request) (res reconcile.Result, retErr error) {
	var device lapsv1.ManagedDevice
	if err := r.Client.Get(ctx, req.NamespacedName, &device); err != nil {
		if apierrors.IsNotFound(err) {
			metrics.DeviceConditions.Observe(req.String(), nil)
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if device.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	before := device.DeepCopy()
	s := &deviceScope{device: &device, now: r.Clock.Now(), agentStaleAfter: r.AgentStaleAfter}

	var errs []error
	for _, step := range []func(context.Context, *deviceScope) error{
		r.reconcileDirectory,
		r.reconcilePolicy,
		r.reconcileRecord,
		r.reconcileRotating,
		r.reconcileRotateAnnotation,
	} {
		if err := step(ctx, s); err != nil {
			errs = append(errs, err)
		}
	}
	err := errors.Join(errs...)
	updateDeviceStatus(s, r.heartbeat(), err)
	metrics.DeviceConditions.Observe(req.String(), conditionStatuses(device.Status.Conditions))
	if _, perr := patchStatusIfChanged(ctx, r.Client, before, &device, statusOfDevice); perr != nil {
		return reconcile.Result{}, perr
	}
	if _, _, isStall := asStalled(err); isStall {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	return lowestRequeue(s.now, s.next...), nil
}

func (r *ManagedDeviceReconciler) heartbeat() time.Duration {
	if r.HeartbeatInterval <= 0 {
		return 10 * time.Minute
	}
	return r.HeartbeatInterval
}

// reconcileDirectory looks the connection up and applies its namespace gate. Sets: Stalled
// (UnknownDirectory, DirectoryTypeUnsupported, DirectoryConfigInvalid, DirectoryNotAllowed).
func (r *ManagedDeviceReconciler) reconcileDirectory(ctx context.Context, s *deviceScope) error {
	e, err := directoryFor(ctx, r.Client, r.Directories, s.device.Spec.DirectoryRef.Name, s.device.Namespace)
	if err != nil {
		s.dirErr = err
		return err
	}
	s.dirType = e.Config.Type
	return nil
}

// reconcilePolicy finds the one effective LapsPolicy. Sets: PolicyApplied, effectivePolicy,
// conflictingPolicies.
func (r *ManagedDeviceReconciler) reconcilePolicy(ctx context.Context, s *deviceScope) error {
	var policies lapsv1.LapsPolicyList
	if err := r.Client.List(ctx, &policies, client.InNamespace(s.device.Namespace)); err != nil {
		s.policyErr = err
		return fmt.Errorf("listing LapsPolicies: %w", err)
	}
	sel, err := selectPolicy(s.device, policies.Items)
	s.sel = sel
	if sel.Winner != nil {
		st := effectiveSettings(&sel.Winner.Spec)
		s.settings = &st
	}
	if err != nil {
		// A policy with a broken selector is that policy's problem (its own Stalled); the
		// others still decide.
		log.FromContext(ctx).V(1).Info("policy selection", "problem", err.Error())
	}
	return nil
}

// reconcileRecord reads the device's record from the latest snapshot. Sets: PasswordCurrent,
// RollbackDetected, PolicyCompatible, AgentReporting inputs and the directory status fields.
func (r *ManagedDeviceReconciler) reconcileRecord(_ context.Context, s *deviceScope) error {
	if s.dirErr != nil {
		return nil
	}
	name := s.device.Spec.DirectoryRef.Name
	s.state, s.haveState = r.Store.State(name)
	s.record, s.haveRecord = r.Store.Lookup(name, s.device.Spec.Identity)
	// The spec's identity is namespace input: it must name the object the snapshot holds.
	if _, err := r.Store.Resolve(name, s.device.Spec.Identity); errors.Is(err, dirsync.ErrIdentityMismatch) {
		s.identityErr, s.record, s.haveRecord = err, directory.DeviceRecord{}, false
		return stalled(dirsync.ResolveReason(err), err)
	}
	return nil
}

// reconcileRotating reads the device's RotationRequests (from the cache, by target index).
// Sets: Rotating, and the rotation history fields (lastRotationRequest, failedRotationAttempts,
// lastFailureTime).
func (r *ManagedDeviceReconciler) reconcileRotating(ctx context.Context, s *deviceScope) error {
	var reqs lapsv1.RotationRequestList
	// Read only (summarizeRotations): a request's up to 10,000 results are not copied per device.
	if err := r.Client.List(ctx, &reqs, client.InNamespace(s.device.Namespace), client.MatchingFields{IndexRotationTargetDevice: s.device.Name}, client.UnsafeDisableDeepCopy); err != nil {
		s.activeErr = err
		return fmt.Errorf("listing RotationRequests: %w", err)
	}
	var updated time.Time
	if t := s.device.Status.PasswordUpdateTime; t != nil {
		updated = t.Time
	}
	s.rotations = summarizeRotations(s.device.Name, updated, reqs.Items)
	s.active = s.rotations.active
	s.haveRotations = true
	return nil
}

// RotationRequestNameFor is the deterministic name of the RotationRequest created for an
// annotation value, so a retried reconcile never creates a second one.
func RotationRequestNameFor(device, value string) string {
	h := sha256.Sum256([]byte(device + "\x00" + value))
	prefix := device
	if len(prefix) > 40 {
		prefix = strings.TrimRight(prefix[:40], "-.")
	}
	return prefix + "-rotate-" + hex.EncodeToString(h[:5])
}

// reconcileRotateAnnotation turns a new laps.fleetlaps.io/rotate-requested-at value into one
// RotationRequest, then acknowledges it in status.lastRotateAnnotation. While a request for the
// device is still active, a new value joins it instead: repeating the annotation neither starts a
// second write nor a fresh attempt count that would skip the device's failure backoff.
func (r *ManagedDeviceReconciler) reconcileRotateAnnotation(ctx context.Context, s *deviceScope) error {
	v, ok := s.device.Annotations[lapsv1.AnnotationRotateRequestedAt]
	if !ok || v == "" || v == s.device.Status.LastRotateAnnotation {
		return nil
	}
	if !s.haveRotations {
		return nil // the active requests are unknown; the next visit decides
	}
	requester := s.device.Annotations[lapsv1.AnnotationRotateRequestedBy]
	name := RotationRequestNameFor(s.device.Name, v)
	if len(s.active) > 0 && !slices.Contains(s.active, name) {
		s.device.Status.LastRotateAnnotation = v
		s.device.Status.LastRotationRequest = s.active[0]
		if r.Recorder != nil {
			r.Recorder.Eventf(s.device, nil, "Normal", "RotationAlreadyRequested", "JoinRotationRequest",
				"%s: RotationRequest %s is still active for this device; no new request", annotationReason(s.device, v, requester), s.active[0])
		}
		return nil
	}
	// The device's labels travel with the request, so a --shard-selector manager sees it.
	lbls := map[string]string{}
	for k, val := range s.device.Labels {
		lbls[k] = val
	}
	lbls["laps.fleetlaps.io/device"] = truncateLabel(s.device.Name)
	annotations := map[string]string{lapsv1.AnnotationRotateRequestedAt: v}
	if requester != "" {
		annotations[lapsv1.AnnotationRotateRequestedBy] = requester
	}
	rr := &lapsv1.RotationRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.device.Namespace, Labels: lbls, Annotations: annotations},
		Spec: lapsv1.RotationRequestSpec{
			DeviceName: s.device.Name,
			Reason:     truncate(annotationReason(s.device, v, requester), 1024),
		},
	}
	err := r.Client.Create(ctx, rr, client.FieldOwner(FieldOwner))
	if err != nil && !apierrors.IsAlreadyExists(err) {
		s.annotationErr = err
		return fmt.Errorf("creating RotationRequest for annotation: %w", err)
	}
	if err == nil && r.Recorder != nil {
		r.Recorder.Eventf(s.device, rr, "Normal", "RotationRequested", "CreateRotationRequest",
			"%s: created RotationRequest %s", rr.Spec.Reason, rr.Name)
	}
	s.device.Status.LastRotateAnnotation = v
	s.device.Status.LastRotationRequest = rr.Name
	return nil
}

// annotationReason is the audit text of an annotation-made RotationRequest: the value and who set
// it, as admission recorded in rotate-requested-by (spec.requestedBy names the controller, which
// creates the request).
func annotationReason(d *lapsv1.ManagedDevice, value, requester string) string {
	reason := fmt.Sprintf("annotation %s=%s on ManagedDevice %s", lapsv1.AnnotationRotateRequestedAt, value, d.Name)
	if requester == "" {
		return reason + ", set by a user admission did not record"
	}
	return reason + ", set by " + requester
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func truncateLabel(s string) string { return strings.TrimRight(truncate(s, 63), "-.") }

// SetupWithManager watches ManagedDevices (spec and annotation changes, not our own status
// writes), LapsPolicies (spec changes map to the namespace's devices of that directory),
// RotationRequests (their targets) and the sync runnables' channel.
func (r *ManagedDeviceReconciler) SetupWithManager(mgr ctrl.Manager, opts ...func(*builder.Builder)) error {
	b := ctrl.NewControllerManagedBy(mgr).
		Named("manageddevice").
		For(&lapsv1.ManagedDevice{}, builder.WithPredicates(predicate.Or[client.Object](
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, predicate.LabelChangedPredicate{}, agentChanged))).
		Watches(&lapsv1.LapsPolicy{}, handler.EnqueueRequestsFromMapFunc(r.devicesOfPolicy),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&lapsv1.RotationRequest{}, requestTargetsChanged)
	if hasNamespaceSelector(r.Directories) {
		b = b.Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(objectsInNamespace(mgr.GetClient(),
			func() client.ObjectList { return &lapsv1.ManagedDeviceList{} },
			func(l client.ObjectList) []string {
				var out []string
				for _, d := range l.(*lapsv1.ManagedDeviceList).Items {
					out = append(out, d.Name)
				}
				return out
			})), builder.WithPredicates(predicate.LabelChangedPredicate{}))
	}
	if r.DeviceEvents != nil {
		b = b.WatchesRawSource(source.Channel(r.DeviceEvents, &handler.TypedEnqueueRequestForObject[*lapsv1.ManagedDevice]{}))
	}
	b = b.WithOptions(controller.Options{MaxConcurrentReconciles: max(r.Workers, 1)})
	for _, o := range opts {
		o(b)
	}
	return b.Complete(ScaleRequeue(r, r.RequeueScale))
}

// agentChanged passes updates of status.agent (written by the report API, never by this
// controller), so agent reports re-evaluate rollback, compatibility and freshness.
var agentChanged = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*lapsv1.ManagedDevice)
		n, ok2 := e.ObjectNew.(*lapsv1.ManagedDevice)
		return ok1 && ok2 && !equality.Semantic.DeepEqual(o.Status.Agent, n.Status.Agent)
	},
}

// devicesOfPolicy enqueues the devices of the policy's namespace and directory.
func (r *ManagedDeviceReconciler) devicesOfPolicy(ctx context.Context, o client.Object) []reconcile.Request {
	p := o.(*lapsv1.LapsPolicy)
	var list lapsv1.ManagedDeviceList
	if err := r.Client.List(ctx, &list, client.InNamespace(p.Namespace), client.UnsafeDisableDeepCopy); err != nil { // names only
		log.FromContext(ctx).Error(err, "mapping LapsPolicy to devices")
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for _, d := range list.Items {
		if d.Spec.DirectoryRef.Name == p.Spec.DirectoryRef.Name {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: d.Namespace, Name: d.Name}})
		}
	}
	return out
}

// devicesOfRequest enqueues a RotationRequest's targets.
func devicesOfRequest(_ context.Context, o client.Object) []reconcile.Request {
	q := o.(*lapsv1.RotationRequest)
	seen := map[string]bool{}
	var out []reconcile.Request
	add := func(n string) {
		if n != "" && !seen[n] {
			seen[n] = true
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: q.Namespace, Name: n}})
		}
	}
	add(q.Spec.DeviceName)
	for _, res := range q.Status.Results {
		add(res.Device)
	}
	return out
}
