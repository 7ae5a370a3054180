package dirsync

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/directory/directorytest"
	"github.com/fleetlaps/fleetlaps/internal/directoryconfig"
	"github.com/fleetlaps/fleetlaps/internal/metrics"
)

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func guid(i int) string { return "00000000-0000-0000-0000-" + leftPad(i) }
func leftPad(i int) string {
	s := "000000000000" + itoa(i)
	return s[len(s)-12:]
}
func itoa(i int) string {
	return string(rune('0'+i/100%10)) + string(rune('0'+i/10%10)) + string(rune('0'+i%10))
}

func device(name string, i int) *lapsv1.ManagedDevice {
	return &lapsv1.ManagedDevice{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "fleet"},
		Spec: lapsv1.ManagedDeviceSpec{
			DirectoryRef: lapsv1.DirectoryReference{Name: "corp"},
			Identity: lapsv1.DeviceIdentity{ActiveDirectory: &lapsv1.ActiveDirectoryIdentity{
				DistinguishedName: "CN=" + name + ",OU=Berlin,OU=Workstations,DC=corp,DC=example", ObjectGUID: guid(i),
			}},
		},
	}
}

func record(name string, i int) directory.DeviceRecord {
	return directory.DeviceRecord{
		Key: guid(i), Name: name, ObjectGUID: guid(i),
		DistinguishedName:      "CN=" + name + ",OU=Berlin,OU=Workstations,DC=corp,DC=example",
		PasswordExpirationTime: t0.Add(24 * time.Hour), Source: directory.SourceEncrypted,
	}
}

type harness struct {
	syncer *Syncer
	dir    *directorytest.Fake
	clock  *clocktesting.FakeClock
	events chan DeviceEvent
	client client.Client
}

func newHarness(t *testing.T, objs ...client.Object) *harness {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := lapsv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		Build()
	clk := clocktesting.NewFakeClock(t0)
	dir := directorytest.New("corp", directory.TypeActiveDirectory, clk.Now)
	ev := make(chan DeviceEvent, 100)
	s := &Syncer{Directory: dir, Reader: c, Writer: c, Store: NewStore(), Events: ev, Clock: clk,
		Interval: 5 * time.Minute, Jitter: func() float64 { return 0 }, Log: logr.Discard()}
	return &harness{syncer: s, dir: dir, clock: clk, events: ev, client: c}
}

func (h *harness) drain() []string {
	var out []string
	for {
		select {
		case e := <-h.events:
			out = append(out, e.Object.Name)
		default:
			slices.Sort(out)
			return out
		}
	}
}

func TestSyncer_enqueuesOnlyChangedDevices(t *testing.T) {
	h := newHarness(t, device("pc1", 1), device("pc2", 2), device("pc3", 3))
	for i, n := range []string{"pc1", "pc2", "pc3"} {
		h.dir.Put(record(n, i+1))
	}
	ctx := context.Background()
	if wait := h.syncer.SyncOnce(ctx); wait != 5*time.Minute {
		t.Fatalf("wait = %v", wait)
	}
	if got := h.drain(); !slices.Equal(got, []string{"pc1", "pc2", "pc3"}) {
		t.Fatalf("first pass enqueued %v, want all", got)
	}
	h.syncer.SyncOnce(ctx)
	if got := h.drain(); len(got) != 0 {
		t.Fatalf("unchanged pass enqueued %v", got)
	}
	h.dir.Update(guid(2), func(r *directory.DeviceRecord) { r.CurrentPasswordVersion = "new" })
	h.syncer.SyncOnce(ctx)
	if got := h.drain(); !slices.Equal(got, []string{"pc2"}) {
		t.Fatalf("enqueued %v, want [pc2]", got)
	}
	r, ok := h.syncer.Store.Lookup("corp", device("pc2", 2).Spec.Identity)
	if !ok || r.CurrentPasswordVersion != "new" {
		t.Fatalf("store lookup = %+v %v", r, ok)
	}
	// A device identified only by DN is found too.
	byDN := lapsv1.DeviceIdentity{ActiveDirectory: &lapsv1.ActiveDirectoryIdentity{DistinguishedName: "cn=PC3,ou=berlin,ou=workstations,dc=corp,dc=example"}}
	if _, ok := h.syncer.Store.Lookup("corp", byDN); !ok {
		t.Fatal("lookup by DN failed")
	}
	if n := len(h.dir.CallsOf("snapshot")); n != 3 {
		t.Fatalf("snapshot calls = %d", n)
	}
}

func TestSyncer_unreachableKeepsSnapshotAndMarksAfterGrace(t *testing.T) {
	h := newHarness(t, device("pc1", 1))
	h.dir.Put(record("pc1", 1))
	ctx := context.Background()
	h.syncer.SyncOnce(ctx)
	h.drain()
	h.dir.FailAlways("snapshot", directory.NewError(directory.ErrUnreachable, "corp", "snapshot", errors.New("dial tcp: refused")))
	if wait := h.syncer.SyncOnce(ctx); wait != 10*time.Second {
		t.Fatalf("first backoff = %v", wait)
	}
	if wait := h.syncer.SyncOnce(ctx); wait != 20*time.Second {
		t.Fatalf("second backoff = %v", wait)
	}
	for range 10 { // doubling stops at the interval
		h.syncer.SyncOnce(ctx)
	}
	if wait := h.syncer.SyncOnce(ctx); wait != h.syncer.interval() {
		t.Fatalf("backoff after many failures = %v, want the interval %v", wait, h.syncer.interval())
	}
	st, _ := h.syncer.Store.State("corp")
	if !st.Loaded || st.Unavailable || st.LastError == nil {
		t.Fatalf("state after short failure: %+v", st)
	}
	if got := h.drain(); len(got) != 0 {
		t.Fatalf("enqueued during grace: %v", got)
	}
	h.clock.Step(16 * time.Minute)
	h.syncer.SyncOnce(ctx)
	st, _ = h.syncer.Store.State("corp")
	if !st.Unavailable || !st.Loaded {
		t.Fatalf("state after grace: %+v", st)
	}
	if got := h.drain(); !slices.Equal(got, []string{"pc1"}) {
		t.Fatalf("enqueued %v at grace expiry", got)
	}
	h.syncer.SyncOnce(ctx)
	if got := h.drain(); len(got) != 0 {
		t.Fatalf("enqueued again while still unavailable: %v", got)
	}
	h.dir.Recover("snapshot")
	h.syncer.SyncOnce(ctx)
	if got := h.drain(); !slices.Equal(got, []string{"pc1"}) {
		t.Fatalf("enqueued %v on recovery", got)
	}
}

func TestSyncer_discoveryCreatesMissingDevicesOnly(t *testing.T) {
	handMade := device("pc1", 1)
	handMade.Labels = map[string]string{"owner": "me"}
	clash := device("pc3", 99) // a hand-made object holds the name pc3 for another computer
	clash.Spec.Identity.ActiveDirectory.DistinguishedName = "CN=pc3,OU=Old,DC=corp,DC=example"
	h := newHarness(t, handMade, clash)
	h.syncer.Discovery = &directoryconfig.Discovery{Enabled: true, Namespace: "fleet", SearchBase: "OU=Workstations,DC=corp,DC=example", Labels: map[string]string{"site": "hq"}}
	h.dir.Put(record("pc1", 1))
	h.dir.Put(record("PC2", 2))
	h.dir.Put(record("pc3", 3))
	outside := record("srv1", 4)
	outside.DistinguishedName = "CN=srv1,OU=Servers,DC=corp,DC=example"
	h.dir.Put(outside)
	h.syncer.SyncOnce(context.Background())

	var list lapsv1.ManagedDeviceList
	if err := h.client.List(context.Background(), &list); err != nil {
		t.Fatal(err)
	}
	names := map[string]lapsv1.ManagedDevice{}
	for _, d := range list.Items {
		names[d.Name] = d
	}
	if len(names) != 4 {
		t.Fatalf("devices = %v", keys(names))
	}
	if got := names["pc1"].Labels; got["owner"] != "me" || got[LabelDiscovered] != "" {
		t.Fatalf("hand-made pc1 was modified: %v", got)
	}
	pc2 := names["pc2"]
	want := map[string]string{LabelDirectory: "corp", LabelDiscovered: "true", LabelDomainController: "false", LabelOU: "Workstations.Berlin", "site": "hq"}
	for k, v := range want {
		if pc2.Labels[k] != v {
			t.Fatalf("pc2 labels = %v, want %v", pc2.Labels, want)
		}
	}
	if pc2.Spec.Identity.ActiveDirectory.ObjectGUID != guid(2) {
		t.Fatalf("pc2 identity = %+v", pc2.Spec.Identity.ActiveDirectory)
	}
	if _, ok := names["pc3-"+shortHash(guid(3))]; !ok {
		t.Fatalf("pc3 clash not suffixed: %v", keys(names))
	}
}

// Another namespace that names a computer first (same name, same objectGUID, same connection)
// does not keep discovery from creating it in the discovery namespace, nor is its object touched.
func TestSyncer_discoveryIsNotSquatted(t *testing.T) {
	squat := device("pc2", 2)
	squat.Namespace = "team-b"
	squat.Labels = map[string]string{"owner": "team-b"}
	h := newHarness(t, squat)
	h.syncer.Discovery = &directoryconfig.Discovery{Enabled: true, Namespace: "fleet"}
	h.dir.Put(record("pc2", 2))
	h.syncer.SyncOnce(context.Background())

	var got lapsv1.ManagedDevice
	if err := h.client.Get(context.Background(), client.ObjectKey{Namespace: "fleet", Name: "pc2"}, &got); err != nil {
		t.Fatalf("discovery did not create fleet/pc2: %v", err)
	}
	if got.Spec.Identity.ActiveDirectory.ObjectGUID != guid(2) || got.Labels[LabelDiscovered] != "true" {
		t.Fatalf("fleet/pc2 = %+v", got)
	}
	var other lapsv1.ManagedDevice
	if err := h.client.Get(context.Background(), client.ObjectKey{Namespace: "team-b", Name: "pc2"}, &other); err != nil || other.Labels["owner"] != "team-b" || other.Labels[LabelDiscovered] != "" {
		t.Fatalf("team-b/pc2 was touched: %+v %v", other.Labels, err)
	}
	// The next pass creates nothing more.
	h.syncer.SyncOnce(context.Background())
	var list lapsv1.ManagedDeviceList
	if err := h.client.List(context.Background(), &list); err != nil || len(list.Items) != 2 {
		t.Fatalf("devices after the second pass: %d %v", len(list.Items), err)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestOUPath(t *testing.T) {
	cases := map[string]string{
		"CN=PC1,OU=Berlin,OU=Workstations,DC=corp,DC=example": "Workstations.Berlin",
		"CN=DC1,OU=Domain Controllers,DC=corp,DC=example":     "Domain_Controllers",
		"CN=PC1,CN=Computers,DC=corp,DC=example":              "",
		`CN=PC1,OU=Sales\, EMEA,OU=Workstations,DC=corp`:      "Workstations.Sales_EMEA",
	}
	for dn, want := range cases {
		if got := OUPath(dn); got != want {
			t.Errorf("OUPath(%q) = %q, want %q", dn, got, want)
		}
	}
}

func TestSyncer_metrics(t *testing.T) {
	h := newHarness(t, device("pc1", 1))
	h.dir.Put(record("pc1", 1))
	trips := testutil.ToFloat64(metrics.SyncRoundTrips.WithLabelValues("corp"))
	h.syncer.SyncOnce(context.Background())
	if got := testutil.ToFloat64(metrics.SyncRoundTrips.WithLabelValues("corp")) - trips; got != 1 {
		t.Fatalf("round trips +%v, want +1", got)
	}
	if got := testutil.ToFloat64(metrics.SyncDevices.WithLabelValues("corp")); got != 1 {
		t.Fatalf("snapshot devices %v", got)
	}
	if n := testutil.CollectAndCount(metrics.SyncDuration); n == 0 {
		t.Fatal("no sync duration observed")
	}
	if got := testutil.ToFloat64(metrics.SyncInterval.WithLabelValues("corp")); got != 300 {
		t.Fatalf("sync interval gauge %v, want 300", got)
	}

	// Failures flip the unavailable gauge only once they outlast the grace period (3 intervals),
	// as the devices' conditions do; one good pass clears it.
	unavailable := func() float64 { return testutil.ToFloat64(metrics.DirectoryUnavailable.WithLabelValues("corp")) }
	h.dir.FailAlways("snapshot", directory.NewError(directory.ErrUnreachable, "corp", "snapshot", errors.New("dial tcp: refused")))
	h.syncer.SyncOnce(context.Background())
	if unavailable() != 0 {
		t.Fatal("unavailable after one failure inside the grace period")
	}
	h.clock.Step(16 * time.Minute)
	h.syncer.SyncOnce(context.Background())
	if unavailable() != 1 {
		t.Fatal("not unavailable after failing past the grace period")
	}
	h.dir.Recover("snapshot")
	h.syncer.SyncOnce(context.Background())
	if unavailable() != 0 {
		t.Fatal("still unavailable after a good pass")
	}
}
