package shard

import (
	"context"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func TestOverlap(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{"", "shard=a", true},
		{"", "", true},
		{"shard=a", "shard=a", true},
		{"shard=a", "shard=b", false},
		{"shard=a", "shard!=a", false},
		{"shard=a", "shard!=b", true},
		{"shard in (a,b)", "shard in (b,c)", true},
		{"shard in (a,b)", "shard notin (a,b)", false},
		{"shard", "!shard", false},
		{"!shard", "shard!=a", true},
		{"shard=a", "region=eu", true},
		{"shard=a,region=eu", "shard=a,region=us", false},
		{"size>10", "size<12", true},
		{"size>10", "size<11", false},
		{"size>10", "size<13,size notin (11,12)", false},
		{"size>10", "size=x", false},
		{"size>10", "size notin (11)", true},
		{"shard=a", "tier=x,!shard", false},
	}
	for _, c := range cases {
		for _, pair := range [][2]string{{c.a, c.b}, {c.b, c.a}} {
			got, err := Overlap(pair[0], pair[1])
			if err != nil || got != c.want {
				t.Errorf("Overlap(%q, %q) = %v, %v; want %v", pair[0], pair[1], got, err, c.want)
			}
		}
	}
	if _, err := Overlap("shard in (", "x"); err == nil || !strings.Contains(err.Error(), `shard selector "shard in ("`) {
		t.Fatalf("bad selector: %v", err)
	}
}

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func newClient(t *testing.T, objs ...client.Object) client.Client {
	s := runtime.NewScheme()
	if err := coordinationv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).Build()
}

func registered(selector, holder string, renewed time.Time) *coordinationv1.Lease {
	rt := metav1.NewMicroTime(renewed)
	return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: LeaseName(selector), Namespace: "fleetlaps-system",
		Labels: map[string]string{LabelRegistration: "true"}, Annotations: map[string]string{AnnotationSelector: selector}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(holder), LeaseDurationSeconds: ptr.To[int32](30), RenewTime: &rt}}
}

func TestRegistration_Register(t *testing.T) {
	cases := map[string]struct {
		existing *coordinationv1.Lease
		selector string
		wantErr  string
	}{
		"should start alone":                         {selector: "shard=a"},
		"should start beside a disjoint shard":       {existing: registered("shard=b", "pod-b", t0), selector: "shard=a"},
		"should start as another replica of a shard": {existing: registered("shard=a", "pod-a1", t0), selector: "shard=a"},
		"should ignore a lapsed registration":        {existing: registered("shard in (a,b)", "pod-old", t0.Add(-time.Minute)), selector: "shard=a"},
		"should refuse an overlapping shard": {existing: registered("shard in (a,b)", "pod-ab", t0.Add(-10*time.Second)), selector: "shard=a",
			wantErr: `--shard-selector "shard=a" overlaps the running shard "shard in (a,b)"`},
		"should refuse an unsharded manager beside a shard": {existing: registered("shard=a", "pod-a", t0), selector: "",
			wantErr: `overlaps the running shard "shard=a"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var objs []client.Object
			if tc.existing != nil {
				objs = append(objs, tc.existing)
			}
			c := newClient(t, objs...)
			r := &Registration{Client: c, Namespace: "fleetlaps-system", Selector: tc.selector, Holder: "pod-new", Now: func() time.Time { return t0 }}
			err := r.Register(context.Background())
			var own coordinationv1.Lease
			getErr := c.Get(context.Background(), client.ObjectKey{Namespace: "fleetlaps-system", Name: LeaseName(tc.selector)}, &own)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if getErr != nil || ptr.Deref(own.Spec.HolderIdentity, "") != "pod-new" || own.Annotations[AnnotationSelector] != tc.selector {
					t.Fatalf("registration not written: %+v %v", own, getErr)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if getErr == nil {
				t.Fatal("a refused manager left its registration behind")
			}
		})
	}
}

// TestRegistration_twoManagersStartingTogether: whichever registers second sees the first.
func TestRegistration_twoManagersStartingTogether(t *testing.T) {
	c := newClient(t)
	now := func() time.Time { return t0 }
	a := &Registration{Client: c, Namespace: "ns", Selector: "shard in (a,b)", Holder: "pod-a", Now: now}
	b := &Registration{Client: c, Namespace: "ns", Selector: "shard=b", Holder: "pod-b", Now: now}
	if err := a.renew(context.Background()); err != nil { // A registered but has not checked yet
		t.Fatal(err)
	}
	if err := b.Register(context.Background()); err == nil {
		t.Fatal("B started beside an overlapping registration")
	}
	if err := a.Register(context.Background()); err != nil {
		t.Fatalf("A refused after B withdrew: %v", err)
	}
	if err := a.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := b.Register(context.Background()); err != nil {
		t.Fatalf("B refused after A released: %v", err)
	}
}
