package shard

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/fleetlaps/fleetlaps/internal/testenv"
)

// apiserver is the envtest control plane of this package.
var apiserver client.Client

func TestMain(m *testing.M) {
	cfg, stop, err := testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	if apiserver, err = client.New(cfg, client.Options{Scheme: s}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		_ = stop()
		os.Exit(1)
	}
	code := m.Run()
	_ = stop()
	os.Exit(code)
}

// TestRegistration_onTheAPIServer: on a real apiserver, a second manager with an overlapping
// selector is refused while the first renews its Lease, and starts once the first released it.
func TestRegistration_onTheAPIServer(t *testing.T) {
	ctx := context.Background()
	const ns = "fleetlaps-system"
	if err := apiserver.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	a := &Registration{Client: apiserver, Namespace: ns, Selector: "shard in (a,b)", Holder: "pod-a", Now: time.Now}
	if err := a.Register(ctx); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Start(runCtx) }()

	b := &Registration{Client: apiserver, Namespace: ns, Selector: "shard=b", Holder: "pod-b", Now: time.Now}
	err := b.Register(ctx)
	if err == nil || !strings.Contains(err.Error(), `overlaps the running shard "shard in (a,b)"`) {
		t.Fatalf("overlapping shard: %v", err)
	}
	c := &Registration{Client: apiserver, Namespace: ns, Selector: "shard=c", Holder: "pod-c", Now: time.Now}
	if err := c.Register(ctx); err != nil {
		t.Fatalf("disjoint shard refused: %v", err)
	}

	stop() // manager A stops: its registration goes with it
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var l coordinationv1.Lease
	if err := apiserver.Get(ctx, client.ObjectKey{Namespace: ns, Name: LeaseName(a.Selector)}, &l); err == nil {
		t.Fatal("registration left behind after the manager stopped")
	}
	if err := b.Register(ctx); err != nil {
		t.Fatalf("after A stopped: %v", err)
	}
}
