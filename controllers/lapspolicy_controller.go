package controllers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/directoryconfig"
	"github.com/fleetlaps/fleetlaps/internal/principalcache"
)

// PolicyFinalizer makes the controller withdraw what it published before a LapsPolicy goes.
const PolicyFinalizer = "laps.fleetlaps.io/withdraw"

// Published kinds.
const (
	PublishedConfigMap    = "ConfigMap"
	PublishedIntunePolicy = "IntuneConfigurationPolicy"
)

// LapsPolicyReconciler validates, renders and publishes LapsPolicies and counts their devices.
type LapsPolicyReconciler struct {
	Client      client.Client
	Clock       Clock
	Directories *directoryconfig.Set
	Recorder    events.EventRecorder
	// RequeueScale converts the RequeueAfter computed on Clock into the real wait (nil: identity).
	RequeueScale func(time.Duration) time.Duration
	// Principals caches principal resolution per connection (nil: every reconcile searches).
	Principals *principalcache.Cache
	// GroupPolicyResync is how often a published Group Policy object is checked for drift
	// (default DefaultGroupPolicyResync).
	GroupPolicyResync time.Duration
}

// +kubebuilder:rbac:groups=laps.fleetlaps.io,resources=lapspolicies,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=laps.fleetlaps.io,resources=lapspolicies/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=laps.fleetlaps.io,resources=lapspolicies/finalizers,verbs=update
// Reading the rendered ConfigMaps (the cache holds only those labelled LabelRenderedPolicy);
// writing them is granted per namespace by tenant-role (config/rbac/tenant_role.yaml).
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch

// policyScope holds what the steps observed.
type policyScope struct {
	policy    *lapsv1.LapsPolicy
	entry     *directoryconfig.Entry
	ignored   []string
	principal struct {
		applicable bool
		sid        string
		err        error
	}
	artefacts []artefact
	hash      string
	pushErr   error
	pushed    bool
	// gpoDrift is set when the policy was published as a Group Policy object.
	gpoDrift     *gpoDrift
	requeueAfter time.Duration
	tenant       tenantLAPS
}

// Reconcile: validate → directory → resolvePrincipal → render → publish → count. It stops at
// the first error; the status is derived and patched after the steps on every path.
func (r *LapsPolicyReconciler) Reconcile(ctx context.Context, req reconcile.Request) (res reconcile.Result, retErr error) {
	var p lapsv1.LapsPolicy
	if err := r.Client.Get(ctx, req.NamespacedName, &p); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if p.DeletionTimestamp != nil {
		return reconcile.Result{}, r.reconcileDelete(ctx, &p)
	}
	if !controllerutil.ContainsFinalizer(&p, PolicyFinalizer) {
		controllerutil.AddFinalizer(&p, PolicyFinalizer)
		if err := r.Client.Update(ctx, &p, client.FieldOwner(FieldOwner)); err != nil {
			return reconcile.Result{}, err
		}
	}
	before := p.DeepCopy()
	s := &policyScope{policy: &p}
	var err error
	for _, step := range []func(context.Context, *policyScope) error{
		r.reconcileValidate,
		r.reconcileDirectory,
		r.reconcilePrincipal,
		r.reconcileRender,
		r.reconcilePublish,
		r.reconcileCounts,
		r.reconcileTenantLAPS,
	} {
		if err = step(ctx, s); err != nil {
			break
		}
	}
	updatePolicyStatus(s, r.Clock.Now(), err)
	if _, perr := patchStatusIfChanged(ctx, r.Client, before, &p, statusOfPolicy); perr != nil {
		return reconcile.Result{}, perr
	}
	if _, _, ok := asStalled(err); ok {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	// Look again when the principal's cache entry expires (it may have been deleted) or, for a
	// Group Policy object, after the drift resync interval; whichever comes first.
	wait := s.requeueAfter
	if s.principal.applicable && r.Principals.TTL() > 0 && (wait == 0 || r.Principals.TTL() < wait) {
		wait = r.Principals.TTL()
	}
	if s.tenant.applicable && !s.tenant.enabled && (wait == 0 || tenantRecheck < wait) {
		// Nothing announces the tenant's LAPS switch being turned on: look again.
		wait = tenantRecheck
	}
	return reconcile.Result{RequeueAfter: wait}, nil
}

// reconcileValidate applies the same Go rules as admission. Sets: Stalled (InvalidSpec),
// SettingsIgnored.
func (r *LapsPolicyReconciler) reconcileValidate(_ context.Context, s *policyScope) error {
	s.ignored = ignoredSettings(&s.policy.Spec)
	if errs := validatePolicy(&s.policy.Spec); len(errs) > 0 {
		return stalled("InvalidSpec", errs.ToAggregate())
	}
	return nil
}

// reconcileDirectory looks the connection up and applies its namespace gate. Sets: Stalled
// (UnknownDirectory, DirectoryTypeUnsupported, DirectoryConfigInvalid, DirectoryNotAllowed).
func (r *LapsPolicyReconciler) reconcileDirectory(ctx context.Context, s *policyScope) error {
	e, err := directoryFor(ctx, r.Client, r.Directories, s.policy.Spec.DirectoryRef.Name, s.policy.Namespace)
	if err != nil {
		return err
	}
	s.entry = e
	if s.policy.Spec.BackupDirectory == lapsv1.BackupDirectoryEntraID {
		if _, ok := e.Directory.(directory.PolicyPublisher); !ok || e.Config.Type != directory.TypeEntraID {
			return stalled("DirectoryTypeUnsupported", fmt.Errorf("directory %q (type %s) cannot publish an EntraID policy; this build has no %s policy publisher",
				e.Config.Name, e.Config.Type, directory.TypeEntraID))
		}
	}
	return nil
}

// reconcilePrincipal resolves adPasswordEncryptionPrincipal for AD with encryption. Sets:
// PrincipalResolved.
func (r *LapsPolicyReconciler) reconcilePrincipal(ctx context.Context, s *policyScope) error {
	st := effectiveSettings(&s.policy.Spec)
	if !(st.BackupDirectory == lapsv1.BackupDirectoryActiveDirectory && st.ADPasswordEncryptionEnabled && st.ADPasswordEncryptionPrincipal != "") {
		return nil
	}
	s.principal.applicable = true
	conn := s.entry.Config.Name
	if s.policy.Generation != s.policy.Status.ObservedGeneration {
		// The spec changed since the last verdict: look again rather than trust the cache.
		r.Principals.Forget(conn, st.ADPasswordEncryptionPrincipal)
	}
	sid, err := r.Principals.Resolve(ctx, conn, st.ADPasswordEncryptionPrincipal, r.Clock.Now(), s.entry.Directory.ResolvePrincipal)
	s.principal.sid, s.principal.err = sid, err
	if errors.Is(err, directory.ErrNotFound) {
		// Not Stalled: the principal may be created in AD later; a spec change is not the only fix.
		return fmt.Errorf("adPasswordEncryptionPrincipal %q: %w", st.ADPasswordEncryptionPrincipal, err)
	}
	return err
}

// reconcileRender renders every artefact of the policy root and hashes them.
func (r *LapsPolicyReconciler) reconcileRender(_ context.Context, s *policyScope) error {
	arts, err := renderPolicy(s.policy)
	if err != nil {
		return stalled("RenderFailed", err)
	}
	slices.SortFunc(arts, func(a, b artefact) int { return strings.Compare(a.Name, b.Name) })
	h := sha256.New()
	for _, a := range arts {
		fmt.Fprintf(h, "%s\x00%d\x00", a.Name, len(a.Data))
		h.Write(a.Data)
	}
	hashAssignment(h, &s.policy.Spec)
	s.artefacts, s.hash = arts, hex.EncodeToString(h.Sum(nil))[:16]
	return nil
}

// LabelRenderedPolicy marks a policy's rendered ConfigMap; the manager caches only ConfigMaps
// that carry it.
const LabelRenderedPolicy = "laps.fleetlaps.io/policy"

// RenderedConfigMapCache limits the manager's ConfigMap cache to the rendered-policy ConfigMaps
// (the selector "laps.fleetlaps.io/policy": the label exists).
func RenderedConfigMapCache() cache.ByObject {
	sel, err := labels.Parse(LabelRenderedPolicy)
	if err != nil {
		panic(err) // a constant label key always parses
	}
	return cache.ByObject{Label: sel}
}

// errConfigMapNotOwned: a ConfigMap of the rendered name exists and another owner controls it.
var errConfigMapNotOwned = errors.New("ConfigMap not controlled by this policy")

// RenderedConfigMapName is the owned ConfigMap holding an AD policy's artefacts.
func RenderedConfigMapName(policy string) string { return policy + "-rendered" }

// reconcilePublish stores artefacts in the owned ConfigMap (AD roots), publishes a Group Policy
// object (AD roots with spec.groupPolicy), or pushes through the directory's PolicyPublisher
// (EntraID). It writes only when the content differs. Sets:
// PolicyPushed, status.published.
func (r *LapsPolicyReconciler) reconcilePublish(ctx context.Context, s *policyScope) error {
	p := s.policy
	if p.Spec.BackupDirectory == lapsv1.BackupDirectoryEntraID {
		for _, pub := range p.Status.Published {
			if pub.Kind == PublishedIntunePolicy && pub.Hash == s.hash {
				s.pushed = true
				return nil
			}
		}
		doc, ok := intuneArtefact(s.artefacts)
		if !ok {
			return stalled("RenderFailed", fmt.Errorf("policy root %s renders no Intune document; EntraID policies need policyRoot CSP", effectiveSettings(&p.Spec).PolicyRoot))
		}
		ref, err := publishIntune(ctx, s.entry.Directory, p, doc)
		if err != nil {
			s.pushErr = err
			return fmt.Errorf("publishing policy: %w", err)
		}
		p.Status.Published = []lapsv1.PublishedPolicy{{Directory: s.entry.Config.Name, Kind: PublishedIntunePolicy, Ref: ref.ID, Hash: s.hash}}
		s.pushed = true
		if r.Recorder != nil {
			r.Recorder.Eventf(p, nil, "Normal", "Published", "PublishPolicy", "published to directory %s as %s", s.entry.Config.Name, ref.ID)
		}
		return nil
	}
	if p.Spec.PublishesGroupPolicy() {
		return r.reconcileGroupPolicy(ctx, s)
	}
	want := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: RenderedConfigMapName(p.Name), Namespace: p.Namespace}}
	data, bin := map[string]string{}, map[string][]byte{}
	for _, a := range s.artefacts {
		if utf8.Valid(a.Data) && !bytes.ContainsRune(a.Data, 0) && !strings.Contains(a.ContentType, "octet-stream") {
			data[a.Name] = string(a.Data)
		} else {
			bin[a.Name] = a.Data
		}
	}
	// CreateOrPatch writes only when the mutated object differs from what is stored. The cache
	// holds only labelled ConfigMaps: an unlabelled one of that name reads as absent, and its
	// create then fails with AlreadyExists; a labelled one this policy does not control is
	// refused by the mutate function. Either is not ours and is left untouched.
	_, err := controllerutil.CreateOrPatch(ctx, client.WithFieldOwner(r.Client, FieldOwner), want, func() error {
		if want.ResourceVersion != "" && !metav1.IsControlledBy(want, p) {
			return errConfigMapNotOwned
		}
		if want.Labels == nil {
			want.Labels = map[string]string{}
		}
		want.Labels[LabelRenderedPolicy] = truncateLabel(p.Name)
		if want.Annotations == nil {
			want.Annotations = map[string]string{}
		}
		want.Annotations["laps.fleetlaps.io/rendered-hash"] = s.hash
		want.Data, want.BinaryData = nilIfEmpty(data), nilIfEmptyB(bin)
		return controllerutil.SetControllerReference(p, want, r.Client.Scheme())
	})
	switch {
	case errors.Is(err, errConfigMapNotOwned) || apierrors.IsAlreadyExists(err):
		s.pushErr = fmt.Errorf("ConfigMap %s exists and is not owned by this policy", want.Name)
		return stalled("ConfigMapConflict", s.pushErr)
	case err != nil:
		s.pushErr = err
		return err
	}
	p.Status.Published = []lapsv1.PublishedPolicy{{Directory: s.entry.Config.Name, Kind: PublishedConfigMap, Ref: want.Name, Hash: s.hash}}
	s.pushed = true
	return nil
}

func nilIfEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

func nilIfEmptyB(m map[string][]byte) map[string][]byte {
	if len(m) == 0 {
		return nil
	}
	return m
}

// reconcileCounts counts the devices this policy is effective on (the namespace's devices in
// the cache, read only).
func (r *LapsPolicyReconciler) reconcileCounts(ctx context.Context, s *policyScope) error {
	var list lapsv1.ManagedDeviceList
	// Read only: no deep copy of every device (100,000 of them in one namespace are 200 MB).
	if err := r.Client.List(ctx, &list, client.InNamespace(s.policy.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return err
	}
	st := &s.policy.Status
	st.MatchedDevices, st.CompliantDevices, st.ExpiredDevices, st.ConflictingDevices = 0, 0, 0, 0
	st.NoPasswordStoredDevices, st.CleartextPasswordDevices, st.LegacyPasswordDevices = 0, 0, 0
	for _, d := range list.Items {
		if d.Status.EffectivePolicy == nil || d.Status.EffectivePolicy.Name != s.policy.Name {
			continue
		}
		st.MatchedDevices++
		for _, c := range d.Status.Conditions {
			switch {
			case c.Type == lapsv1.ConditionReady && c.Status == metav1.ConditionTrue:
				st.CompliantDevices++
			case c.Type != lapsv1.ConditionPasswordCurrent:
			case c.Reason == ReasonExpired:
				st.ExpiredDevices++
			case c.Reason == ReasonNoPasswordStored:
				st.NoPasswordStoredDevices++
			case c.Reason == ReasonCleartextPasswordStored:
				st.CleartextPasswordDevices++
			case c.Reason == ReasonLegacyPasswordStored:
				st.LegacyPasswordDevices++
			}
		}
		if len(d.Status.ConflictingPolicies) > 0 {
			st.ConflictingDevices++
		}
	}
	return nil
}

// reconcileDelete withdraws what was published and removes the finalizer. The owned ConfigMap
// goes with the policy (owner reference); it is deleted explicitly too, so withdrawal does not
// wait for the garbage collector.
func (r *LapsPolicyReconciler) reconcileDelete(ctx context.Context, p *lapsv1.LapsPolicy) error {
	if !controllerutil.ContainsFinalizer(p, PolicyFinalizer) {
		return nil
	}
	for _, pub := range p.Status.Published {
		switch pub.Kind {
		case PublishedIntunePolicy:
			e, err := r.Directories.Lookup(pub.Directory)
			if err != nil {
				// The connection is gone: nothing we can withdraw through it.
				continue
			}
			if pp, ok := e.Directory.(directory.PolicyPublisher); ok {
				if err := pp.WithdrawPolicy(ctx, directory.PublishedRef{ID: pub.Ref, Hash: pub.Hash}); err != nil {
					return fmt.Errorf("withdrawing %s from %s: %w", pub.Ref, pub.Directory, err)
				}
			}
		case PublishedGroupPolicyObject:
			if err := r.withdrawGroupPolicy(ctx, p, pub); err != nil {
				return err
			}
		case PublishedConfigMap:
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: pub.Ref, Namespace: p.Namespace}}
			if err := r.Client.Delete(ctx, cm); client.IgnoreNotFound(err) != nil {
				return err
			}
		}
	}
	controllerutil.RemoveFinalizer(p, PolicyFinalizer)
	return r.Client.Update(ctx, p, client.FieldOwner(FieldOwner))
}

// SetupWithManager watches LapsPolicies (spec changes), the owned ConfigMaps, and ManagedDevices
// whose effective policy or readiness changed (for the counts).
func (r *LapsPolicyReconciler) SetupWithManager(mgr ctrl.Manager, opts ...func(*builder.Builder)) error {
	b := ctrl.NewControllerManagedBy(mgr).
		Named("lapspolicy").
		For(&lapsv1.LapsPolicy{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&corev1.ConfigMap{}).
		Watches(&lapsv1.ManagedDevice{}, devicePolicyHandler{})
	if hasNamespaceSelector(r.Directories) {
		b = b.Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(objectsInNamespace(mgr.GetClient(),
			func() client.ObjectList { return &lapsv1.LapsPolicyList{} },
			func(l client.ObjectList) []string {
				var out []string
				for _, p := range l.(*lapsv1.LapsPolicyList).Items {
					out = append(out, p.Name)
				}
				return out
			})), builder.WithPredicates(predicate.LabelChangedPredicate{}))
	}
	for _, o := range opts {
		o(b)
	}
	return b.Complete(ScaleRequeue(r, r.RequeueScale))
}

// devicePolicyHandler enqueues the old and the new effective policy of a device whose counted
// status changed. It waits countsDelay, so a wave of device changes (a sync of thousands of
// devices) costs one count update per policy, not one per device.
type devicePolicyHandler struct{}

const countsDelay = 2 * time.Second

func policyRequest(d *lapsv1.ManagedDevice) (reconcile.Request, bool) {
	if d.Status.EffectivePolicy == nil {
		return reconcile.Request{}, false
	}
	return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: d.Namespace, Name: d.Status.EffectivePolicy.Name}}, true
}

func countedStatus(d *lapsv1.ManagedDevice) string {
	var b strings.Builder
	if d.Status.EffectivePolicy != nil {
		b.WriteString(d.Status.EffectivePolicy.Name)
	}
	fmt.Fprintf(&b, "|%d", len(d.Status.ConflictingPolicies))
	for _, c := range d.Status.Conditions {
		if c.Type == lapsv1.ConditionReady || c.Type == lapsv1.ConditionPasswordCurrent {
			fmt.Fprintf(&b, "|%s=%s/%s", c.Type, c.Status, c.Reason)
		}
	}
	return b.String()
}

func (devicePolicyHandler) Create(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	if r, ok := policyRequest(e.Object.(*lapsv1.ManagedDevice)); ok {
		q.AddAfter(r, countsDelay)
	}
}

func (devicePolicyHandler) Update(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	o, n := e.ObjectOld.(*lapsv1.ManagedDevice), e.ObjectNew.(*lapsv1.ManagedDevice)
	if countedStatus(o) == countedStatus(n) {
		return
	}
	for _, d := range []*lapsv1.ManagedDevice{o, n} {
		if r, ok := policyRequest(d); ok {
			q.AddAfter(r, countsDelay)
		}
	}
}

func (devicePolicyHandler) Delete(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	if d, ok := e.Object.(*lapsv1.ManagedDevice); ok {
		if r, ok := policyRequest(d); ok {
			q.AddAfter(r, countsDelay)
		}
	}
}

func (devicePolicyHandler) Generic(context.Context, event.GenericEvent, workqueue.TypedRateLimitingInterface[reconcile.Request]) {
}

var _ handler.EventHandler = devicePolicyHandler{}
