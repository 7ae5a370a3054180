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
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/simclock"
)

func main() {
	var (
		assets   = flag.String("assets", os.Getenv("KUBEBUILDER_ASSETS"), "Directory with kube-apiserver and etcd (hack/envtest-assets.sh prints it). Empty: run only the directory and the fleet.")
		samples  = flag.String("samples", "config/samples", "Directory of sample manifests to apply.")
		workDir  = flag.String("dir", ".demo", "Directory for the kubeconfig, the directory's CA and logs.")
		runFor   = flag.Duration("run-for", 0, "Stop after this long in real time (0: run until Ctrl-C).")
		devices  = flag.Int("devices", 50, "Number of simulated Windows devices.")
		simulate = flag.Duration("simulate", 0, "Headless: run this much simulated time, write the summary and exit (non-zero when the fleet did not converge).")
		speed    = flag.Float64("speed", 1440, "Simulated seconds per real second (1440: a simulated day per minute).")
		seed     = flag.Uint64("seed", 1, "Seed of the simulated fleet and directory.")
		summary  = flag.String("summary", "", "Write the run's summary JSON to this file.")
		channel  = flag.String("device-channel", channelInProcess, "How simulated devices reach the directory: inprocess (fast) or ldap (LDAPS as the device writer).")
	)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseDevMode(false)))
	opts := options{assets: *assets, samplesDir: *samples, workDir: *workDir, runFor: *runFor, devices: *devices,
		simulate: *simulate, speed: *speed, seed: *seed, summaryFile: *summary, channel: *channel}
	if err := run(opts); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

type options struct {
	assets, samplesDir, workDir string
	runFor, simulate            time.Duration
	devices                     int
	speed                       float64
	seed                        uint64
	summaryFile, channel        string
}

// errNotConverged makes a headless run exit non-zero.
var errNotConverged = errors.New("the fleet did not converge (see the summary's problems)")

func run(o options) error {
	if o.devices < 0 {
		return errors.New("--devices must not be negative")
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if o.runFor > 0 {
		ctx, cancel = context.WithTimeout(ctx, o.runFor)
		defer cancel()
	}
	wallStart := time.Now()
	// One fast clock for the fleet, the directory and (once wired) the controllers. It starts
	// when everything is up.
	clk := simclock.NewStopped(time.Now().UTC().Truncate(time.Minute), o.speed)

	fmt.Printf(">> starting the embedded directory and %d simulated devices (speed x%g, seed %d)\n", o.devices, o.speed, o.seed)
	if o.channel == "" {
		o.channel = channelInProcess
	}
	w, err := startWorld(ctx, o.devices, o.seed, clk, o.workDir, o.channel)
	if err != nil {
		return err
	}
	defer w.close()
	fmt.Printf(">> directory: %s (StartTLS) and %s, domain %s; connection for the manager: %s\n",
		w.dir.URL(), w.dir.LDAPSURL(), w.dir.Store().DomainDN(), w.connFile)

	if o.assets != "" {
		stop, err := startControlPlane(ctx, o)
		if err != nil {
			return err
		}
		defer stop()
	} else {
		fmt.Println(">> no --assets: running the directory and the fleet only (no kube-apiserver, no manager)")
	}

	clk.Start()
	w.injectFaults()
	fleetCtx, stopFleet := context.WithCancel(ctx)
	defer stopFleet()
	fleetDone := make(chan error, 1)
	go func() { fleetDone <- w.fleet.Run(fleetCtx, clk) }()
	// finish stops the fleet and the clock, lets the fleet run the cycles that fell due before
	// the clock stopped (a busy machine delays them), and summarizes one consistent instant.
	finish := func() error {
		stopFleet()
		if err := <-fleetDone; err != nil {
			return err
		}
		w.fleet.Tick(clk.Freeze())
		return writeSummary(w, o, wallStart)
	}

	if o.simulate > 0 {
		if err := waitSimulated(ctx, o, w); err != nil {
			return err
		}
		return finish()
	}
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Println()
			return finish()
		case <-tick.C:
			fmt.Printf("\r%s", w.progress())
		}
	}
}

// waitSimulated waits until o.simulate has passed on the simulated clock, printing progress.
func waitSimulated(ctx context.Context, o options, w *world) error {
	end := w.clock.Epoch().Add(o.simulate)
	fmt.Printf(">> headless: simulating %s (about %s real)\n", o.simulate, w.clock.Real(o.simulate).Round(time.Second))
	every := max(o.simulate/10, time.Hour)
	next := w.clock.Epoch().Add(every)
	for w.clock.Now().Before(end) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("interrupted at %s of %s simulated", w.clock.Since(w.clock.Epoch()).Truncate(time.Minute), o.simulate)
		case <-time.After(min(w.clock.Real(end.Sub(w.clock.Now())), 100*time.Millisecond) + time.Millisecond):
		}
		if !w.clock.Now().Before(next) {
			fmt.Println(">>", w.progress())
			next = next.Add(every)
		}
	}
	return nil
}

func writeSummary(w *world, o options, wallStart time.Time) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := w.summarize(ctx, time.Since(wallStart), o.seed)
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if o.summaryFile != "" {
		if err := os.WriteFile(o.summaryFile, append(data, '\n'), 0o644); err != nil {
			return err
		}
		fmt.Printf(">> summary written to %s\n", o.summaryFile)
	}
	fmt.Printf(">> %d devices, %d current, rotations per device %d..%d, %d LDAP round trips, %.0fs wall for %.0fh simulated\n",
		s.Devices, s.PasswordCurrent, s.RotationsPerDevice.Min, s.RotationsPerDevice.Max, s.LDAPRoundTrips, s.WallSeconds, s.SimulatedSeconds/3600)
	for _, p := range s.Problems {
		fmt.Println(">> problem:", p)
	}
	if o.simulate > 0 && !s.Converged {
		return errNotConverged
	}
	return nil
}

// startControlPlane starts kube-apiserver + etcd, installs the CRDs, applies the samples and
// starts the manager. The returned func stops the control plane.
func startControlPlane(ctx context.Context, o options) (func(), error) {
	fmt.Println(">> starting kube-apiserver and etcd")
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: o.assets,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting the control plane: %w", err)
	}
	stop := func() {
		fmt.Println(">> stopping the control plane")
		_ = env.Stop()
	}
	fail := func(err error) (func(), error) {
		stop()
		return nil, err
	}
	kubeconfig, err := writeKubeconfig(env, o.workDir)
	if err != nil {
		return fail(err)
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(lapsv1.AddToScheme(scheme))
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fail(err)
	}
	applied, err := applySamples(ctx, c, o.samplesDir)
	if err != nil {
		return fail(err)
	}
	fmt.Printf(">> applied %d sample objects from %s\n", applied, o.samplesDir)

	go func() {
		if err := startManager(ctx, cfg, scheme); err != nil {
			fmt.Fprintln(os.Stderr, "demo: manager:", err)
		}
	}()

	if o.simulate == 0 {
		fmt.Printf(`
fleetlaps demo is running. In another shell:

  export KUBECONFIG=%s PATH=%s:$PATH
  kubectl get lapspolicies,manageddevices,rotationrequests -A
  kubectl get manageddevices -A -w
  kubectl annotate manageddevice -n frontline ws-0001 %s="$(date -u +%%FT%%TZ)"
  kubectl create -f config/samples/laps_v1_rotationrequest.yaml

Ctrl-C stops everything.
`, kubeconfig, o.assets, lapsv1.AnnotationRotateRequestedAt)
	}
	return stop, nil
}

func startManager(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme) error {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return err
	}
	return mgr.Start(ctx)
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
