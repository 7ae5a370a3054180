package controllers

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
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
	settleWithin(t, writes, quiet, 5*time.Minute)
}

// settleWithin is settle with a deadline (large fleets take longer than 5 minutes).
func settleWithin(t testing.TB, writes *atomicInt, quiet, timeout time.Duration) {
	t.Helper()
	last := -1.0
	var lastW int64 = -1
	stable := time.Now()
	deadline := time.Now().Add(timeout)
	progress := time.Now()
	for time.Now().Before(deadline) {
		n := reconcileTotal(t, "manageddevice") + reconcileTotal(t, "lapspolicy") + reconcileTotal(t, "rotationrequest")
		w := writes.Load()
		if timeout > 10*time.Minute && time.Since(progress) >= time.Minute {
			// Long runs say where they are (b.Log prints only at the end).
			progress = time.Now()
			fmt.Fprintf(os.Stderr, "%s settling: %.0f reconciles, %d writes so far\n", progress.UTC().Format(time.TimeOnly), n, w)
		}
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

// BenchmarkManager10k and BenchmarkManager100k measure one manager, configured as cmd/manager's
// (CacheOptions), over n ManagedDevices in envtest and n records in the fake directory: time to
// converge, reconciles/s, heap and RSS per device, writes; then a restarted manager over the same
// state: time until its caches are synced and its reconciles settle, and its writes (want 0).
//
//	KUBEBUILDER_ASSETS=... go test ./controllers/ -run '^$' -bench Manager10k -benchmem -benchtime 1x
//	KUBEBUILDER_ASSETS=... go test ./controllers/ -run '^$' -bench Manager100k -benchmem -benchtime 1x
//
// FLEETLAPS_HEAP_PROFILE=path writes the heap profile of the converged manager (the -memprofile
// of the test binary is taken after the manager has stopped).
func BenchmarkManager10k(b *testing.B) { benchmarkManager(b, 10_000) }

// BenchmarkManager100k: see BenchmarkManager10k. About 15 minutes on an idle 2-core machine;
// a long run prints its progress to stderr every minute.
func BenchmarkManager100k(b *testing.B) { benchmarkManager(b, 100_000) }

// managerFigures are one run's measurements.
type managerFigures struct {
	converge, cacheSync, restartSettle time.Duration
	reconciles, restartReconciles      float64
	writes, restartWrites              int64
	// heap: in use after GC. base: before the manager (fake directory filled); fake: the fake
	// directory's share (its records, and the previous snapshot it keeps while running),
	// measured apart on a copy.
	heapBase, heapEnd, fakeRest, fakeRun uint64
	// live: HeapAlloc after GC (the objects themselves; in use also counts the free slots
	// of partly used spans).
	heapLiveBase, heapLiveEnd uint64
	rssBase, rssEnd           uint64
}

func benchmarkManager(b *testing.B, n int) {
	for i := range b.N {
		ns := fmt.Sprintf("bench-%dk-%d", n/1000, i)
		shard := map[string]string{shardLabel: "scale", "bench": ns}
		selector := "shard=scale,bench=" + ns // never another run's devices
		createNamespaceB(b, ns)
		if err := k8s.Create(context.Background(), in(newPolicy("base", lapsv1.PolicyRootCSP, 0, nil), ns)); err != nil {
			b.Fatal(err)
		}
		h := heapAfterGC()
		records := benchFleet(b, ns, shard, n)
		f := measureManager(b, ns, selector, n, records, growth(h, heapAfterGC()))
		per := func(v float64) float64 { return v / float64(n) }
		managerHeap := float64(f.heapEnd) - float64(f.heapBase) - (float64(f.fakeRun) - float64(f.fakeRest))
		b.ReportMetric(per(managerHeap), "heapB/device")
		b.ReportMetric(per(float64(f.heapEnd)-float64(f.fakeRun)), "totalHeapB/device")
		b.ReportMetric(per(float64(f.heapLiveEnd)-float64(f.heapLiveBase)-(float64(f.fakeRun)-float64(f.fakeRest))), "liveB/device")
		b.ReportMetric(per(float64(f.fakeRun)), "fakeDirB/device")
		b.ReportMetric(per(float64(f.rssEnd)-float64(f.rssBase)-(float64(f.fakeRun)-float64(f.fakeRest))), "rssB/device")
		b.ReportMetric(per(float64(f.rssEnd)-float64(f.fakeRun)), "totalRssB/device")
		b.ReportMetric(f.converge.Seconds(), "converge-s")
		b.ReportMetric(f.reconciles/f.converge.Seconds(), "reconciles/s")
		b.ReportMetric(float64(f.writes), "writes")
		b.ReportMetric(f.cacheSync.Seconds(), "restartSync-s")
		b.ReportMetric(f.restartSettle.Seconds(), "restartSettle-s")
		b.ReportMetric(float64(f.restartWrites), "restartWrites")
		b.Logf("MEASURE %dk: converged in %s (%d writes, %.0f device reconciles, %.0f/s); heap in use %d MiB after GC (live %d MiB), "+
			"before the manager %d MiB, fake directory %d MiB (%d at rest); manager %.0f B/device; RSS %d MiB (before the manager %d MiB); "+
			"restart: caches synced in %s, settled in %s, %.0f device reconciles, %d writes",
			n/1000, f.converge.Round(time.Millisecond), f.writes, f.reconciles, f.reconciles/f.converge.Seconds(), f.heapEnd>>20, f.heapLiveEnd>>20,
			f.heapBase>>20, f.fakeRun>>20, f.fakeRest>>20, per(managerHeap), f.rssEnd>>20, f.rssBase>>20,
			f.cacheSync.Round(time.Millisecond), f.restartSettle.Round(time.Millisecond), f.restartReconciles, f.restartWrites)
		for _, p := range controlPlaneRSS() {
			b.Logf("MEASURE %dk: %s RSS %d MiB", n/1000, p.name, p.rss>>20)
		}
	}
}

// benchFleet creates n labelled ManagedDevices in ns (16 writers in parallel) and returns their
// directory records (as an AD backend reads them: names, SID, DNS name, USN).
func benchFleet(b *testing.B, ns string, labels map[string]string, n int) []directory.DeviceRecord {
	b.Helper()
	records := make([]directory.DeviceRecord, n)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	work := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				name := fmt.Sprintf("pc-%06d", i)
				r := newRecord(name, 200000+i, suiteClock.Now().Add(-24*time.Hour))
				r.SAMAccountName = strings.ToUpper(name) + "$"
				r.DNSHostName = name + ".corp.example"
				r.ObjectSID = fmt.Sprintf("S-1-5-21-3623811015-3361044348-30300820-%d", 1100+i)
				r.USNChanged = int64(40000 + i)
				records[i] = r
				d := in(newDevice(name, 200000+i, labels), ns)
				d.Spec.Identity.ActiveDirectory.SAMAccountName = r.SAMAccountName
				if err := k8s.Create(context.Background(), d); err != nil {
					select {
					case errs <- err:
					default:
					}
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
		b.Fatal(err)
	}
	return records
}

// measureManager runs a manager over the fleet until it settles, then a restarted one.
// recordsHeap is what the records took on the heap (their slice and strings).
func measureManager(b *testing.B, ns, selector string, n int, records []directory.DeviceRecord, recordsHeap uint64) managerFigures {
	b.Helper()
	var f managerFigures
	// The fake directory's share, measured on a copy: its records plus the previous snapshot it
	// keeps to report changes.
	// The records' strings count as the directory's: the fake shares them.
	before := heapAfterGC()
	probe := fakeWith(records)
	f.fakeRest = growth(before, heapAfterGC()) + recordsHeap
	if _, err := probe.Snapshot(context.Background()); err != nil {
		b.Fatal(err)
	}
	f.fakeRun = growth(before, heapAfterGC()) + recordsHeap
	runtime.KeepAlive(probe)
	probe = nil

	dir := fakeWith(records)
	if os.Getenv("FLEETLAPS_HEAP_PROFILE") != "" {
		runtime.MemProfileRate = 16 << 10 // fine enough to tell the cache's parts apart
	}
	f.heapBase, f.rssBase = heapAfterGC(), rssAfterGC()
	f.heapLiveBase = liveHeap()
	// The policy counts follow device changes after countsDelay; the deadline allows 40
	// reconciles/s (a loaded box).
	quiet := countsDelay + time.Second
	timeout := 5*time.Minute + time.Duration(n)*25*time.Millisecond

	ctx, stop := context.WithCancel(context.Background())
	var w atomicInt
	mgr, comps, err := newManager(ctx, selector, dir, &w.Int64, nil)
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	r0 := reconcileTotal(b, "manageddevice")
	start := time.Now()
	go func() { done <- mgr.Start(ctx) }()
	waitDeviceCache(b, ctx, mgr)
	comps.Syncers[0].SyncOnce(ctx)
	// Settled is not enough: after an apiserver hiccup the failed devices wait in their retry
	// backoff, and the counters stand still. Converged is every device Ready, then settled.
	deadline := time.Now().Add(timeout)
	for {
		settleWithin(b, &w, quiet, time.Until(deadline))
		err := allReady(ns, n)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal(err)
		}
		fmt.Fprintf(os.Stderr, "%s not converged yet: %v\n", time.Now().UTC().Format(time.TimeOnly), err)
		time.Sleep(15 * time.Second)
	}
	f.converge = time.Since(start) - quiet
	f.reconciles = reconcileTotal(b, "manageddevice") - r0
	f.writes = w.Load()
	f.heapEnd = heapAfterGC()
	f.heapLiveEnd = liveHeap()
	f.rssEnd = rssAfterGC()
	if p := os.Getenv("FLEETLAPS_HEAP_PROFILE"); p != "" {
		writeHeapProfile(b, p)
	}
	var one lapsv1.ManagedDevice
	if err := mgr.GetClient().Get(ctx, client.ObjectKey{Namespace: ns, Name: "pc-000000"}, &one); err == nil {
		data, _ := json.Marshal(&one)
		b.Logf("MEASURE one cached device: %d bytes of JSON, %d conditions", len(data), len(one.Status.Conditions))
		if p := os.Getenv("FLEETLAPS_HEAP_PROFILE"); p != "" {
			_ = os.WriteFile(p+".device.json", data, 0o644)
		}
	}
	stop()
	<-done
	runtime.KeepAlive(dir)

	// Restart: a new manager process whose directory connection is new too, so its first
	// snapshot reports every record as changed; nothing else changed, so nothing is written.
	dir = fakeWith(records)
	ctx2, stop2 := context.WithCancel(context.Background())
	defer stop2()
	var w2 atomicInt
	mgr2, comps2, err := newManager(ctx2, selector, dir, &w2.Int64, nil)
	if err != nil {
		b.Fatal(err)
	}
	done2 := make(chan error, 1)
	r1 := reconcileTotal(b, "manageddevice")
	start = time.Now()
	go func() { done2 <- mgr2.Start(ctx2) }()
	waitDeviceCache(b, ctx2, mgr2)
	f.cacheSync = time.Since(start)
	comps2.Syncers[0].SyncOnce(ctx2)
	settleWithin(b, &w2, quiet, timeout)
	f.restartSettle = time.Since(start) - quiet
	f.restartReconciles = reconcileTotal(b, "manageddevice") - r1
	f.restartWrites = w2.Load()
	stop2()
	<-done2
	return f
}

// waitDeviceCache returns once every cache, the ManagedDevices' included, has synced (with no
// field index on ManagedDevices their informer starts with the first watch or read, after
// WaitForCacheSync alone could return).
func waitDeviceCache(b *testing.B, ctx context.Context, mgr ctrl.Manager) {
	b.Helper()
	if _, err := mgr.GetCache().GetInformer(ctx, &lapsv1.ManagedDevice{}); err != nil {
		b.Fatal(err)
	}
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		b.Fatal("caches did not sync")
	}
}

func fakeWith(records []directory.DeviceRecord) *directorytest.Fake {
	dir := directorytest.New("corp", directory.TypeActiveDirectory, suiteClock.Now)
	for _, r := range records {
		dir.Put(r)
	}
	return dir
}

func growth(before, after uint64) uint64 {
	if after < before {
		return 0
	}
	return after - before
}

// liveHeap is HeapAlloc after the last GC.
func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func heapAfterGC() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// rssAfterGC is the process's resident set after a GC that returns free memory to the OS.
func rssAfterGC() uint64 {
	debug.FreeOSMemory()
	return rssOf("self")
}

// rssOf reads VmRSS of /proc/<pid>/status (0 when unreadable).
func rssOf(pid string) uint64 {
	data, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

type processRSS struct {
	name string
	rss  uint64
}

// controlPlaneRSS finds envtest's kube-apiserver and etcd among this process's children.
func controlPlaneRSS() []processRSS {
	var out []processRSS
	self := strconv.Itoa(os.Getpid())
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(stat)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		comm, rest := s[open+1:end], strings.Fields(s[end+1:])
		if len(rest) > 1 && rest[1] == self && (comm == "kube-apiserver" || comm == "etcd") {
			out = append(out, processRSS{comm, rssOf(e.Name())})
		}
	}
	return out
}

func writeHeapProfile(b *testing.B, path string) {
	b.Helper()
	fh, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer fh.Close()
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(fh, 0); err != nil {
		b.Fatal(err)
	}
}

func createNamespaceB(b *testing.B, name string) {
	b.Helper()
	if err := k8s.Create(context.Background(), nsObject(name)); err != nil {
		b.Fatal(err)
	}
}

// raiseTimeoutFor100k lets `go test -bench Manager100k` run alone: when the 100k benchmark is
// selected and -timeout is go test's default (10m, shorter than the run), it becomes 90m (the
// run takes about 15 minutes on an idle 2-core box, much longer on a loaded one).
func raiseTimeoutFor100k() {
	if !flag.Parsed() {
		flag.Parse()
	}
	bench, timeout := flag.Lookup("test.bench"), flag.Lookup("test.timeout")
	if bench == nil || timeout == nil || timeout.Value.String() != (10*time.Minute).String() {
		return
	}
	pattern := strings.SplitN(bench.Value.String(), "/", 2)[0]
	if ok, err := regexp.MatchString(pattern, "BenchmarkManager100k"); err != nil || !ok || pattern == "" {
		return
	}
	_ = timeout.Value.Set((90 * time.Minute).String())
	fmt.Fprintln(os.Stderr, "BenchmarkManager100k selected: -timeout raised from go test's default 10m to 90m")
}
