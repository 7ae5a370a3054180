package controllers

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"unique"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

// CacheOptions is the manager's informer cache: what the controllers read, and no more. Both
// cmd/manager and the manager benchmarks use it, so a benchmark measures the production cache.
//
//   - ManagedDevices and RotationRequests only of the shard (shardSelector, a label selector;
//     empty: all);
//   - ConfigMaps only with the rendered-policy label, never every ConfigMap of the cluster;
//   - no managedFields on any cached object: nothing reads them (the rotate annotation's
//     requester is recorded by admission), and an Update without them keeps the server's;
//   - ManagedDevices without kubectl's last-applied annotation (the manager never updates a
//     ManagedDevice, it only patches status), their repeated strings shared;
//   - Namespaces as name and labels only (all the namespace gate reads).
func CacheOptions(shardSelector string) (cache.Options, error) {
	devices := cache.ByObject{Transform: compactDevice}
	requests := cache.ByObject{}
	if shardSelector != "" {
		sel, err := labels.Parse(shardSelector)
		if err != nil {
			return cache.Options{}, fmt.Errorf("--shard-selector %q: %w", shardSelector, err)
		}
		devices.Label, requests.Label = sel, sel
	}
	return cache.Options{
		DefaultTransform: StripManagedFields,
		ByObject: map[client.Object]cache.ByObject{
			&lapsv1.ManagedDevice{}:   devices,
			&lapsv1.RotationRequest{}: requests,
			&corev1.ConfigMap{}:       RenderedConfigMapCache(),
			&corev1.Namespace{}:       {Transform: namespaceLabelsOnly},
		},
	}, nil
}

// StripManagedFields drops metadata.managedFields from a cached object (a tombstone passes
// through unchanged).
func StripManagedFields(o any) (any, error) {
	if m, ok := o.(metav1.Object); ok && m.GetManagedFields() != nil {
		m.SetManagedFields(nil)
	}
	return o, nil
}

// lastAppliedAnnotation is kubectl apply's copy of the whole applied object.
const lastAppliedAnnotation = corev1.LastAppliedConfigAnnotation

// compactDevice trims a cached ManagedDevice to what the controllers read and makes the strings
// that repeat across a fleet (namespace, labels, directory and policy names, condition types,
// statuses, reasons and messages: most messages are fixed text) share one copy each. Values that
// are the device's own (names, DN, GUIDs) are left alone: interning them would only add a table
// entry.
func compactDevice(o any) (any, error) {
	d, ok := o.(*lapsv1.ManagedDevice)
	if !ok {
		return StripManagedFields(o)
	}
	d.ManagedFields = nil
	d.APIVersion, d.Kind = intern(d.APIVersion), intern(d.Kind)
	d.Namespace = intern(d.Namespace)
	d.Labels = deviceLabelSets.share(d.Labels)
	delete(d.Annotations, lastAppliedAnnotation)
	d.Annotations = internMap(d.Annotations, false)
	d.Spec.DirectoryRef.Name = intern(d.Spec.DirectoryRef.Name)
	st := &d.Status
	for i := range st.Conditions {
		c := &st.Conditions[i]
		c.Type, c.Reason, c.Message = intern(c.Type), intern(c.Reason), intern(c.Message)
		c.Status = metav1.ConditionStatus(intern(string(c.Status)))
	}
	// The next rotation is mostly the expiry: one value, one copy.
	if n, e := st.NextRotationTime, st.PasswordExpirationTime; n != nil && e != nil && n.Equal(e) {
		st.NextRotationTime = e
	}
	if p := st.EffectivePolicy; p != nil {
		p.Name, p.Hash = intern(p.Name), intern(p.Hash)
		p.PolicyRoot = lapsv1.PolicyRoot(intern(string(p.PolicyRoot)))
	}
	for i, n := range st.ConflictingPolicies {
		st.ConflictingPolicies[i] = intern(n)
	}
	st.Account, st.AuthorizedDecryptor = intern(st.Account), intern(st.AuthorizedDecryptor)
	st.PasswordUpdateTimeSource = intern(st.PasswordUpdateTimeSource)
	st.Source = lapsv1.PasswordSource(intern(string(st.Source)))
	if a := st.Agent; a != nil {
		a.OSBuild, a.BootMode, a.AppliedPolicyHash = intern(a.OSBuild), intern(a.BootMode), intern(a.AppliedPolicyHash)
		a.ActivePolicyRoot = lapsv1.PolicyRoot(intern(string(a.ActivePolicyRoot)))
	}
	return d, nil
}

// namespaceLabelsOnly keeps what the namespace gate reads: name and labels.
func namespaceLabelsOnly(o any) (any, error) {
	ns, ok := o.(*corev1.Namespace)
	if !ok {
		return StripManagedFields(o)
	}
	return &corev1.Namespace{
		TypeMeta: ns.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name: ns.Name, UID: ns.UID, ResourceVersion: ns.ResourceVersion, Generation: ns.Generation,
			Labels: ns.Labels, DeletionTimestamp: ns.DeletionTimestamp,
		},
	}, nil
}

// labelSets shares one labels map among the cached objects that carry the same labels (a fleet
// has few label sets; a map of two labels costs about 330 bytes). Cached objects are read-only:
// the cache hands out deep copies, and event handlers only read. The table is bounded, so
// per-object label values (which nothing could share) cost at most maxLabelSets entries.
type labelSets struct {
	mu   sync.Mutex
	sets map[string]map[string]string
}

const maxLabelSets = 4096

var deviceLabelSets = &labelSets{sets: map[string]map[string]string{}}

func (t *labelSets) share(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	keys := slices.Sorted(maps.Keys(m))
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(m[k])
		b.WriteByte(0)
	}
	sig := b.String()
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := t.sets[sig]; ok {
		return s
	}
	s := internMap(m, true)
	if len(t.sets) < maxLabelSets {
		t.sets[sig] = s
	}
	return s
}

// intern returns the one shared copy of s (the unique package drops it when no object holds it).
func intern(s string) string {
	if s == "" {
		return ""
	}
	return unique.Make(s).Value()
}

// internMap returns m with interned keys, and values too when values repeat across objects
// (labels; annotation values are mostly per object). An empty map becomes nil.
func internMap(m map[string]string, values bool) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if values {
			v = intern(v)
		}
		out[intern(k)] = v
	}
	return out
}

var _ toolscache.TransformFunc = StripManagedFields
