package dirsync

import (
	"context"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/directory/directorytest"
	"github.com/fleetlaps/fleetlaps/internal/directoryconfig"
	"github.com/fleetlaps/fleetlaps/internal/testenv"
)

// On a real kube-apiserver: a discovered device's managedFields are cleared after the create
// and stay empty through status writes of two field managers (the controller's and the report
// API's) and an operator's annotation; a hand-made device keeps its own.
func TestDiscovery_managedFieldsStayEmpty(t *testing.T) {
	cfg, stop, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stop() })
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := lapsv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	k8s, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fleet"}}); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Create(ctx, device("hand-made", 9)); err != nil {
		t.Fatal(err)
	}
	// The syncer reads an empty cache (the fake) and creates on the apiserver.
	cache := fake.NewClientBuilder().WithScheme(scheme).
		Build()
	clk := clocktesting.NewFakeClock(t0)
	dir := directorytest.New("corp", directory.TypeActiveDirectory, clk.Now)
	dir.Put(record("pc1", 1))
	s := &Syncer{Directory: dir, Reader: cache, Writer: k8s, Store: NewStore(), Events: make(chan DeviceEvent, 10),
		Clock: clk, Jitter: func() float64 { return 0 }, Log: logr.Discard(),
		Discovery: &directoryconfig.Discovery{Enabled: true, Namespace: "fleet"}}
	s.SyncOnce(ctx)

	for _, name := range []string{"pc1", "hand-made"} {
		var d lapsv1.ManagedDevice
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: "fleet", Name: name}, &d); err != nil {
			t.Fatal(err)
		}
		before := d.DeepCopy()
		d.Status.Account = "LapsAdmin"
		if err := k8s.Status().Patch(ctx, &d, client.MergeFrom(before), client.FieldOwner("fleetlaps-controller")); err != nil {
			t.Fatal(err)
		}
		before = d.DeepCopy()
		d.Status.Agent = &lapsv1.AgentStatus{OSBuild: "10.0.26100"}
		if err := k8s.Status().Patch(ctx, &d, client.MergeFrom(before), client.FieldOwner("report-api")); err != nil {
			t.Fatal(err)
		}
		before = d.DeepCopy()
		metav1.SetMetaDataAnnotation(&d.ObjectMeta, "note", "checked")
		if err := k8s.Patch(ctx, &d, client.MergeFrom(before), client.FieldOwner("kubectl-annotate")); err != nil {
			t.Fatal(err)
		}
	}
	var pc1, hand lapsv1.ManagedDevice
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "fleet", Name: "pc1"}, &pc1); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "fleet", Name: "hand-made"}, &hand); err != nil {
		t.Fatal(err)
	}
	if pc1.Labels[LabelDiscovered] != "true" || pc1.Status.Agent == nil || pc1.Annotations["note"] != "checked" {
		t.Fatalf("pc1 was not discovered and written: %+v", pc1)
	}
	if len(pc1.ManagedFields) != 0 {
		t.Fatalf("discovered pc1 has managedFields %+v", pc1.ManagedFields)
	}
	managers := map[string]bool{}
	for _, e := range hand.ManagedFields {
		managers[e.Manager] = true
	}
	if len(managers) != 4 || !managers["fleetlaps-controller"] || !managers["report-api"] || !managers["kubectl-annotate"] {
		t.Fatalf("hand-made device's managers = %v, want its creator and the three writers", managers)
	}
}
