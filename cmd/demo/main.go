// Command demo runs fleetlaps on one machine: the embedded AD-like directory and a simulated
// Windows fleet on one fast clock, a local kube-apiserver and etcd (built from source by
// hack/envtest-assets.sh), the CRDs, the sample objects and the manager, and tells you how to
// point kubectl at it. It runs until Ctrl-C (or, with --simulate, for that much simulated time)
// and then removes everything it started.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/simclock"
)

func main() {
	var (
		assets    = flag.String("assets", "", "Directory with kube-apiserver and etcd (default: KUBEBUILDER_ASSETS, else hack/envtest-assets.sh builds or finds them).")
		fleetOnly = flag.Bool("fleet-only", false, "Run only the embedded directory and the simulated fleet: no kube-apiserver, no manager.")
		samples   = flag.String("samples", "config/samples", "Directory of sample manifests to apply.")
		workDir   = flag.String("dir", ".demo", "Directory for the kubeconfig, the directory's CA and logs.")
		runFor    = flag.Duration("run-for", 0, "Stop after this long in real time, counted once everything is up (0: run until Ctrl-C).")
		devices   = flag.Int("devices", 50, "Number of simulated Windows devices.")
		entraDevs = flag.Int("entra-devices", -1, "How many of --devices are Entra-joined and back up to Entra ID (served by the Graph emulator); -1: a fifth of --devices.")
		simulate  = flag.Duration("simulate", 0, "Headless: run this much simulated time, write the summary and exit (non-zero when the fleet did not converge).")
		speed     = flag.Float64("speed", 1440, "Simulated seconds per real second (1440: a simulated day per minute).")
		seed      = flag.Uint64("seed", 1, "Seed of the simulated fleet and directory.")
		summary   = flag.String("summary", "", "Write the run's summary JSON to this file.")
		channel   = flag.String("device-channel", channelInProcess, "How simulated devices reach the directory: inprocess (fast) or ldap (LDAPS as the device writer).")
		interval  = flag.Duration("sync-interval", 5*time.Minute, "Directory sync interval of the manager, in simulated time.")
		bench     = flag.String("bench", "", "Benchmark: comma-separated fleet sizes (e.g. 1000,10000); prints a table.")
		benchOne  = flag.Int("bench-one", 0, "Internal: measure one fleet size in this process and print its figures as JSON.")
		bWindow   = flag.Duration("bench-window", agentHeartbeat, "Benchmark: simulated steady-state window after the warm-up (default one agent heartbeat interval, so it holds one heartbeat per agent).")
		bProfile  = flag.String("bench-profile", "", "Benchmark: write each size's heap profile (the demo process after GC) into this directory.")
		bSpeed    = flag.Float64("bench-speed", 0, "Benchmark: simulated seconds per real second (0: 240 up to 10,000 devices, falling as 1/N above).")
	)
	flag.Parse()
	// An interactive run keeps the terminal for its status view: the manager's JSON logs go to
	// a file under --dir. Headless runs and benchmarks log to stderr as before.
	interactive := *simulate == 0 && *bench == "" && *benchOne == 0
	logFile := ""
	if interactive {
		path, logger, err := openLog(*workDir)
		if err != nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
			os.Exit(1)
		}
		logFile = path
		ctrl.SetLogger(logger)
		klog.SetLogger(logger)
	} else {
		ctrl.SetLogger(zap.New(zap.UseDevMode(false)))
	}
	if !*fleetOnly && *benchOne == 0 {
		resolved, err := resolveAssets(*assets)
		if err != nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
			os.Exit(1)
		}
		*assets = resolved
	}
	if *entraDevs < 0 {
		*entraDevs = defaultEntraDevices(*devices)
	}
	opts := options{entraDevices: *entraDevs, assets: *assets, samplesDir: *samples, workDir: *workDir, runFor: *runFor, devices: *devices,
		simulate: *simulate, speed: *speed, seed: *seed, summaryFile: *summary, channel: *channel, syncInterval: *interval,
		benchWindow: *bWindow, benchSpeed: *bSpeed, benchProfile: *bProfile, logFile: logFile,
		terminal: interactive && isTerminal(os.Stdin) && isTerminal(os.Stdout)}
	var err error
	switch {
	case *benchOne > 0:
		ctrl.SetLogger(logr.Discard())
		err = benchOneRun(opts, *benchOne)
	case *bench != "":
		err = runBenchFlag(opts, *bench)
	default:
		err = run(opts)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

type options struct {
	assets, samplesDir, workDir string
	runFor, simulate            time.Duration
	devices                     int
	// entraDevices of the devices back up to Entra ID instead of the AD directory.
	entraDevices         int
	speed                float64
	seed                 uint64
	summaryFile, channel string
	syncInterval         time.Duration
	benchWindow          time.Duration
	benchSpeed           float64
	benchProfile         string
	// out receives the demo's own output (default os.Stdout). logFile is where the manager's
	// logs go, shown in the status view. terminal: stdin and stdout are a terminal, so the
	// status view redraws in place and q or Ctrl-C stop the demo.
	out      io.Writer
	logFile  string
	terminal bool
	// inspect, when set, runs after a headless run settled and before everything stops (the
	// end-to-end test reads the cluster and the directory there). started runs once the
	// control plane is up, before the clock starts.
	inspect func(ctx context.Context, cp *controlPlane, w *world) error
	started func(ctx context.Context, cp *controlPlane, w *world) error
}

// errNotConverged makes a headless run exit non-zero.
var errNotConverged = errors.New("the fleet did not converge (see the summary's problems)")

func run(o options) error {
	if o.devices < 0 {
		return errors.New("--devices must not be negative")
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if o.out == nil {
		o.out = os.Stdout
	}
	con := newConsole(o.out, o.simulate == 0 && o.terminal)
	if con.live {
		defer con.finish()
		var restore func()
		var ok bool
		if ctx, restore, ok = watchQuitKeys(ctx, os.Stdin); ok {
			defer restore()
			// Give the terminal back as soon as the run ends, before the clean-up, so a second
			// Ctrl-C interrupts as usual.
			go func() { <-ctx.Done(); restore() }()
		}
	}
	wallStart := time.Now()
	// One fast clock for the fleet, the directory and the manager. It starts when everything
	// is up.
	clk := simclock.NewStopped(time.Now().UTC().Truncate(time.Minute), o.speed)

	con.printf(">> starting the embedded directory and %d simulated devices (speed x%g, seed %d)\n", o.devices, o.speed, o.seed)
	if o.channel == "" {
		o.channel = channelInProcess
	}
	// stoppedEarly: Ctrl-C or q during start-up is a normal way to leave an interactive run.
	stoppedEarly := func(err error) error {
		if o.simulate == 0 && ctx.Err() != nil {
			con.printf(">> stopped during start-up\n")
			return nil
		}
		return err
	}
	w, err := startMixedWorld(ctx, o.devices, o.entraDevices, o.seed, clk, o.workDir, o.channel)
	if err != nil {
		return stoppedEarly(err)
	}
	defer w.close()
	w.con = con
	con.printf(">> directory: %s (StartTLS) and %s, domain %s; connection for the manager: %s\n",
		w.dir.URL(), w.dir.LDAPSURL(), w.dir.Store().DomainDN(), w.connFile)

	var cp *controlPlane
	if o.assets != "" {
		if cp, err = startControlPlane(ctx, o, w); err != nil {
			return stoppedEarly(err)
		}
		defer cp.stop()
		w.onIncident = func(device string) { cp.agents.reportDevice(ctx, device) }
		if o.started != nil {
			if err := o.started(ctx, cp, w); err != nil {
				return err
			}
		}
	} else {
		con.printf(">> no --assets: running the directory and the fleet only (no kube-apiserver, no manager)\n")
		if o.simulate == 0 {
			con.setView(fmt.Sprintf("fleetlaps demo: directory and %d simulated devices (no control plane)", o.devices), nil, quitHint(o))
		}
	}

	// --run-for counts from here, once everything is up: start-up time depends on the machine
	// (a loaded one takes many seconds), the run that follows should not.
	if o.runFor > 0 {
		var stopRun context.CancelFunc
		ctx, stopRun = context.WithTimeout(ctx, o.runFor)
		defer stopRun()
	}
	clk.Start()
	w.injectFaults()
	fleetCtx, stopFleet := context.WithCancel(ctx)
	defer stopFleet()
	fleetDone := make(chan error, 1)
	go func() { fleetDone <- w.fleet.Run(fleetCtx, clk) }()
	if w.entra != nil {
		go w.entra.run(fleetCtx, w)
	}
	if cp != nil {
		go cp.agents.run(fleetCtx, agentTick)
		cp.scheduleAutomation(w)
		cp.scheduleEntraAutomation(w)
	}
	// finish stops the fleet and the clock, lets the fleet run the cycles that fell due before
	// the clock stopped (a busy machine delays them), and summarizes one consistent instant.
	finish := func(headless bool) error {
		w.stopTimers()
		stopFleet()
		if err := <-fleetDone; err != nil {
			return err
		}
		w.fleet.Tick(clk.Freeze())
		var settled *settleResult
		if cp != nil && headless {
			r, err := cp.settle(w)
			if err != nil {
				return err
			}
			settled = r
		}
		if err := writeSummary(w, cp, settled, o, wallStart); err != nil {
			return err
		}
		if cp != nil && o.inspect != nil {
			ictx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			return o.inspect(ictx, cp, w)
		}
		return nil
	}

	if o.simulate > 0 {
		if err := waitSimulated(ctx, o, w, cp); err != nil {
			return err
		}
		return finish(true)
	}
	// The live view redraws every second; plain output prints a progress line every 10 s.
	every := 10 * time.Second
	if con.live {
		every = time.Second
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			con.finish()
			con.printf(">> stopping: cleaning up\n")
			return finish(false)
		case <-tick.C:
			con.update(progressLine(ctx, w, cp))
		}
	}
}

// agentTick is how often (simulated) the agents look for something to report.
const agentTick = 10 * time.Minute

func progressLine(ctx context.Context, w *world, cp *controlPlane) string {
	if cp == nil {
		return w.progress()
	}
	return cp.progress(ctx, w)
}

// waitSimulated waits until o.simulate has passed on the simulated clock, printing progress.
func waitSimulated(ctx context.Context, o options, w *world, cp *controlPlane) error {
	end := w.clock.Epoch().Add(o.simulate)
	w.con.printf(">> headless: simulating %s (about %s real)\n", o.simulate, w.clock.Real(o.simulate).Round(time.Second))
	every := max(o.simulate/10, time.Hour)
	next := w.clock.Epoch().Add(every)
	for w.clock.Now().Before(end) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("interrupted at %s of %s simulated", w.clock.Since(w.clock.Epoch()).Truncate(time.Minute), o.simulate)
		case <-time.After(min(w.clock.Real(end.Sub(w.clock.Now())), 100*time.Millisecond) + time.Millisecond):
		}
		if !w.clock.Now().Before(next) {
			w.con.update(progressLine(ctx, w, cp))
			next = next.Add(every)
		}
	}
	return nil
}

func writeSummary(w *world, cp *controlPlane, settled *settleResult, o options, wallStart time.Time) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := w.summarize(ctx, time.Since(wallStart), o.seed)
	if err != nil {
		return err
	}
	if cp != nil {
		if err := cp.summarize(ctx, s, settled); err != nil {
			return err
		}
		if err := cp.summarizeDirectories(ctx, s, w); err != nil {
			return err
		}
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if o.summaryFile != "" {
		if err := os.WriteFile(o.summaryFile, append(data, '\n'), 0o644); err != nil {
			return err
		}
		w.con.printf(">> summary written to %s\n", o.summaryFile)
	}
	ready := "-"
	if s.Ready != nil {
		ready = fmt.Sprint(*s.Ready)
	}
	w.con.printf(">> %d devices, %s ready, %d current, rotations per device %d..%d, %d LDAP round trips, %.0fs wall for %.0fh simulated\n",
		s.Devices, ready, s.PasswordCurrent, s.RotationsPerDevice.Min, s.RotationsPerDevice.Max, s.LDAPRoundTrips, s.WallSeconds, s.SimulatedSeconds/3600)
	// An interactive run stops wherever you stop it: what had not converged yet is progress,
	// not a problem.
	label := "problem"
	if o.simulate == 0 {
		label = "in progress when stopped"
	}
	for _, p := range s.Problems {
		w.con.printf(">> %s: %s\n", label, p)
	}
	if o.simulate > 0 && !s.Converged {
		return errNotConverged
	}
	return nil
}

// controlPlane is kube-apiserver + etcd, the demo's own client (automation, agents, summary)
// and the manager.
type controlPlane struct {
	env        *envtest.Environment
	cfg        *rest.Config
	scheme     *runtime.Scheme
	client     client.Client
	kubeconfig string
	mgr        *manager
	con        *console
	agents     *agentFleet
	// directStatusWrites counts ManagedDevice status writes through the demo's own client:
	// none, since the agents report through the report API.
	directStatusWrites atomic.Int64
	cancelMgr          context.CancelFunc
	// marks are when start-up steps ended (the benchmark's phases).
	marks []phaseMark
	// requests are the RotationRequests the demo's automation created (annotation requests
	// are created by the manager and found by listing).
	mu       sync.Mutex
	requests []string
}

// startControlPlane starts kube-apiserver + etcd, installs the CRDs, applies the samples and
// the demo's policies, starts the manager and waits until discovery created every device.
func startControlPlane(ctx context.Context, o options, w *world) (*controlPlane, error) {
	start := time.Now()
	w.con.printf(">> starting kube-apiserver and etcd\n")
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(repoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: o.assets,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting the control plane: %w", err)
	}
	cp := &controlPlane{env: env, cfg: cfg, cancelMgr: func() {}, con: w.con, marks: []phaseMark{{"start", start}}}
	cp.mark("kube-apiserver and etcd up")
	fail := func(err error) (*controlPlane, error) {
		cp.stop()
		return nil, err
	}
	if cp.kubeconfig, err = writeKubeconfig(env, o.workDir); err != nil {
		return fail(err)
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(lapsv1.AddToScheme(scheme))
	cp.scheme = scheme
	admin, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fail(err)
	}
	cp.client = countStatusWrites(admin, &cp.directStatusWrites)
	if o.samplesDir != "" {
		applied, err := applySamples(ctx, cp.client, o.samplesDir)
		if err != nil {
			return fail(err)
		}
		w.con.printf(">> applied %d sample objects from %s\n", applied, o.samplesDir)
	}
	if err := applyDemoObjects(ctx, cp.client, w.tiers); err != nil {
		return fail(err)
	}
	w.con.printf(">> created one LapsPolicy per tier in namespace %s\n", demoNamespace)
	if w.entra != nil {
		if err := cp.client.Create(ctx, entraPolicy()); err != nil {
			return fail(fmt.Errorf("LapsPolicy %s: %w", demoEntraPolicyName, err))
		}
		w.con.printf(">> %d Entra ID devices back up to the Graph emulator at %s; LapsPolicy %s is published to Intune and assigned to group %s\n",
			len(w.entra.names), w.entra.emu.URL(), demoEntraPolicyName, demoEntraGroupID)
	}
	mctx, cancel := context.WithCancel(ctx)
	cp.cancelMgr = cancel
	interval := o.syncInterval
	if interval <= 0 {
		interval = 5 * time.Minute
	}
	if cp.mgr, err = startManager(mctx, cfg, scheme, w.clock, w.connFile, interval); err != nil {
		return fail(fmt.Errorf("starting the manager: %w", err))
	}
	cp.mark("manager started, caches synced")
	w.con.printf(">> manager started (directory sync every %s simulated); waiting for discovery of %d devices\n", interval, w.deviceCount())
	if err := waitDiscovered(ctx, cp.mgr.reader, w.deviceCount(), 2*time.Minute+time.Duration(w.deviceCount())*20*time.Millisecond); err != nil {
		return fail(err)
	}
	cp.mark("devices discovered")
	if cp.agents, err = startAgents(ctx, cp.client, cp.mgr, w); err != nil {
		return fail(err)
	}
	cp.mark("agents enrolled")

	if o.simulate == 0 {
		showTryView(w.con, o, cp.kubeconfig)
	}
	return cp, nil
}

// phaseMark is when a named step ended.
type phaseMark struct {
	name string
	at   time.Time
}

func (cp *controlPlane) mark(name string) { cp.marks = append(cp.marks, phaseMark{name, time.Now()}) }

func (cp *controlPlane) stop() {
	cp.cancelMgr()
	if cp.mgr != nil {
		select {
		case <-cp.mgr.done:
		case <-time.After(30 * time.Second):
		}
	}
	cp.con.printf(">> stopping the control plane\n")
	_ = cp.env.Stop()
}

// repoRoot finds the module root (the CRDs are read from config/crd/bases), so the demo and its
// tests run from any directory of the repository.
func repoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return "."
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return "."
		}
	}
}

func writeKubeconfig(env *envtest.Environment, dir string) (string, error) {
	user, err := env.AddUser(envtest.User{Name: "demo-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", fmt.Errorf("creating the demo user: %w", err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	path, err := filepath.Abs(filepath.Join(dir, "kubeconfig"))
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, data, 0o600)
}

// applySamples creates the namespaces the samples use and every object in the directory's YAML
// files, except RotationRequests (those are for you to create).
func applySamples(ctx context.Context, c client.Client, dir string) (int, error) {
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") || filepath.Base(path) == "kustomization.yaml" {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, doc := range strings.Split(string(data), "\n---") {
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if len(u.Object) == 0 || u.GetKind() == "RotationRequest" {
				continue
			}
			if ns := u.GetNamespace(); ns != "" {
				nsObj := &unstructured.Unstructured{}
				nsObj.SetAPIVersion("v1")
				nsObj.SetKind("Namespace")
				nsObj.SetName(ns)
				if err := c.Create(ctx, nsObj); err != nil && !strings.Contains(err.Error(), "already exists") {
					return err
				}
			}
			if err := c.Create(ctx, u); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			n++
		}
		return nil
	})
	return n, err
}
