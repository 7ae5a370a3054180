package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/directory/ad/adbench"
	"github.com/fleetlaps/fleetlaps/internal/footprint"
	"github.com/fleetlaps/fleetlaps/internal/ldapserver"
	"github.com/fleetlaps/fleetlaps/internal/simclock"
)

// Benchmark (make bench): the whole system at a given fleet size, in phases. Each size runs in
// its own process (one manager per process, an honest RSS) and prints its figures as JSON; the
// parent prints one table per size with each figure next to its target and its anchor.
const (
	benchWarmup  = time.Hour // simulated: syncs and agent reports after the start-up wave
	benchProbes  = 20        // single-device RotationRequests timed from create to directory write
	benchBlobLen = 64        // opaque blob bytes per password (the default 1200 would dominate the world's heap)
	// benchMaxEvents bounds each simulated device's event log: the agents report the newest
	// event of each ID, and 64 events a device were a third of the simulation's heap.
	benchMaxEvents = 16
	// benchPasswordAgeDays is every bench policy's password age: a realistic 30 days, so the
	// steady rate is N/30 rotations a day.
	benchPasswordAgeDays = 30
	// benchSelectorWindow is how long (simulated) the selector request runs before its limits
	// are read: long enough for both to bind (the rate from the first minute, the concurrency
	// once maxConcurrent devices wait for their next processing cycle).
	benchSelectorWindow = 90 * time.Minute
	// benchSettle is how long reconciles and writes must stay still to call the manager settled.
	benchSettle = 5 * time.Second
)

// benchSpeedFor is the simulated speed of a size when --bench-speed is not given: the
// heartbeats and processing cycles per real second grow with N x speed, so it falls with N
// (240 up to 10k devices, 24 at 100k).
func benchSpeedFor(n int) float64 { return min(240, 240*10000/float64(n)) }

// benchTiers are the demo's tiers with a 30-day password age and one tier, servers, holding a
// tenth of the fleet (10,000 devices at 100k) with rotation limits the selector request must
// honour: a tenth of the tier at once, a hundredth per minute.
func benchTiers(n int) []tier {
	tiers := demoTiers()
	for i := range tiers {
		tiers[i].Policy.PasswordAgeDays = benchPasswordAgeDays
	}
	tiers[0].Share, tiers[1].Share = 800, 100
	servers := max(n*tiers[1].Share/1000, 1)
	tiers[1].Rotation = &lapsv1.RotationSettings{
		MaxConcurrent: ptr.To(int32(max(servers/10, 1))),
		RatePerMinute: ptr.To(int32(max(servers/100, 1))),
	}
	return tiers
}

// benchPhase is one step's real duration.
type benchPhase struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// benchRow is one size's figures.
type benchRow struct {
	Devices  int          `json:"devices"`
	PageSize int          `json:"pageSize"`
	Speed    float64      `json:"speed"`
	Phases   []benchPhase `json:"phases"`

	// Directory sync against the embedded directory during the run.
	FirstSyncRoundTrips int64   `json:"firstSyncRoundTrips"`
	RoundTripsPerSync   float64 `json:"roundTripsPerSync"`
	Syncs               float64 `json:"syncs"`

	// Steady state (the window after the warm-up), per simulated hour.
	WindowHours         float64          `json:"windowSimulatedHours"`
	WritesPerSimHour    float64          `json:"managerWritesPerSimulatedHour"`
	AgentWritesPerHour  float64          `json:"agentWritesPerSimulatedHour"`
	RotationsPerSimHour float64          `json:"rotationsPerSimulatedHour"`
	HeartbeatsPerHour   float64          `json:"expectedHeartbeatsPerSimulatedHour"`
	WritesByKind        map[string]int64 `json:"managerWritesByKind"`
	ReconcilesPerSecond float64          `json:"reconcilesPerSecond"`
	SimHoursPerSecond   float64          `json:"simulatedHoursPerSecond"`
	ReadyWaitSeconds    float64          `json:"readyWaitSeconds"`

	LatencyP50 float64 `json:"rotationWriteLatencyP50Seconds"`
	LatencyP99 float64 `json:"rotationWriteLatencyP99Seconds"`

	Selector selectorFigures `json:"selectorRequest"`
	Restart  restartFigures  `json:"restart"`
	Memory   memoryFigures   `json:"memory"`
	// Stored is the ManagedDevices as etcd holds them at the end (steady state), EtcdDB its
	// database.
	Stored footprint.StoredSizes `json:"storedManagedDevices"`
	EtcdDB footprint.EtcdStatus  `json:"etcdDB"`
	// Samba is the directory sync of N computers on a Samba AD DC against a bare paged search.
	Samba    adbench.Result `json:"samba"`
	SambaErr string         `json:"sambaError,omitempty"`
}

// selectorFigures is the selector request's run: its limits and what the directory writes did.
type selectorFigures struct {
	Targets           int     `json:"targets"`
	MaxConcurrent     int     `json:"maxConcurrent"`
	RatePerMinute     int     `json:"ratePerMinute"`
	Written           int     `json:"written"`
	Rotated           int     `json:"rotated"`
	MaxInFlight       int     `json:"maxInFlight"`
	MaxWritesInMinute int     `json:"maxWritesInAnyMinute"`
	StatusBytes       int     `json:"statusBytes"`
	SimulatedMinutes  float64 `json:"simulatedMinutes"`
	Err               string  `json:"error,omitempty"`
}

// restartFigures is a second manager started over the same state with nothing changed.
type restartFigures struct {
	CachesSyncedSeconds float64          `json:"cachesSyncedSeconds"`
	SettledSeconds      float64          `json:"settledSeconds"`
	Reconciles          float64          `json:"deviceReconciles"`
	Writes              int64            `json:"writes"`
	WritesByKind        map[string]int64 `json:"writesByKind,omitempty"`
}

// memoryFigures are heap and resident sizes at the end of the run.
type memoryFigures struct {
	// ManagerHeapBytes is the restarted manager's heap in use after GC (caches, directory
	// snapshot, queues, report API), measured as the heap it added to the process.
	ManagerHeapBytes int64 `json:"managerHeapBytes"`
	// ProcessRSSBytes is this process: the manager, the simulated fleet and agents, the
	// embedded directory.
	ProcessRSSBytes    int64 `json:"processRSSBytes"`
	ProcessPeakBytes   int64 `json:"processPeakRSSBytes"`
	APIServerRSSBytes  int64 `json:"apiserverRSSBytes"`
	APIServerPeakBytes int64 `json:"apiserverPeakRSSBytes"`
	// APIServerHeapBytes is the kube-apiserver's heap in use after a forced GC at the end.
	APIServerHeapBytes int64 `json:"apiserverHeapBytes"`
	EtcdRSSBytes       int64 `json:"etcdRSSBytes"`
	EtcdPeakBytes      int64 `json:"etcdPeakRSSBytes"`
	// MachinePeakBytes is the machine's peak memory in use (MemTotal - MemAvailable) during the
	// run, MachineBaseBytes before it started.
	MachinePeakBytes int64 `json:"machinePeakBytes"`
	MachineBaseBytes int64 `json:"machineBaseBytes"`
}

func runBenchFlag(o options, list string) error {
	if o.assets == "" {
		return fmt.Errorf("--bench needs --assets (hack/envtest-assets.sh prints it)")
	}
	var sizes []int
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return fmt.Errorf("--bench: %q is not a fleet size", f)
		}
		sizes = append(sizes, n)
	}
	return runBench(o, sizes)
}

func benchOneRun(o options, n int) error {
	// The demo's progress output goes to stderr; stdout carries only the JSON row.
	stdout := os.Stdout
	os.Stdout = os.Stderr
	defer func() { os.Stdout = stdout }()
	return benchOne(o, n, stdout)
}

// runBench runs every size in a child process (demo --bench-one N) and prints the tables.
func runBench(o options, sizes []int) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var rows []benchRow
	for _, n := range sizes {
		speed := o.benchSpeed
		if speed <= 0 {
			speed = benchSpeedFor(n)
		}
		fmt.Fprintf(os.Stderr, ">> bench: %d devices (%s simulated warm-up, %s measured, speed x%g)\n", n, benchWarmup, o.benchWindow, speed)
		start := time.Now()
		cmd := exec.Command(self, "--bench-one", strconv.Itoa(n), "--assets", o.assets, "--seed", strconv.FormatUint(o.seed, 10),
			"--bench-window", o.benchWindow.String(), "--bench-speed", strconv.FormatFloat(speed, 'g', -1, 64), "--bench-profile", o.benchProfile)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("bench %d: %w\n%s", n, err, out.String())
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		var r benchRow
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
			return fmt.Errorf("bench %d: %w\n%s", n, err, out.String())
		}
		fmt.Fprintf(os.Stderr, ">> bench: %d devices done in %s\n", n, time.Since(start).Round(time.Second))
		rows = append(rows, r)
		// Each size's table as soon as it is measured: a long run shows its figures early.
		printBenchTable(os.Stdout, r)
	}
	for _, r := range rows {
		data, _ := json.Marshal(r)
		fmt.Printf("%d devices: %s\n", r.Devices, data)
	}
	return nil
}

// counters are the cumulative figures sampled at the window's edges.
type counters struct {
	wall                           time.Time
	writes, agentWrites, rotations int64
	reconciles, roundTrips, syncs  float64
}

func sample(cp *controlPlane, w *world) counters {
	c := counters{wall: time.Now(), writes: cp.mgr.writes.Load(), agentWrites: cp.mgr.report.Server.Stats().StatusWrites, rotations: w.fleet.Stats().Rotations}
	c.reconciles, c.roundTrips, c.syncs = gatherCounters()
	return c
}

// gatherCounters reads the reconciles, directory round trips and successful syncs so far from
// the process's metrics registry.
func gatherCounters() (reconciles, roundTrips, syncs float64) {
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		return 0, 0, 0
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch f.GetName() {
			case "controller_runtime_reconcile_total":
				reconciles += m.GetCounter().GetValue()
			case "fleetlaps_directory_sync_round_trips_total":
				roundTrips += m.GetCounter().GetValue()
			case "fleetlaps_directory_sync_duration_seconds":
				for _, l := range m.GetLabel() {
					if l.GetName() == "result" && l.GetValue() == "success" {
						syncs += float64(m.GetHistogram().GetSampleCount())
					}
				}
			}
		}
	}
	return reconciles, roundTrips, syncs
}

// benchOne measures one fleet size in this process and prints its row as JSON.
func benchOne(o options, n int, out *os.File) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mem := startMemorySampler(ctx)
	r := benchRow{Devices: n, Speed: o.benchSpeed}
	phaseStart := time.Now()
	phase := func(name string) {
		r.Phases = append(r.Phases, benchPhase{Name: name, Seconds: time.Since(phaseStart).Seconds()})
		fmt.Fprintf(os.Stderr, ">> bench %d: %s in %s\n", n, name, time.Since(phaseStart).Round(100*time.Millisecond))
		phaseStart = time.Now()
	}
	if err := benchSamba(ctx, n, &r); err != nil {
		r.SambaErr = err.Error()
		fmt.Fprintln(os.Stderr, "bench: Samba phase:", err)
	}
	phase(fmt.Sprintf("Samba AD DC with %d computers: full and incremental sync against a bare paged search", n))

	dir, err := os.MkdirTemp("", "fleetlaps-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	clk := simclock.NewStopped(time.Now().UTC().Truncate(time.Minute), o.benchSpeed)
	w, err := startWorldWith(ctx, n, o.seed, clk, dir, channelInProcess,
		fleetShape{tiers: benchTiers(n), blobSize: benchBlobLen, maxEvents: benchMaxEvents, spreadBackups: true})
	if err != nil {
		return err
	}
	defer w.close()
	r.PageSize = w.dir.MaxPageSize()
	phase("embedded directory and fleet (first backups spread over 30 days)")

	o.workDir, o.samplesDir, o.simulate = dir, "", benchWarmup+o.benchWindow
	cp, err := startControlPlane(ctx, o, w)
	if err != nil {
		return err
	}
	defer func() { cp.stop() }()
	for i := 1; i < len(cp.marks); i++ {
		r.Phases = append(r.Phases, benchPhase{Name: cp.marks[i].name, Seconds: cp.marks[i].at.Sub(cp.marks[i-1].at).Seconds()})
	}
	phaseStart = time.Now()
	etcdURL := cp.env.ControlPlane.Etcd.URL.String()
	mem.watchControlPlane(etcdURL)
	// A full sync: the first snapshot of a fresh AD backend on the same connection.
	if dirs, err := openDirectories(w.connFile, clk); err == nil {
		if snap, err := dirs.Entries()[0].Directory.Snapshot(ctx); err == nil {
			r.FirstSyncRoundTrips = int64(snap.RoundTrips)
		}
	}

	clk.Start()
	fleetCtx, stopFleet := context.WithCancel(ctx)
	defer stopFleet()
	go func() { _ = w.fleet.Run(fleetCtx, clk) }()
	go cp.agents.run(fleetCtx, agentTick)
	waitSim := func(d time.Duration) {
		for clk.Since(clk.Epoch()) < d {
			time.Sleep(50 * time.Millisecond)
		}
	}
	// Steady state: every device Ready and every agent reported once (the start-up wave of
	// status writes and first reports may outlast the simulated warm-up on a large fleet).
	// From then on any window of one heartbeat interval holds exactly one heartbeat per agent,
	// whatever the phases of the agents' first reports.
	readyStart := time.Now()
	for time.Since(readyStart) < 20*time.Minute {
		// AgentReporting=True on every device: the manager has taken in every first report
		// (its queue may lag the report API's writes on a large fleet).
		if v, err := readCluster(ctx, cp.mgr.reader); err == nil && v.Ready == n && v.AgentReporting == n && queueDepth() == 0 {
			break
		}
		time.Sleep(time.Second)
	}
	r.ReadyWaitSeconds = time.Since(readyStart).Seconds()
	waitSim(max(benchWarmup, clk.Since(clk.Epoch())))
	phase("warm-up: every device Ready, every agent reported once")

	a := sample(cp, w)
	byKindA := cp.mgr.writeCounts()
	windowStart := clk.Since(clk.Epoch())
	waitSim(windowStart + o.benchWindow)
	b := sample(cp, w)
	byKindB := cp.mgr.writeCounts()
	hours := (clk.Since(clk.Epoch()) - windowStart).Hours()
	wall := b.wall.Sub(a.wall).Seconds()
	r.WindowHours = hours
	// The report API writes status.agent through the manager's client: its writes are counted
	// apart, so the manager's own figure is the controllers' writes.
	agentWrites := b.agentWrites - a.agentWrites
	r.WritesByKind = diffCounts(byKindA, byKindB)
	r.WritesByKind[agentStatusKind] -= agentWrites
	if r.WritesByKind[agentStatusKind] <= 0 {
		delete(r.WritesByKind, agentStatusKind)
	}
	r.WritesPerSimHour = float64(b.writes-a.writes-agentWrites) / hours
	r.AgentWritesPerHour = float64(agentWrites) / hours
	r.RotationsPerSimHour = float64(b.rotations-a.rotations) / hours
	r.HeartbeatsPerHour = float64(n) / agentHeartbeat.Hours()
	r.ReconcilesPerSecond = (b.reconciles - a.reconciles) / wall
	r.SimHoursPerSecond = hours / wall
	if b.syncs > a.syncs {
		r.Syncs = b.syncs - a.syncs
		r.RoundTripsPerSync = (b.roundTrips - a.roundTrips) / r.Syncs
	}
	phase(fmt.Sprintf("steady window (%s simulated)", o.benchWindow))

	lat := probeLatency(ctx, cp, w)
	slices.Sort(lat)
	r.LatencyP50, r.LatencyP99 = quantile(lat, 0.5), quantile(lat, 0.99)
	phase(fmt.Sprintf("%d RotationRequests timed to the directory write", len(lat)))

	r.Selector = runSelectorRequest(ctx, cp, w)
	phase(fmt.Sprintf("selector RotationRequest over %d devices (%s simulated)", r.Selector.Targets, benchSelectorWindow))

	// Restart with nothing changing: the fleet and agents stop and the clock stands still, so
	// any write the new manager makes is one a restart caused.
	stopFleet()
	clk.Freeze()
	if err := deleteRequests(ctx, cp); err != nil {
		return err
	}
	settleManager(cp)
	r.Restart, r.Memory.ManagerHeapBytes, err = restartManager(ctx, o, cp, w)
	if err != nil {
		return err
	}
	phase("manager restarted over the same state")

	if fp, err := footprint.Measure(ctx, etcdURL, footprint.ManagedDevicePrefix); err == nil {
		r.Stored, r.EtcdDB = fp.Stored, fp.EtcdDB
	} else {
		fmt.Fprintln(os.Stderr, "bench: measuring etcd:", err)
	}
	if h, err := footprint.APIServerHeap(ctx, cp.cfg); err == nil {
		r.Memory.APIServerHeapBytes = h.HeapInuse
	}
	mem.fill(&r.Memory)
	if o.benchProfile != "" {
		if err := writeHeapProfile(filepath.Join(o.benchProfile, fmt.Sprintf("heap-%d.pprof", n))); err != nil {
			fmt.Fprintln(os.Stderr, "bench: heap profile:", err)
		}
	}
	data, _ := json.Marshal(r)
	fmt.Fprintln(out, string(data))
	return nil
}

// benchSamba measures the AD backend's sync of n computers on a Samba AD DC (loaded once per
// machine into bin/samba, started from a copy) against a bare go-ldap paged search.
func benchSamba(ctx context.Context, n int, r *benchRow) error {
	s, err := adbench.StartDC(n)
	if err != nil {
		return err
	}
	defer func() { _ = s.Stop() }()
	r.Samba, err = adbench.Measure(ctx, adbench.Options{Server: s, Computers: n})
	return err
}

// agentStatusKind is how the write counter names the report API's status.agent writes (and the
// controllers' status writes of the same kind).
const agentStatusKind = "patch ManagedDevice/status"

func diffCounts(a, b map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range b {
		if d := v - a[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// settleManager waits until the manager's work queues are empty and its writes stood still for
// benchSettle, and returns how long (real) that took, the quiet period excluded. Reconciles
// alone do not count: a requeue after a delay is not unfinished work.
func settleManager(cp *controlPlane) float64 {
	start := time.Now()
	lastW := cp.mgr.writes.Load()
	still := time.Now()
	for time.Since(start) < 15*time.Minute {
		time.Sleep(250 * time.Millisecond)
		wr := cp.mgr.writes.Load()
		if wr != lastW || queueDepth() > 0 {
			lastW, still = wr, time.Now()
			continue
		}
		if time.Since(still) >= benchSettle {
			break
		}
	}
	return still.Sub(start).Seconds()
}

// queueDepth is the number of items waiting in the controllers' work queues.
func queueDepth() float64 {
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		return 0
	}
	var depth float64
	for _, f := range families {
		if f.GetName() == "workqueue_depth" {
			for _, m := range f.GetMetric() {
				depth += m.GetGauge().GetValue()
			}
		}
	}
	return depth
}

// deleteRequests deletes the run's RotationRequests and waits until the manager's cache has
// none: the restart measures a manager with nothing to do.
func deleteRequests(ctx context.Context, cp *controlPlane) error {
	if err := cp.client.DeleteAllOf(ctx, &lapsv1.RotationRequest{}, client.InNamespace(demoNamespace)); err != nil {
		return err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		var list lapsv1.RotationRequestList
		if err := cp.mgr.reader.List(ctx, &list, client.InNamespace(demoNamespace)); err == nil && len(list.Items) == 0 {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("RotationRequests still listed two minutes after deleting them")
}

// restartManager stops the manager, starts a new one over the same state and measures it: time
// until its caches synced and until it settled, its writes, and the heap it holds.
func restartManager(ctx context.Context, o options, cp *controlPlane, w *world) (restartFigures, int64, error) {
	var f restartFigures
	cp.cancelMgr()
	select {
	case <-cp.mgr.done:
	case <-time.After(time.Minute):
		return f, 0, fmt.Errorf("the manager did not stop within a minute")
	}
	cp.mgr = nil
	testingManyManagers = true // the second manager registers the same controller names
	mctx, cancel := context.WithCancel(ctx)
	cp.cancelMgr = cancel
	r0, _, _ := gatherCounters()
	start := time.Now()
	m, err := startManager(mctx, cp.cfg, cp.scheme, w.clock, w.connFile, o.syncInterval)
	if err != nil {
		return f, 0, fmt.Errorf("restarting the manager: %w", err)
	}
	cp.mgr = m
	f.CachesSyncedSeconds = time.Since(start).Seconds()
	// The first sync after start reconciles every device; settled is when that wave is over.
	_, _, syncs0 := gatherCounters()
	for time.Since(start) < 10*time.Minute {
		if _, _, syncs := gatherCounters(); syncs > syncs0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	f.SettledSeconds = time.Since(start).Seconds() + settleManager(cp)
	r1, _, _ := gatherCounters()
	f.Reconciles = r1 - r0
	f.Writes = m.writes.Load() // the agents are stopped: no report API writes
	f.WritesByKind = m.writeCounts()
	// The manager's heap: what the process holds with it running minus what it holds once it
	// stopped (both after GC), so nothing else the process allocated meanwhile counts.
	with := heapAfterGC()
	cancel()
	<-m.done
	cp.mgr = nil
	cp.cancelMgr = func() {}
	return f, with - heapAfterGC(), nil
}

// writeHeapProfile writes this process's heap profile (after GC) to path: what the embedded
// directory, the simulated fleet and agents hold at the end of the run.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func heapAfterGC() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}

// probeLatency creates benchProbes single-device RotationRequests one after another, for
// devices of tiers without rotation limits, and times each from Create until the directory
// holds the requested expiry (the AD backend's write).
func probeLatency(ctx context.Context, cp *controlPlane, w *world) []float64 {
	admin := ldapserver.Identity{DN: w.dir.Credentials(ldapserver.RoleAdmin).DN, Role: ldapserver.RoleAdmin}
	unlimited := map[string]bool{}
	for _, t := range w.tiers {
		unlimited[t.Name] = t.Rotation == nil && !t.DC
	}
	var out []float64
	step := max(len(w.devices)/benchProbes, 1)
	for i := 0; i < len(w.devices) && len(out) < benchProbes; i += step {
		d := w.devices[i]
		if !unlimited[d.Tier] {
			continue
		}
		read := func() string {
			v, _ := w.dir.Store().Read(admin, d.DN, ldapserver.AttrPasswordExpirationTime)
			return strings.Join(v[ldapserver.AttrPasswordExpirationTime], ",")
		}
		before := read()
		start := time.Now()
		rr := &lapsv1.RotationRequest{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-%d", i), Namespace: demoNamespace},
			Spec: lapsv1.RotationRequestSpec{DeviceName: deviceObjectName(d.Name), Reason: "bench: create to directory write latency"}}
		if err := cp.client.Create(ctx, rr); err != nil {
			fmt.Fprintln(os.Stderr, "bench: creating a RotationRequest:", err)
			continue
		}
		for read() == before && time.Since(start) < 30*time.Second {
			time.Sleep(2 * time.Millisecond)
		}
		out = append(out, time.Since(start).Seconds())
	}
	return out
}

// runSelectorRequest creates one RotationRequest over the tier with rotation limits, lets it
// run benchSelectorWindow (simulated) and reads from its status what the directory writes did:
// the most writes in any minute and the most devices in flight at once.
func runSelectorRequest(ctx context.Context, cp *controlPlane, w *world) selectorFigures {
	var f selectorFigures
	var t *tier
	for i := range w.tiers {
		if w.tiers[i].Rotation != nil {
			t = &w.tiers[i]
		}
	}
	if t == nil {
		f.Err = "no tier with rotation limits"
		return f
	}
	f.MaxConcurrent, f.RatePerMinute = int(*t.Rotation.MaxConcurrent), int(*t.Rotation.RatePerMinute)
	rr := &lapsv1.RotationRequest{ObjectMeta: metav1.ObjectMeta{Name: "bench-selector", Namespace: demoNamespace},
		Spec: lapsv1.RotationRequestSpec{DeviceSelector: &metav1.LabelSelector{MatchLabels: tierSelector(*t)},
			Reason: "bench: a selector request honours maxConcurrent and ratePerMinute"}}
	if err := cp.client.Create(ctx, rr); err != nil {
		f.Err = err.Error()
		return f
	}
	start := w.clock.Now()
	for w.clock.Since(start) < benchSelectorWindow {
		time.Sleep(200 * time.Millisecond)
	}
	f.SimulatedMinutes = w.clock.Since(start).Minutes()
	var got lapsv1.RotationRequest
	if err := cp.client.Get(ctx, client.ObjectKeyFromObject(rr), &got); err != nil {
		f.Err = err.Error()
		return f
	}
	if data, err := json.Marshal(&got); err == nil {
		f.StatusBytes = len(data)
	}
	f.Targets = int(got.Status.Targets)
	f.fromResults(got.Status.Results, w.clock.Now())
	if got.Status.Targets == 0 {
		if c := apimeta.FindStatusCondition(got.Status.Conditions, "Ready"); c != nil {
			f.Err = c.Reason + ": " + c.Message
		}
	}
	return f
}

// fromResults computes the writes per minute and devices in flight from the results: a device
// is in flight from the claim of its write (lastAttemptTime) until the directory showed the
// rotation (rotatedAt), or until now.
func (f *selectorFigures) fromResults(results []lapsv1.DeviceRotationResult, now time.Time) {
	var writes []time.Time
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	for _, res := range results {
		if res.State == lapsv1.DeviceRotationRotated {
			f.Rotated++
		}
		if res.WrittenAt == nil {
			continue
		}
		f.Written++
		writes = append(writes, res.WrittenAt.Time)
		from := res.WrittenAt.Time
		if res.LastAttemptTime != nil && res.LastAttemptTime.Before(res.WrittenAt) {
			from = res.LastAttemptTime.Time
		}
		to := now
		if res.RotatedAt != nil {
			to = res.RotatedAt.Time
		}
		edges = append(edges, edge{from, 1}, edge{to, -1})
	}
	slices.SortFunc(writes, func(a, b time.Time) int { return a.Compare(b) })
	for i, j := 0, 0; i < len(writes); i++ {
		for writes[i].Sub(writes[j]) >= time.Minute {
			j++
		}
		f.MaxWritesInMinute = max(f.MaxWritesInMinute, i-j+1)
	}
	// Ends before starts at the same instant: a slot freed and taken in one pass is not two.
	slices.SortFunc(edges, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.delta - b.delta
	})
	in := 0
	for _, e := range edges {
		in += e.delta
		f.MaxInFlight = max(f.MaxInFlight, in)
	}
}

func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
