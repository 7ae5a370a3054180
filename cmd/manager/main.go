// Command manager runs the fleetlaps controllers: the LapsPolicy, ManagedDevice and
// RotationRequest reconcilers, one directory sync runnable per configured connection, and the
// RotationRequest admission webhook.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/controllers"
	"github.com/fleetlaps/fleetlaps/internal/directoryconfig"
	"github.com/fleetlaps/fleetlaps/internal/dirsync"
	"github.com/fleetlaps/fleetlaps/internal/principalcache"
	"github.com/fleetlaps/fleetlaps/internal/report"
	"github.com/fleetlaps/fleetlaps/internal/shard"
	fleetwebhook "github.com/fleetlaps/fleetlaps/internal/webhook"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		os.Exit(1)
	}
}

// Leader election (one Lease per shard) and its events use a Role in the manager's own namespace
// (config/rbac/leader_election_role.yaml), never a cluster-wide grant. Events and rendered
// ConfigMaps in tenant namespaces use tenant-role, bound per namespace (fleetlaps-rbac).
// Secure metrics check their callers with TokenReviews and SubjectAccessReviews.
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// Flags are the manager's command line.
type Flags struct {
	Directories       string
	SyncInterval      time.Duration
	ShardSelector     string
	LeaderElect       bool
	LeaderElectionID  string
	MetricsAddr       string
	MetricsSecure     bool
	ProbeAddr         string
	HeartbeatInterval time.Duration
	DeviceWorkers     int
	PrincipalCacheTTL time.Duration
	WebhookPort       int
	WebhookCertDir    string
	EnableWebhook     bool
	// Report API (agents' reports into status.agent).
	AgentStaleAfter      time.Duration
	GroupPolicyResync    time.Duration
	ReportAddr           string
	ReportCertDir        string
	ReportTokenNamespace string
	// ShardNamespace holds the shard registration Leases (empty: no registration).
	ShardNamespace      string
	ReportMaxSkew       time.Duration
	ReportRatePerMinute float64
	ReportBurst         int
}

// ParseFlags reads flags from args.
func ParseFlags(fs *flag.FlagSet, args []string) (Flags, *zap.Options, error) {
	var f Flags
	fs.StringVar(&f.Directories, "directories", "/etc/fleetlaps/directories.yaml", "Path of the directory connections file (mounted from a ConfigMap).")
	fs.DurationVar(&f.SyncInterval, "sync-interval", dirsync.DefaultInterval, "How often each directory is read into a snapshot (jittered by up to 10%).")
	fs.StringVar(&f.ShardSelector, "shard-selector", "", "Label selector limiting the ManagedDevices and RotationRequests this manager handles (e.g. shard=a).")
	fs.BoolVar(&f.LeaderElect, "leader-elect", false, "Enable leader election (one active manager per shard).")
	fs.StringVar(&f.LeaderElectionID, "leader-election-id", "", "Leader election lease name (default derived from --shard-selector).")
	fs.StringVar(&f.MetricsAddr, "metrics-bind-address", ":8443", "Metrics endpoint address; 0 disables it.")
	fs.BoolVar(&f.MetricsSecure, "metrics-secure", true, "Serve metrics over HTTPS, allowing only callers that Kubernetes authenticates and authorizes for /metrics.")
	fs.StringVar(&f.ProbeAddr, "health-probe-bind-address", ":8081", "Health probe endpoint address.")
	fs.DurationVar(&f.PrincipalCacheTTL, "principal-cache-ttl", principalcache.DefaultTTL, "How long a resolved adPasswordEncryptionPrincipal is reused per directory connection before it is searched again (0: search at every reconcile). A spec change always searches again.")
	fs.DurationVar(&f.HeartbeatInterval, "heartbeat-interval", 10*time.Minute, "Agent report interval: with nothing else changed, status.agent.lastReportTime moves at most once per interval (a heartbeat inside it writes nothing).")
	fs.IntVar(&f.DeviceWorkers, "device-workers", controllers.DefaultDeviceWorkers, "ManagedDevices reconciled at once.")
	fs.DurationVar(&f.GroupPolicyResync, "group-policy-resync", controllers.DefaultGroupPolicyResync, "How often a published Group Policy object is compared with its LapsPolicy, so edits made outside the controller are found and undone.")
	fs.DurationVar(&f.AgentStaleAfter, "agent-stale-after", 0, "Age of the last agent report after which AgentReporting turns False (default: three heartbeat intervals).")
	fs.StringVar(&f.ReportAddr, "report-bind-address", ":9444", "HTTPS address of the agents' report API; 0 disables it.")
	fs.StringVar(&f.ReportCertDir, "report-cert-dir", "/etc/fleetlaps/report-tls", "Directory with tls.crt/tls.key for the report API (re-read when they change).")
	fs.StringVar(&f.ReportTokenNamespace, "report-token-namespace", os.Getenv("POD_NAMESPACE"), "Namespace of the Secrets holding the agents' token hashes (default: $POD_NAMESPACE, the manager's own).")
	fs.DurationVar(&f.ReportMaxSkew, "report-max-skew", report.DefaultMaxSkew, "Largest difference between an agent's clock and the manager's that a report may show.")
	fs.Float64Var(&f.ReportRatePerMinute, "report-rate-per-minute", report.DefaultRatePerMinute, "Reports per minute each device may send (beyond the burst).")
	fs.IntVar(&f.ReportBurst, "report-burst", report.DefaultBurst, "Reports a device may send at once before the rate applies.")
	fs.StringVar(&f.ShardNamespace, "shard-registration-namespace", os.Getenv("POD_NAMESPACE"), "Namespace of the shard registration Leases: a manager whose --shard-selector overlaps a running shard's refuses to start (default: $POD_NAMESPACE; empty: no check).")
	fs.IntVar(&f.WebhookPort, "webhook-port", 9443, "Admission webhook port.")
	fs.StringVar(&f.WebhookCertDir, "webhook-cert-dir", "", "Directory with tls.crt/tls.key for the webhook server (default: controller-runtime's).")
	fs.BoolVar(&f.EnableWebhook, "enable-webhook", true, "Serve the admission webhooks (RotationRequest spec.requestedBy, ManagedDevice rotate-requested-by).")
	opts := &zap.Options{}
	opts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return f, nil, err
	}
	if f.SyncInterval < 10*time.Second {
		return f, nil, fmt.Errorf("--sync-interval %s is below 10s", f.SyncInterval)
	}
	if f.PrincipalCacheTTL < 0 {
		return f, nil, fmt.Errorf("--principal-cache-ttl %s must not be negative", f.PrincipalCacheTTL)
	}
	if f.DeviceWorkers < 1 {
		return f, nil, fmt.Errorf("--device-workers %d must be at least 1", f.DeviceWorkers)
	}
	if f.HeartbeatInterval <= 0 {
		return f, nil, fmt.Errorf("--heartbeat-interval %s must be positive", f.HeartbeatInterval)
	}
	if f.AgentStaleAfter != 0 && f.AgentStaleAfter <= f.HeartbeatInterval {
		return f, nil, fmt.Errorf("--agent-stale-after %s must exceed --heartbeat-interval %s (lastReportTime moves only once per interval)", f.AgentStaleAfter, f.HeartbeatInterval)
	}
	if f.ReportMaxSkew <= 0 || f.ReportRatePerMinute <= 0 || f.ReportBurst < 1 {
		return f, nil, fmt.Errorf("--report-max-skew, --report-rate-per-minute must be positive and --report-burst at least 1")
	}
	return f, opts, nil
}

// leaderElectionID derives a lease name per shard so shards elect independently.
func leaderElectionID(f Flags) string {
	if f.LeaderElectionID != "" {
		return f.LeaderElectionID
	}
	if f.ShardSelector == "" {
		return "fleetlaps-manager.laps.fleetlaps.io"
	}
	return fmt.Sprintf("fleetlaps-manager-%08x.laps.fleetlaps.io", fnv32(f.ShardSelector))
}

func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

func run() error {
	f, zopts, err := ParseFlags(flag.CommandLine, os.Args[1:])
	if err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(zopts)))
	log := ctrl.Log.WithName("setup")

	file, err := directoryconfig.Load(f.Directories)
	if err != nil {
		return err
	}
	dirs := directoryconfig.Open(file, backends())

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := lapsv1.AddToScheme(scheme); err != nil {
		return err
	}
	// The cache the controllers need and no more (the manager benchmarks use the same options).
	cacheOpts, err := controllers.CacheOptions(f.ShardSelector)
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                        scheme,
		Cache:                         cacheOpts,
		Metrics:                       metricsOptions(f),
		HealthProbeBindAddress:        f.ProbeAddr,
		LeaderElection:                f.LeaderElect,
		LeaderElectionID:              leaderElectionID(f),
		LeaderElectionReleaseOnCancel: true,
		WebhookServer:                 webhook.NewServer(webhook.Options{Port: f.WebhookPort, CertDir: f.WebhookCertDir}),
	})
	if err != nil {
		return err
	}
	ctx := ctrl.SetupSignalHandler()
	if _, err := controllers.SetupWithManager(ctx, mgr, controllers.Options{
		Directories: dirs, SyncInterval: f.SyncInterval, HeartbeatInterval: f.HeartbeatInterval, AgentStaleAfter: f.AgentStaleAfter,
		PrincipalCacheTTL: f.PrincipalCacheTTL, GroupPolicyResync: f.GroupPolicyResync, DeviceWorkers: f.DeviceWorkers,
	}); err != nil {
		return err
	}
	if f.ReportAddr != "0" {
		if _, err := report.Setup(mgr, report.Options{
			Addr: f.ReportAddr, CertDir: f.ReportCertDir, ManagerNamespace: f.ReportTokenNamespace,
			Heartbeat: f.HeartbeatInterval, MaxSkew: f.ReportMaxSkew, RatePerMinute: f.ReportRatePerMinute, Burst: f.ReportBurst,
		}); err != nil {
			return err
		}
	}
	if f.EnableWebhook {
		mgr.GetWebhookServer().Register(fleetwebhook.RotationRequestPath, &webhook.Admission{Handler: fleetwebhook.RequestedBy{}})
		mgr.GetWebhookServer().Register(fleetwebhook.ManagedDevicePath, &webhook.Admission{Handler: fleetwebhook.RotateRequester{}})
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	if err := registerShard(ctx, mgr, scheme, f); err != nil {
		return err
	}
	defer closeAll(ctx, dirs)
	log.Info("starting manager", startupKeys(f, dirs)...)
	return mgr.Start(ctx)
}

// registerShard registers this manager's --shard-selector in its namespace and refuses to
// start when a running shard's selector overlaps it; the registration is renewed while the
// manager runs.
func registerShard(ctx context.Context, mgr ctrl.Manager, scheme *runtime.Scheme, f Flags) error {
	if f.ShardNamespace == "" {
		ctrl.Log.WithName("setup").Info("no shard registration namespace (--shard-registration-namespace, $POD_NAMESPACE): overlapping --shard-selectors are not detected")
		return nil
	}
	direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: scheme}) // the cache is not started yet
	if err != nil {
		return err
	}
	holder := os.Getenv("POD_NAME")
	if holder == "" {
		holder, _ = os.Hostname()
	}
	reg := &shard.Registration{Client: direct, Namespace: f.ShardNamespace, Selector: f.ShardSelector, Holder: holder, Now: time.Now}
	if err := reg.Register(ctx); err != nil {
		return err
	}
	return mgr.Add(reg)
}

// startupKeys are the start-up line's values: every connection with the sync interval it really
// uses (its own syncInterval, else --sync-interval).
func startupKeys(f Flags, dirs *directoryconfig.Set) []any {
	intervals := map[string]string{}
	for _, e := range dirs.Entries() {
		intervals[e.Config.Name] = e.Config.EffectiveSyncInterval(f.SyncInterval).String()
	}
	return []any{"directories", dirs.Names(), "syncIntervals", intervals, "shardSelector", f.ShardSelector, "webhook", f.EnableWebhook,
		"reportAddress", f.ReportAddr}
}

// metricsOptions serves metrics over TLS with authentication and authorization by default.
func metricsOptions(f Flags) metricsserver.Options {
	o := metricsserver.Options{
		BindAddress:   f.MetricsAddr,
		SecureServing: f.MetricsSecure,
		// HTTP/2 stays off for the metrics server (CVE-2023-44487, CVE-2023-39325).
		TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }},
	}
	if f.MetricsSecure {
		o.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return o
}

func closeAll(_ context.Context, dirs *directoryconfig.Set) {
	for _, e := range dirs.Entries() {
		if e.Directory != nil {
			_ = e.Directory.Close()
		}
	}
}
