package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/ldapserver"
	"github.com/fleetlaps/fleetlaps/internal/simclock"
)

// Benchmark (make bench): the whole demo at a given fleet size, measured over a steady window
// after the first backups. Each size runs in its own process (one manager per process, and an
// honest RSS).
const (
	benchWarmup  = 3 * time.Hour // simulated: first backups, discovery, first agent reports
	benchProbes  = 20            // RotationRequests timed from create to directory write
	benchSpeed   = 720           // simulated seconds per real second
	benchBlobLen = 64            // opaque blob bytes per password (the default 1200 would dominate the heap)
)

// benchRow is one size's figures.
type benchRow struct {
	Devices              int     `json:"devices"`
	FirstSyncRoundTrips  int64   `json:"firstSyncRoundTrips"`
	RoundTripsPerSync    float64 `json:"roundTripsPerSync"`
	Syncs                float64 `json:"syncs"`
	WritesPerSimHour     float64 `json:"writesPerSimulatedHour"`
	AgentWritesPerHour   float64 `json:"agentWritesPerSimulatedHour"`
	RotationsPerSimHour  float64 `json:"rotationsPerSimulatedHour"`
	HeapBytesPerDevice   float64 `json:"heapBytesPerDevice"`
	RSSBytesPerDevice    float64 `json:"rssBytesPerDevice"`
	RSSBytes             int64   `json:"rssBytes"`
	LatencyP50           float64 `json:"rotationWriteLatencyP50Seconds"`
	LatencyP99           float64 `json:"rotationWriteLatencyP99Seconds"`
	ReconcilesPerSecond  float64 `json:"reconcilesPerSecond"`
	SetupSeconds         float64 `json:"setupSeconds"`
	WallSeconds          float64 `json:"wallSeconds"`
	SimulatedHoursPerSec float64 `json:"simulatedHoursPerSecond"`
	// WritesByKind is the manager's writes in the window by "verb Kind[/subresource]".
	WritesByKind map[string]int64 `json:"writesByKind"`
	// ReadyWait is how long (real) the warm-up waited for every device to be Ready.
	ReadyWaitSeconds float64 `json:"readyWaitSeconds"`
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

// runBench runs every size in a child process (demo --bench-one N) and prints the table.
func runBench(o options, sizes []int) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var rows []benchRow
	for _, n := range sizes {
		fmt.Fprintf(os.Stderr, ">> bench: %d devices (%s simulated warm-up, %s measured, speed x%g)\n", n, benchWarmup, o.benchWindow, o.benchSpeed)
		start := time.Now()
		cmd := exec.Command(self, "--bench-one", strconv.Itoa(n), "--assets", o.assets, "--seed", strconv.FormatUint(o.seed, 10),
			"--bench-window", o.benchWindow.String(), "--bench-speed", strconv.FormatFloat(o.benchSpeed, 'g', -1, 64))
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
		fmt.Fprintf(os.Stderr, ">> bench: %d devices done in %s: %s\n", n, time.Since(start).Round(time.Second), lines[len(lines)-1])
		rows = append(rows, r)
	}
	printBench(os.Stdout, rows)
	for _, r := range rows {
		data, _ := json.Marshal(r)
		fmt.Printf("%d devices: %s\n", r.Devices, data)
	}
	return nil
}

func printBench(w *os.File, rows []benchRow) {
	fmt.Fprintln(w, "| devices | LDAP round trips per sync: first (full) / mean (target ceil(N/1000)) | apiserver writes per sim hour: manager (all) / status.agent by the report API (rotations per sim hour) | heap / RSS per device | RotationRequest create -> directory write p50 / p99 | reconciles/s | setup / wall |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %d | %d / %.2f (target %d) | %.0f / %.0f (%.0f) | %.1f KiB / %.1f KiB | %.3fs / %.3fs | %.0f | %.0fs / %.0fs |\n",
			r.Devices, r.FirstSyncRoundTrips, r.RoundTripsPerSync, int(math.Ceil(float64(r.Devices)/1000)),
			r.WritesPerSimHour, r.AgentWritesPerHour, r.RotationsPerSimHour, r.HeapBytesPerDevice/1024, r.RSSBytesPerDevice/1024,
			r.LatencyP50, r.LatencyP99, r.ReconcilesPerSecond, r.SetupSeconds, r.WallSeconds)
	}
}

// counters are the cumulative figures sampled at the window's edges.
type counters struct {
	wall                           time.Time
	writes, agentWrites, rotations int64
	reconciles, roundTrips, syncs  float64
}

func sample(cp *controlPlane, w *world) counters {
	c := counters{wall: time.Now(), writes: cp.mgr.writes.Load(), agentWrites: cp.mgr.report.Server.Stats().StatusWrites, rotations: w.fleet.Stats().Rotations}
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		return c
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch f.GetName() {
			case "controller_runtime_reconcile_total":
				c.reconciles += m.GetCounter().GetValue()
			case "fleetlaps_directory_sync_round_trips_total":
				c.roundTrips += m.GetCounter().GetValue()
			case "fleetlaps_directory_sync_duration_seconds":
				for _, l := range m.GetLabel() {
					if l.GetName() == "result" && l.GetValue() == "success" {
						c.syncs += float64(m.GetHistogram().GetSampleCount())
					}
				}
			}
		}
	}
	return c
}

// benchOne measures one fleet size in this process and prints its row as JSON.
func benchOne(o options, n int, out *os.File) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wallStart := time.Now()
	dir, err := os.MkdirTemp("", "fleetlaps-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	clk := simclock.NewStopped(time.Now().UTC().Truncate(time.Minute), o.benchSpeed)
	w, err := startWorldWith(ctx, n, o.seed, clk, dir, channelInProcess, benchBlobLen)
	if err != nil {
		return err
	}
	defer w.close()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heap0 := ms.HeapInuse
	o.workDir, o.samplesDir, o.simulate = dir, "", benchWarmup+o.benchWindow
	cp, err := startControlPlane(ctx, o, w)
	if err != nil {
		return err
	}
	defer cp.stop()
	r := benchRow{Devices: n, SetupSeconds: time.Since(wallStart).Seconds()}
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
	waitUntil := func(d time.Duration) {
		for clk.Since(clk.Epoch()) < d {
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitUntil(benchWarmup)
	// Steady state: every device backed up and Ready (a large fleet's first wave of writes
	// may still be queued after the simulated warm-up).
	readyStart := time.Now()
	for time.Since(readyStart) < 10*time.Minute {
		if v, err := readCluster(ctx, cp.mgr.reader); err == nil && v.Ready == n {
			break
		}
		time.Sleep(time.Second)
	}
	r.ReadyWaitSeconds = time.Since(readyStart).Seconds()
	a := sample(cp, w)
	byKindA := cp.mgr.writeCounts()
	windowStart := clk.Since(clk.Epoch())
	waitUntil(windowStart + o.benchWindow)
	b := sample(cp, w)
	byKindB := cp.mgr.writeCounts()
	// The latency probe runs after the window, so its requests are not in the steady-state figures.
	lat := probeLatency(ctx, cp, w)
	r.WritesByKind = map[string]int64{}
	for k, v := range byKindB {
		if d := v - byKindA[k]; d > 0 {
			r.WritesByKind[k] = d
		}
	}
	stopFleet()
	hours := (clk.Since(clk.Epoch()) - windowStart).Hours()
	wall := b.wall.Sub(a.wall).Seconds()
	r.WritesPerSimHour = float64(b.writes-a.writes) / hours
	r.AgentWritesPerHour = float64(b.agentWrites-a.agentWrites) / hours
	r.RotationsPerSimHour = float64(b.rotations-a.rotations) / hours
	r.ReconcilesPerSecond = (b.reconciles - a.reconciles) / wall
	if b.syncs > a.syncs {
		r.Syncs = b.syncs - a.syncs
		r.RoundTripsPerSync = (b.roundTrips - a.roundTrips) / r.Syncs
	}
	slices.Sort(lat)
	r.LatencyP50, r.LatencyP99 = quantile(lat, 0.5), quantile(lat, 0.99)
	runtime.GC()
	runtime.ReadMemStats(&ms)
	r.HeapBytesPerDevice = float64(int64(ms.HeapInuse)-int64(heap0)) / float64(n)
	r.RSSBytes = rss()
	r.RSSBytesPerDevice = float64(r.RSSBytes) / float64(n)
	r.WallSeconds = time.Since(wallStart).Seconds()
	r.SimulatedHoursPerSec = hours / wall
	data, _ := json.Marshal(r)
	fmt.Fprintln(out, string(data))
	return nil
}

// probeLatency creates benchProbes single-device RotationRequests one after another and times
// each from Create until the directory holds the requested expiry (the AD backend's write).
func probeLatency(ctx context.Context, cp *controlPlane, w *world) []float64 {
	admin := ldapserver.Identity{DN: w.dir.Credentials(ldapserver.RoleAdmin).DN, Role: ldapserver.RoleAdmin}
	var out []float64
	step := max(len(w.devices)/benchProbes, 1)
	for i := 0; i < len(w.devices) && len(out) < benchProbes; i += step {
		d := w.devices[i]
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

func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// rss is this process's resident set size (Linux), 0 when unknown.
func rss() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}
