package controllers

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/directory/directorytest"
)

// reconcileTotal reads controller_runtime_reconcile_total for one controller (all managers of
// the test binary share the registry; tests run one at a time).
func reconcileTotal(t testing.TB, controller string) float64 {
	t.Helper()
	fams, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range fams {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == controller {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

// settle waits until the reconcile counters and the write counter stop moving for quiet.
func settle(t testing.TB, writes *atomicInt, quiet time.Duration) {
	t.Helper()
	last := -1.0
	var lastW int64 = -1
	stable := time.Now()
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		n := reconcileTotal(t, "manageddevice") + reconcileTotal(t, "lapspolicy") + reconcileTotal(t, "rotationrequest")
		w := writes.Load()
		if n != last || w != lastW {
			last, lastW, stable = n, w, time.Now()
		} else if time.Since(stable) >= quiet {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatal("controllers did not settle")
}

// fleetInNamespace creates n labelled devices (and their records in dir) in parallel.
func fleetInNamespace(t testing.TB, ns, shard string, n, base int, dir *directorytest.Fake) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	work := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				name := fmt.Sprintf("d%05d", i)
				dir.Put(newRecord(name, base+i, suiteClock.Now().Add(-24*time.Hour)))
				if err := k8s.Create(context.Background(), in(newDevice(name, base+i, map[string]string{shardLabel: shard}), ns)); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func allReady(ns string, n int) error {
	var list lapsv1.ManagedDeviceList
	if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		return err
	}
	ready := 0
	for _, d := range list.Items {
		if condIs(d.Status.Conditions, lapsv1.ConditionReady, metav1.ConditionTrue, "") == nil {
			ready++
		}
	}
	if ready != n {
		return fmt.Errorf("%d of %d devices Ready", ready, n)
	}
	return nil
}

// TestStory_zeroWritesAtSteadyState runs a manager over 500 devices until settled, then counts
// apiserver writes (a wrapping client) during the next full sync cycle: (1) the same manager's
// next cycle; (2) a restarted manager: every device reconciled from the initial list with an
// empty snapshot store, then again from a first sync that reports every record as changed.
func TestStory_zeroWritesAtSteadyState(t *testing.T) {
	const ns, n = "story-scale", 500
	createNamespace(t, ns)
	dir := directorytest.New("corp", directory.TypeActiveDirectory, suiteClock.Now)
	mustCreate(t, in(newPolicy("base", lapsv1.PolicyRootCSP, 0, nil), ns))
	fleetInNamespace(t, ns, "scale", n, 10000, dir)

	ctx1, stop1 := context.WithCancel(context.Background())
	var w1 atomicInt
	mgr1, comps1, err := newManager(ctx1, "shard=scale", dir, &w1.Int64, nil)
	if err != nil {
		t.Fatal(err)
	}
	done1 := make(chan error, 1)
	go func() { done1 <- mgr1.Start(ctx1) }()
	mgr1.GetCache().WaitForCacheSync(ctx1)
	start := time.Now()
	r0 := reconcileTotal(t, "manageddevice")
	comps1.Syncers[0].SyncOnce(ctx1)
	eventually(t, 2*time.Minute, func() error { return allReady(ns, n) })
	quiet := countsDelay + time.Second // the policy counts follow device changes after countsDelay
	settle(t, &w1, quiet)
	t.Logf("first convergence of %d devices: %d writes, %.0f device reconciles in %s", n, w1.Load(), reconcileTotal(t, "manageddevice")-r0, time.Since(start).Round(time.Millisecond))

	before := w1.Load()
	comps1.Syncers[0].SyncOnce(ctx1)
	settle(t, &w1, quiet)
	if got := w1.Load() - before; got != 0 {
		t.Fatalf("steady-state sync cycle wrote %d times, want 0", got)
	}
	stop1()
	<-done1

	// Restart: a new manager process, and a directory whose first snapshot reports all changed.
	fresh := directorytest.New("corp", directory.TypeActiveDirectory, suiteClock.Now)
	for i := range n {
		r, _ := dir.Get(guidOf(10000 + i))
		fresh.Put(r)
	}
	ctx2, stop2 := context.WithCancel(context.Background())
	defer stop2()
	var w2 atomicInt
	mgr2, comps2, err := newManager(ctx2, "shard=scale", fresh, &w2.Int64, nil)
	if err != nil {
		t.Fatal(err)
	}
	done2 := make(chan error, 1)
	r1 := reconcileTotal(t, "manageddevice")
	start = time.Now()
	go func() { done2 <- mgr2.Start(ctx2) }()
	mgr2.GetCache().WaitForCacheSync(ctx2)
	comps2.Syncers[0].SyncOnce(ctx2)
	settle(t, &w2, quiet)
	elapsed := time.Since(start) - quiet
	reconciles := reconcileTotal(t, "manageddevice") - r1
	t.Logf("MEASURE steady-state full sync cycle after restart: %d devices, %d writes, %.0f device reconciles, %.0f reconciles/s",
		n, w2.Load(), reconciles, reconciles/elapsed.Seconds())
	if w2.Load() != 0 {
		t.Fatalf("restart + full sync cycle wrote %d times, want 0", w2.Load())
	}
	if reconciles < n {
		t.Fatalf("only %.0f device reconciles; the cycle did not cover every device", reconciles)
	}
	stop2()
	<-done2
}

// BenchmarkManager10k measures a manager over 10,000 devices in the fake directory (and as
// ManagedDevices): time to converge, reconciles/s, and heap in use afterwards.
//
//	KUBEBUILDER_ASSETS=... go test ./controllers/ -run '^$' -bench Manager10k -benchtime 1x
func BenchmarkManager10k(b *testing.B) {
	const ns, n = "bench-10k", 10000
	for range b.N {
		if err := k8s.Create(context.Background(), in(newPolicy("base", lapsv1.PolicyRootCSP, 0, nil), ns)); err != nil {
			createNamespaceB(b, ns)
			if err := k8s.Create(context.Background(), in(newPolicy("base", lapsv1.PolicyRootCSP, 0, nil), ns)); err != nil {
				b.Fatal(err)
			}
		}
		dir := directorytest.New("corp", directory.TypeActiveDirectory, suiteClock.Now)
		fleetInNamespace(b, ns, "scale", n, 100000, dir)
		var m0 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		ctx, stop := context.WithCancel(context.Background())
		var w atomicInt
		mgr, comps, err := newManager(ctx, "shard=scale", dir, &w.Int64, nil)
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan error, 1)
		r0 := reconcileTotal(b, "manageddevice")
		start := time.Now()
		go func() { done <- mgr.Start(ctx) }()
		mgr.GetCache().WaitForCacheSync(ctx)
		comps.Syncers[0].SyncOnce(ctx)
		quiet := countsDelay + time.Second
		settle(b, &w, quiet)
		elapsed := time.Since(start) - quiet
		reconciles := reconcileTotal(b, "manageddevice") - r0
		var m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m1)
		b.ReportMetric(float64(m1.HeapInuse)/(1<<20), "heapMiB")
		b.ReportMetric(float64(int64(m1.HeapInuse)-int64(m0.HeapInuse))/(1<<20), "managerHeapMiB")
		b.ReportMetric(reconciles/elapsed.Seconds(), "reconciles/s")
		b.ReportMetric(float64(w.Load()), "writes")
		b.Logf("MEASURE 10k: converged in %s, %d writes, %.0f device reconciles (%.0f/s), heap in use %d MiB (manager share %d MiB)",
			elapsed.Round(time.Millisecond), w.Load(), reconciles, reconciles/elapsed.Seconds(), m1.HeapInuse>>20, (int64(m1.HeapInuse)-int64(m0.HeapInuse))>>20)
		stop()
		<-done
	}
}

func createNamespaceB(b *testing.B, name string) {
	b.Helper()
	if err := k8s.Create(context.Background(), nsObject(name)); err != nil {
		b.Fatal(err)
	}
}
