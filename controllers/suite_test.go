package controllers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/directory/directorytest"
	"github.com/fleetlaps/fleetlaps/internal/directoryconfig"
	fleetwebhook "github.com/fleetlaps/fleetlaps/internal/webhook"
)

// One envtest control plane for the package (STYLE.md §8). The main manager runs every
// reconciler against the recording directory fake "corp" with a fake clock; shards labelled
// shard=restart or shard=scale are left to managers that individual tests start and stop.
var (
	testEnv    *envtest.Environment
	testCfg    *rest.Config
	k8s        client.Client // direct (uncached) admin client for the tests
	suiteClock *clocktesting.FakeClock
	suiteDir   *directorytest.Fake
	suiteDirs  *directoryconfig.Set
	suite      *Components
	suiteCount atomic.Int64 // writes by the main manager
)

const (
	shardLabel = "shard"
	mainShard  = "shard notin (restart,scale)"
)

func TestMain(m *testing.M) {
	raiseTimeoutFor100k()
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	logf.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapLevel())))
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "KUBEBUILDER_ASSETS is not set: point it at the kube-apiserver and etcd built by hack/ (e.g. bin/k8s/1.37.2-linux-amd64)")
		return 1
	}
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		WebhookInstallOptions: envtest.WebhookInstallOptions{Paths: []string{filepath.Join("..", "config", "webhook")}},
	}
	cfg, err := testEnv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "envtest:", err)
		return 1
	}
	defer func() { _ = testEnv.Stop() }()
	testCfg = cfg
	scheme := testScheme(nil)
	if k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	suiteClock = clocktesting.NewFakeClock(time.Now().Truncate(time.Second))
	suiteDir = directorytest.New("corp", directory.TypeActiveDirectory, suiteClock.Now)
	suiteDirs = directoryconfig.NewSet(suiteDir)
	suiteDirs.Add(&directoryconfig.Entry{Config: directoryconfig.Connection{Name: "cloud", Type: directory.TypeEntraID}, Err: fmt.Errorf("%w: no entraID backend", directoryconfig.ErrTypeUnsupported)})
	gatedDir = directorytest.New("gated", directory.TypeActiveDirectory, suiteClock.Now)
	suiteDirs.Add(&directoryconfig.Entry{Config: gatedConnection, Directory: gatedDir})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wio := testEnv.WebhookInstallOptions
	mgr, comps, err := newManager(ctx, mainShard, suiteDir, &suiteCount, webhook.NewServer(webhook.Options{Host: wio.LocalServingHost, Port: wio.LocalServingPort, CertDir: wio.LocalServingCertDir}))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mgr.GetWebhookServer().Register(fleetwebhook.RotationRequestPath, &webhook.Admission{Handler: fleetwebhook.RequestedBy{}})
	mgr.GetWebhookServer().Register(fleetwebhook.ManagedDevicePath, &webhook.Admission{Handler: fleetwebhook.RotateRequester{}})
	suite = comps
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		fmt.Fprintln(os.Stderr, "cache did not sync")
		return 1
	}
	code := m.Run()
	cancel()
	<-done
	return code
}

func zapLevel() zapcore.Level {
	if os.Getenv("FLEETLAPS_TEST_VERBOSE") != "" {
		return zapcore.DebugLevel
	}
	return zapcore.ErrorLevel
}

// newManager builds a manager limited to a shard, with a write-counting client, every controller
// and a manually driven sync runnable over dir.
func newManager(ctx context.Context, shard string, dir directory.Directory, writes *atomic.Int64, hooks webhook.Server) (ctrl.Manager, *Components, error) {
	cacheOpts, err := CacheOptions(shard) // exactly cmd/manager's cache
	if err != nil {
		return nil, nil, err
	}
	counter := &writeCounter{}
	opts := ctrl.Options{
		Scheme:     testScheme(nil),
		Metrics:    metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
		Cache:      cacheOpts,
		NewClient: func(cfg *rest.Config, o client.Options) (client.Client, error) {
			c, err := client.NewWithWatch(cfg, o)
			if err != nil {
				return nil, err
			}
			return interceptor.NewClient(c, counter.funcs()), nil
		},
	}
	if hooks != nil {
		opts.WebhookServer = hooks
	}
	mgr, err := ctrl.NewManager(testCfg, opts)
	if err != nil {
		return nil, nil, err
	}
	dirs := directoryconfig.NewSet(dir)
	if dir == suiteDir {
		dirs = suiteDirs
	}
	comps, err := SetupWithManager(ctx, mgr, Options{
		Directories: dirs, Clock: suiteClock, HeartbeatInterval: 10 * time.Minute, ManualSync: true, Jitter: func() float64 { return 0 },
	})
	if err != nil {
		return nil, nil, err
	}
	go func() {
		// Mirror the counter into the caller's: the interceptor lives in the closure above.
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				writes.Store(counter.n.Load())
			}
		}
	}()
	return mgr, comps, nil
}

// eventually polls cond every 50ms until it returns nil or timeout passes (envtest only).
func eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("condition not met within %s: %v", timeout, err)
}

func createNamespace(t *testing.T, name string) {
	t.Helper()
	if err := k8s.Create(context.Background(), nsObject(name)); err != nil {
		t.Fatal(err)
	}
}

func nsObject(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

// syncCorp runs one sync cycle of the main manager's runnable.
func syncCorp(t *testing.T) {
	t.Helper()
	suite.Syncers[0].SyncOnce(context.Background())
}

func getDevice(ns, name string) (*lapsv1.ManagedDevice, error) {
	var d lapsv1.ManagedDevice
	err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &d)
	return &d, err
}

func condIs(conds []metav1.Condition, typ string, status metav1.ConditionStatus, reason string) error {
	for _, c := range conds {
		if c.Type == typ {
			if c.Status == status && (reason == "" || c.Reason == reason) {
				return nil
			}
			return fmt.Errorf("%s = %s/%s (%s), want %s/%s", typ, c.Status, c.Reason, c.Message, status, reason)
		}
	}
	return fmt.Errorf("%s missing", typ)
}
