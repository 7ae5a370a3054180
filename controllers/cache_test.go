package controllers

import (
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

func TestCacheOptions(t *testing.T) {
	opts, err := CacheOptions("shard=a")
	if err != nil {
		t.Fatal(err)
	}
	if opts.DefaultTransform == nil {
		t.Fatal("no default transform: managedFields would be cached")
	}
	seen := map[string]bool{}
	for o, b := range opts.ByObject {
		switch o.(type) {
		case *lapsv1.ManagedDevice:
			seen["device"] = b.Label.String() == "shard=a" && b.Transform != nil
		case *lapsv1.RotationRequest:
			seen["request"] = b.Label.String() == "shard=a"
		case *corev1.ConfigMap:
			seen["configmap"] = b.Label.String() == LabelRenderedPolicy
		case *corev1.Namespace:
			seen["namespace"] = b.Transform != nil
		default:
			t.Fatalf("unexpected cache entry %T", o)
		}
	}
	for _, k := range []string{"device", "request", "configmap", "namespace"} {
		if !seen[k] {
			t.Fatalf("cache entry %s missing or wrong: %v", k, seen)
		}
	}
	plain, err := CacheOptions("")
	if err != nil {
		t.Fatal(err)
	}
	for o, b := range plain.ByObject {
		if _, cm := o.(*corev1.ConfigMap); !cm && b.Label != nil {
			t.Fatalf("without a shard nothing but ConfigMaps is selected: %T %v", o, b.Label)
		}
	}
	if _, err := CacheOptions("a b c"); err == nil || !strings.Contains(err.Error(), "--shard-selector") {
		t.Fatalf("bad selector: %v", err)
	}
}

func TestCompactDevice(t *testing.T) {
	mk := func(name string) *lapsv1.ManagedDevice {
		d := newDevice(name, 7, map[string]string{"shard": "a", "site": "berlin"})
		d.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}}
		d.Annotations = map[string]string{lastAppliedAnnotation: `{"spec":{}}`, lapsv1.AnnotationRotateRequestedAt: "now"}
		d.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Compliant", Message: strings.Clone("password is current")}}
		d.Status.EffectivePolicy = &lapsv1.EffectivePolicy{Name: "base", PolicyRoot: lapsv1.PolicyRootCSP, Hash: "abc"}
		expiry := metav1.NewTime(time.Date(2027, 1, 5, 0, 0, 0, 0, time.UTC))
		next := expiry
		d.Status.PasswordExpirationTime, d.Status.NextRotationTime = &expiry, &next
		return d
	}
	a, b := mk("a"), mk("b")
	want := a.DeepCopy()
	for _, d := range []*lapsv1.ManagedDevice{a, b} {
		if _, err := compactDevice(d); err != nil {
			t.Fatal(err)
		}
	}
	if a.ManagedFields != nil {
		t.Fatal("managedFields cached")
	}
	if _, ok := a.Annotations[lastAppliedAnnotation]; ok || a.Annotations[lapsv1.AnnotationRotateRequestedAt] != "now" {
		t.Fatalf("annotations %v: want the rotate annotation without kubectl's copy", a.Annotations)
	}
	if reflect.ValueOf(a.Labels).UnsafePointer() != reflect.ValueOf(b.Labels).UnsafePointer() {
		t.Fatal("equal label sets are not shared")
	}
	if a.Status.NextRotationTime != a.Status.PasswordExpirationTime {
		t.Fatal("an equal next rotation and expiry are two copies")
	}
	if unsafe.StringData(a.Status.Conditions[0].Message) != unsafe.StringData(b.Status.Conditions[0].Message) {
		t.Fatal("equal condition messages are not shared")
	}
	want.ManagedFields = nil
	delete(want.Annotations, lastAppliedAnnotation)
	if !reflect.DeepEqual(a, want) {
		t.Fatalf("compacting changed what the controllers read:\n got %+v\nwant %+v", a, want)
	}
	// A tombstone passes through.
	tomb := toolscache.DeletedFinalStateUnknown{Key: "ns/a", Obj: mk("c")}
	if got, err := compactDevice(tomb); err != nil || !reflect.DeepEqual(got, tomb) {
		t.Fatalf("tombstone: %v %v", got, err)
	}
}

func TestNamespaceLabelsOnly(t *testing.T) {
	ns := &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"tier": "1"}, Annotations: map[string]string{"big": "x"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "m"}}},
		Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"kubernetes"}},
	}
	got, err := namespaceLabelsOnly(ns)
	if err != nil {
		t.Fatal(err)
	}
	n := got.(*corev1.Namespace)
	if n.Name != "team-a" || n.Labels["tier"] != "1" || n.Annotations != nil || n.ManagedFields != nil || n.Spec.Finalizers != nil {
		t.Fatalf("namespace kept %+v", n)
	}
}
