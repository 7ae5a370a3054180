package controllers

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/directory/directorytest"
	"github.com/fleetlaps/fleetlaps/internal/directoryconfig"
	"github.com/fleetlaps/fleetlaps/internal/dirsync"
)

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

const ns = "fleet"

func testScheme(testing.TB) *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := lapsv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// writeCounter counts every write the reconcilers make.
type writeCounter struct{ n atomic.Int64 }

func (w *writeCounter) funcs() interceptor.Funcs {
	return interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
			w.n.Add(1)
			return c.Create(ctx, o, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.UpdateOption) error {
			w.n.Add(1)
			return c.Update(ctx, o, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, o client.Object, p client.Patch, opts ...client.PatchOption) error {
			w.n.Add(1)
			return c.Patch(ctx, o, p, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.DeleteOption) error {
			w.n.Add(1)
			return c.Delete(ctx, o, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, o client.Object, opts ...client.SubResourceUpdateOption) error {
			w.n.Add(1)
			return c.SubResource(sub).Update(ctx, o, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			w.n.Add(1)
			return c.SubResource(sub).Patch(ctx, o, p, opts...)
		},
	}
}

// env is one fake-client world: a fake directory "corp", its snapshot store, a fake clock.
type env struct {
	t      testing.TB
	client client.Client
	writes *writeCounter
	clock  *clocktesting.FakeClock
	dir    *directorytest.Fake
	dirs   *directoryconfig.Set
	store  *dirsync.Store
	rec    *events.FakeRecorder
}

func newEnv(t testing.TB, objs ...client.Object) *env {
	t.Helper()
	clk := clocktesting.NewFakeClock(t0)
	dir := directorytest.New("corp", directory.TypeActiveDirectory, clk.Now)
	w := &writeCounter{}
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(objs...).
		WithStatusSubresource(&lapsv1.ManagedDevice{}, &lapsv1.RotationRequest{}, &lapsv1.LapsPolicy{}).
		WithIndex(&lapsv1.RotationRequest{}, IndexRotationActiveDevice, IndexByActiveDevice).
		WithIndex(&lapsv1.RotationRequest{}, IndexRotationTargetDevice, IndexByTargetDevice).
		WithInterceptorFuncs(w.funcs()).Build()
	return &env{t: t, client: c, writes: w, clock: clk, dir: dir, dirs: directoryconfig.NewSet(dir), store: dirsync.NewStore(), rec: events.NewFakeRecorder(100)}
}

// sync takes a snapshot of the fake directory into the store.
func (e *env) sync() {
	e.t.Helper()
	snap, err := e.dir.Snapshot(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	e.store.Put("corp", snap)
}

func (e *env) deviceReconciler() *ManagedDeviceReconciler {
	return &ManagedDeviceReconciler{Client: e.client, Clock: e.clock, Directories: e.dirs, Store: e.store, Recorder: e.rec, HeartbeatInterval: 10 * time.Minute}
}

func (e *env) reconcileDevice(name string) reconcile.Result {
	e.t.Helper()
	res, err := e.deviceReconciler().Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}})
	if err != nil {
		e.t.Fatalf("reconcile %s: %v", name, err)
	}
	return res
}

func (e *env) device(name string) *lapsv1.ManagedDevice {
	e.t.Helper()
	var d lapsv1.ManagedDevice
	if err := e.client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &d); err != nil {
		e.t.Fatal(err)
	}
	return &d
}

func guidOf(i int) string {
	const hex = "0123456789abcdef"
	b := []byte("00000000-0000-4000-8000-000000000000")
	for p, v := len(b)-1, i; v > 0 && p > 24; p, v = p-1, v/16 {
		b[p] = hex[v%16]
	}
	return string(b)
}

func newDevice(name string, i int, labels map[string]string) *lapsv1.ManagedDevice {
	return &lapsv1.ManagedDevice{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels, Generation: 1},
		Spec: lapsv1.ManagedDeviceSpec{
			DirectoryRef: lapsv1.DirectoryReference{Name: "corp"},
			Identity: lapsv1.DeviceIdentity{ActiveDirectory: &lapsv1.ActiveDirectoryIdentity{
				DistinguishedName: "CN=" + name + ",OU=Workstations,DC=corp,DC=example", ObjectGUID: guidOf(i),
			}},
		},
	}
}

func newRecord(name string, i int, updated time.Time) directory.DeviceRecord {
	return directory.DeviceRecord{
		Key: guidOf(i), Name: name, ObjectGUID: guidOf(i),
		DistinguishedName:      "CN=" + name + ",OU=Workstations,DC=corp,DC=example",
		PasswordUpdateTime:     updated,
		UpdateTimeSource:       directory.UpdateTimeReplicationMetadata,
		PasswordExpirationTime: updated.Add(30 * 24 * time.Hour),
		CurrentPasswordVersion: "11111111-0000-0000-0000-" + guidOf(i)[24:],
		Source:                 directory.SourceEncrypted,
	}
}

func newPolicy(name string, root lapsv1.PolicyRoot, prio int32, selector map[string]string) *lapsv1.LapsPolicy {
	p := &lapsv1.LapsPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Generation: 1},
		Spec: lapsv1.LapsPolicySpec{
			BackupDirectory: lapsv1.BackupDirectoryActiveDirectory,
			DirectoryRef:    lapsv1.DirectoryReference{Name: "corp"},
			PolicyRoot:      root, Priority: prio,
			PasswordAgeDays: ptr.To[int32](30),
		},
	}
	if selector != nil {
		p.Spec.DeviceSelector = &metav1.LabelSelector{MatchLabels: selector}
	}
	return p
}
