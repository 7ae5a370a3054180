package footprint

import (
	"context"
	"flag"
	"fmt"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/testenv"
)

var benchDevices = flag.Int("footprint.devices", 2000, "BenchmarkAPIServerPerDevice: ManagedDevices to store")

// BenchmarkAPIServerPerDevice stores -footprint.devices ManagedDevices in steady-state shape
// (created by discovery, status written by the controller's and the report API's field
// managers, as the demo leaves them) in a fresh envtest control plane, and reports what one
// device costs: bytes as stored in etcd (managedFields share), kube-apiserver heap after a
// forced GC and RSS, etcd RSS and database bytes. Run it once per size:
//
//	go test ./internal/footprint -run '^$' -bench APIServerPerDevice -benchtime 1x -footprint.devices 10000
func BenchmarkAPIServerPerDevice(b *testing.B) {
	for _, v := range []struct {
		name  string
		clear bool
	}{{"managedFieldsKept", false}, {"managedFieldsCleared", true}} {
		b.Run(v.name, func(b *testing.B) {
			for range b.N {
				benchAPIServer(b, *benchDevices, v.clear)
			}
		})
	}
}

func benchAPIServer(b *testing.B, n int, clearManagedFields bool) {
	ctx := context.Background()
	dataDir := b.TempDir()
	e, cfg, c := startOn(b, dataDir)
	url := e.ControlPlane.Etcd.URL.String()
	heap0, err := APIServerHeap(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	base, err := Measure(ctx, url, ManagedDevicePrefix)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	work := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range 16 {
		wg.Go(func() {
			for i := range work {
				if err := storeSteadyDevice(ctx, c, i, clearManagedFields); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	b.Logf("%d devices stored in %s", n, time.Since(start).Round(time.Second))
	burst, err := APIServerHeap(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	capacity, err := WatchCacheCapacity(ctx, cfg, lapsv1.GroupVersion.Group, "manageddevices")
	if err != nil {
		b.Fatal(err)
	}
	r, err := Measure(ctx, url, ManagedDevicePrefix)
	if err != nil {
		b.Fatal(err)
	}
	if r.Stored.Count != n {
		b.Fatalf("%d devices stored, want %d", r.Stored.Count, n)
	}
	_ = e.Stop()

	// The same etcd data under a new kube-apiserver: its watch cache lists every device once
	// and has no history. That is what a real fleet's apiserver holds, whose writes (about one
	// per device per heartbeat) keep the history near its lower bound of 100 events; the burst
	// above, and a demo run at hundreds of times real time, fill the history's 75 s of real
	// time with tens of thousands of object versions instead.
	e2, cfg2, c2 := startOn(b, dataDir)
	defer func() { _ = e2.Stop() }()
	var list lapsv1.ManagedDeviceList
	if err := c2.List(ctx, &list, client.Limit(1)); err != nil {
		b.Fatal(err)
	}
	time.Sleep(5 * time.Second) // the watch cache initialises from etcd in the background
	if err := c2.List(ctx, &list, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: "0", Limit: 1}}); err != nil {
		b.Fatal(err)
	}
	steady, err := APIServerHeap(ctx, cfg2)
	if err != nil {
		b.Fatal(err)
	}
	time.Sleep(5 * time.Second) // the runtime returns freed pages to the OS in the background
	r2, err := Measure(ctx, e2.ControlPlane.Etcd.URL.String(), ManagedDevicePrefix)
	if err != nil {
		b.Fatal(err)
	}
	per := func(after, before int64) float64 { return float64(after-before) / float64(n) }
	b.ReportMetric(r.Stored.MeanBytes, "stored-B/device")
	b.ReportMetric(float64(r.Stored.P99Bytes), "stored-p99-B/device")
	b.ReportMetric(float64(r.Stored.ManagedFieldsBytes)/float64(n), "managedFields-B/device")
	b.ReportMetric(per(burst.HeapInuse, heap0.HeapInuse), "apiserver-heap-burst-B/device")
	b.ReportMetric(per(steady.HeapInuse, heap0.HeapInuse), "apiserver-heap-B/device")
	b.ReportMetric(per(r2.APIServer.RSS, base.APIServer.RSS), "apiserver-RSS-B/device")
	b.ReportMetric(per(r.EtcdProcess.RSS, base.EtcdProcess.RSS), "etcd-RSS-B/device")
	b.ReportMetric(per(r.EtcdDB.DBSizeInUse, base.EtcdDB.DBSizeInUse), "etcd-db-B/device")
	b.Logf("baseline: apiserver heap %d MiB RSS %d MiB, etcd RSS %d MiB; after the burst: apiserver heap %d MiB RSS %d MiB (peak %d MiB), watch-cache history capacity %d events, etcd RSS %d MiB, db in use %d MiB; restarted on the same data: apiserver heap %d MiB RSS %d MiB",
		heap0.HeapInuse>>20, base.APIServer.RSS>>20, base.EtcdProcess.RSS>>20,
		burst.HeapInuse>>20, r.APIServer.RSS>>20, r.APIServer.PeakRSS>>20, capacity, r.EtcdProcess.RSS>>20, r.EtcdDB.DBSizeInUse>>20,
		steady.HeapInuse>>20, r2.APIServer.RSS>>20)
}

// startOn starts an envtest control plane whose etcd keeps its data in dataDir.
func startOn(b *testing.B, dataDir string) (*envtest.Environment, *rest.Config, client.Client) {
	e, err := testenv.Environment()
	if err != nil {
		b.Fatal(err)
	}
	e.ControlPlane.Etcd = &envtest.Etcd{DataDir: dataDir}
	cfg, err := e.Start()
	if err != nil {
		b.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: k8s.Scheme()})
	if err != nil {
		_ = e.Stop()
		b.Fatal(err)
	}
	return e, cfg, c
}

// storeSteadyDevice writes one device the way the system does: discovery's create (and, when
// asked, its managedFields reset), the controller's status, the report API's status.agent.
func storeSteadyDevice(ctx context.Context, c client.Client, i int, clearManagedFields bool) error {
	name := fmt.Sprintf("ws-%06d", i)
	d := &lapsv1.ManagedDevice{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{
			"laps.fleetlaps.io/directory": "demo-ad", "laps.fleetlaps.io/discovered": "true",
			"laps.fleetlaps.io/domain-controller": "false", "laps.fleetlaps.io/ou": "Workstations.Berlin",
		}},
		Spec: lapsv1.ManagedDeviceSpec{
			DirectoryRef: lapsv1.DirectoryReference{Name: "demo-ad"},
			Identity: lapsv1.DeviceIdentity{ActiveDirectory: &lapsv1.ActiveDirectoryIdentity{
				DistinguishedName: fmt.Sprintf("CN=WS-%06d,OU=Berlin,OU=Workstations,DC=demo,DC=fleetlaps,DC=local", i),
				ObjectGUID:        fmt.Sprintf("b29338bb-9e62-4364-8f1b-%012d", i), SAMAccountName: fmt.Sprintf("WS-%06d$", i),
			}},
		},
	}
	if err := c.Create(ctx, d, client.FieldOwner("fleetlaps-discovery")); err != nil {
		return err
	}
	if clearManagedFields {
		if err := c.Patch(ctx, d, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"managedFields":[{}]}}`))); err != nil {
			return err
		}
	}
	t := metav1.NewTime(time.Date(2026, 12, 7, 8, 7, 47, 0, time.UTC))
	exp := metav1.NewTime(t.Add(30 * 24 * time.Hour))
	cond := func(typ string, st metav1.ConditionStatus, reason, msg string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: st, Reason: reason, Message: msg, ObservedGeneration: 1, LastTransitionTime: t}
	}
	before := d.DeepCopy()
	d.Status = lapsv1.ManagedDeviceStatus{
		ObservedGeneration: 1,
		Conditions: []metav1.Condition{
			cond(lapsv1.ConditionReady, metav1.ConditionTrue, "Compliant", "password is current"),
			cond(lapsv1.ConditionAgentReporting, metav1.ConditionTrue, "Reporting", "last report less than 18h0m0s ago"),
			cond(lapsv1.ConditionPasswordCurrent, metav1.ConditionTrue, "NotExpired", "password expires at "+exp.UTC().Format(time.RFC3339)),
			cond(lapsv1.ConditionPolicyApplied, metav1.ConditionTrue, "Applied", "LapsPolicy workstations (root GroupPolicy, priority 0) is effective"),
			cond(lapsv1.ConditionPolicyCompatible, metav1.ConditionTrue, "Compatible", "OS build 10.0.26100 supports every value of the policy"),
			cond(lapsv1.ConditionRollbackDetected, metav1.ConditionFalse, "VersionsMatch", "the device's LastPasswordVersion matches msLAPS-CurrentPasswordVersion"),
			cond(lapsv1.ConditionRotating, metav1.ConditionFalse, "NoRotationRequested", "no rotation in progress"),
		},
		EffectivePolicy:          &lapsv1.EffectivePolicy{Name: "workstations", PolicyRoot: lapsv1.PolicyRootGroupPolicy, Hash: "716bff515578512e"},
		Account:                  "LapsAdmin",
		PasswordUpdateTime:       &t,
		PasswordUpdateTimeSource: "ReplicationMetadata",
		PasswordExpirationTime:   &exp,
		NextRotationTime:         &exp,
		CurrentPasswordVersion:   "9717b789-4750-4d72-b1a5-c63b31c1fb76",
		Source:                   lapsv1.PasswordSourceEncrypted,
	}
	if err := c.Status().Patch(ctx, d, client.MergeFrom(before), client.FieldOwner("fleetlaps-controller")); err != nil {
		return err
	}
	before = d.DeepCopy()
	d.Status.Agent = &lapsv1.AgentStatus{
		LastReportTime: &t, OSBuild: "10.0.26100", ActivePolicyRoot: lapsv1.PolicyRootGroupPolicy, AppliedPolicyHash: "4758d1ed7e71eb6a",
		LastSequence: 1796712932323, LocalPasswordVersion: "9717b789-4750-4d72-b1a5-c63b31c1fb76", LocalExpirationTime: &exp,
		BootMode: "Normal", RecentEvents: []lapsv1.AgentEvent{{ID: 10018, Time: t}},
	}
	return c.Status().Patch(ctx, d, client.MergeFrom(before), client.FieldOwner("fleetlaps-report"))
}
