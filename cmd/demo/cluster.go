package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/controllers"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/directory/ad"
	"github.com/fleetlaps/fleetlaps/internal/directory/entra"
	"github.com/fleetlaps/fleetlaps/internal/directoryconfig"
	"github.com/fleetlaps/fleetlaps/internal/dirsync"
	"github.com/fleetlaps/fleetlaps/internal/report"
	"github.com/fleetlaps/fleetlaps/internal/simclock"
)

// demoNamespace holds the discovered ManagedDevices, the demo's LapsPolicies and its
// RotationRequests.
const demoNamespace = "fleet"

// testingManyManagers is set by tests that start the demo more than once in one process
// (controller names must otherwise be unique per process).
var testingManyManagers = false

// agentHeartbeat is how often the simulated endpoint agents report when nothing changed (the
// manager's --heartbeat-interval): coarse, like a node lease.
const agentHeartbeat = 6 * time.Hour

// manager is the real fleetlaps manager (controllers, directory sync with discovery, the AD
// backend) running against the demo's control plane on the shared simulated clock.
type manager struct {
	mgr    ctrl.Manager
	comps  *controllers.Components
	reader client.Reader // the manager's cache
	// writes counts the manager client's Create/Update/Patch/Delete calls, status included
	// (events go through the event recorder's own client and are not counted).
	writes atomic.Int64
	// writesBy counts the same writes by "verb kind[/subresource]".
	writesMu sync.Mutex
	writesBy map[string]int64
	done     chan error

	mu       sync.Mutex
	versions map[string]map[string]bool // device -> msLAPS-CurrentPasswordVersion values seen in status
	// rollbackSeen and failingSeen record devices whose status showed RollbackDetected=True or
	// PasswordCurrent=False/RotationFailing at some point.
	rollbackSeen map[string]bool
	failingSeen  map[string]string

	// report is the agents' report API (HTTPS on a loopback port, self-signed certificate
	// reportCA).
	report   *report.Listener
	reportCA []byte
}

func openDirectories(connFile string, clk *simclock.Scaled) (*directoryconfig.Set, error) {
	f, err := directoryconfig.Load(connFile)
	if err != nil {
		return nil, err
	}
	set := directoryconfig.Open(f, directoryconfig.Registry{
		directory.TypeActiveDirectory: ad.SettingsOpener(ad.Options{Now: clk.Now}),
		directory.TypeEntraID:         entra.SettingsOpener(entra.Options{Now: clk.Now}),
	})
	for _, e := range set.Entries() {
		if e.Err != nil {
			return nil, e.Err
		}
	}
	return set, nil
}

// startManager starts the manager with every controller, the simulated clock as its clock
// (RequeueAfter scaled to real time by the same clock) and a write-counting client.
func startManager(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme, clk *simclock.Scaled, connFile string, syncInterval time.Duration) (*manager, error) {
	dirs, err := openDirectories(connFile, clk)
	if err != nil {
		return nil, fmt.Errorf("opening the directory connection: %w", err)
	}
	m := &manager{done: make(chan error, 1), versions: map[string]map[string]bool{}, writesBy: map[string]int64{},
		rollbackSeen: map[string]bool{}, failingSeen: map[string]string{}}
	count := func(verb string, obj client.Object, sub string) {
		m.writes.Add(1)
		kind := fmt.Sprintf("%T", obj)
		if i := strings.LastIndex(kind, "."); i >= 0 {
			kind = kind[i+1:]
		}
		if sub != "" {
			kind += "/" + sub
		}
		m.writesMu.Lock()
		m.writesBy[verb+" "+kind]++
		m.writesMu.Unlock()
	}
	cacheOpts, err := controllers.CacheOptions("") // as cmd/manager without a shard
	if err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Cache: cacheOpts,
		// Tests run several demos, hence several managers, in one process.
		Controller:             ctrlconfig.Controller{SkipNameValidation: ptr.To(testingManyManagers)},
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		NewClient: func(config *rest.Config, options client.Options) (client.Client, error) {
			c, err := client.NewWithWatch(config, options)
			if err != nil {
				return nil, err
			}
			return countingClient(c, count), nil
		},
	})
	if err != nil {
		return nil, err
	}
	comps, err := controllers.SetupWithManager(ctx, mgr, controllers.Options{
		Directories: dirs, Clock: clk, SyncInterval: syncInterval, HeartbeatInterval: agentHeartbeat,
		RequeueScale: clk.Real,
	})
	if err != nil {
		return nil, err
	}
	if err := m.setupReportAPI(ctx, mgr, clk); err != nil {
		return nil, err
	}
	m.mgr, m.comps, m.reader = mgr, comps, mgr.GetCache()
	inf, err := mgr.GetCache().GetInformer(ctx, &lapsv1.ManagedDevice{})
	if err != nil {
		return nil, err
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { m.observe(o) },
		UpdateFunc: func(_, o any) { m.observe(o) },
	}); err != nil {
		return nil, err
	}
	go func() { m.done <- mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return nil, fmt.Errorf("the manager's cache did not sync")
	}
	return m, nil
}

// observe records what a ManagedDevice's status showed: the password versions (one per
// rotation), a detected rollback, a failing rotation.
func (m *manager) observe(o any) {
	d, ok := o.(*lapsv1.ManagedDevice)
	if !ok || d.Namespace != demoNamespace {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if v := passwordVersion(d); v != "" {
		if m.versions[d.Name] == nil {
			m.versions[d.Name] = map[string]bool{}
		}
		m.versions[d.Name][strings.ToLower(v)] = true
	}
	if c := apimeta.FindStatusCondition(d.Status.Conditions, lapsv1.ConditionRollbackDetected); c != nil && c.Status == metav1.ConditionTrue {
		m.rollbackSeen[d.Name] = true
	}
	if c := apimeta.FindStatusCondition(d.Status.Conditions, lapsv1.ConditionPasswordCurrent); c != nil && c.Reason == controllers.ReasonRotationFailing {
		m.failingSeen[d.Name] = c.Message
	}
}

// rotationsSeen is the number of password versions each device's status showed.
func (m *manager) rotationsSeen() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]int, len(m.versions))
	for d, vs := range m.versions {
		out[d] = len(vs)
	}
	return out
}

func (m *manager) writeCounts() map[string]int64 {
	m.writesMu.Lock()
	defer m.writesMu.Unlock()
	out := make(map[string]int64, len(m.writesBy))
	for k, v := range m.writesBy {
		out[k] = v
	}
	return out
}

func countingClient(c client.WithWatch, count func(verb string, obj client.Object, sub string)) client.Client {
	return interceptor.NewClient(c, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			count("create", obj, "")
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			count("update", obj, "")
			return c.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			count("patch", obj, "")
			return c.Patch(ctx, obj, patch, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			count("delete", obj, "")
			return c.Delete(ctx, obj, opts...)
		},
		DeleteAllOf: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteAllOfOption) error {
			count("deletecollection", obj, "")
			return c.DeleteAllOf(ctx, obj, opts...)
		},
		SubResourceCreate: func(ctx context.Context, c client.Client, sub string, obj, subObj client.Object, opts ...client.SubResourceCreateOption) error {
			count("create", obj, sub)
			return c.SubResource(sub).Create(ctx, obj, subObj, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			count("update", obj, sub)
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			count("patch", obj, sub)
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	})
}

// tierSelector is how a tier's policy selects its discovered devices: by the OU label the
// directory sync sets, or the domain-controller label.
func tierSelector(t tier) map[string]string {
	if t.DC {
		return map[string]string{dirsync.LabelDomainController: "true"}
	}
	return map[string]string{dirsync.LabelOU: dirsync.OUPath("OU=" + t.OU + ",DC=x")}
}

// tierPolicy is the LapsPolicy that mirrors the tier's Windows policy (what the simulated
// devices enforce).
func tierPolicy(t tier) *lapsv1.LapsPolicy {
	p := t.Policy
	complexity := map[int]lapsv1.PasswordComplexity{
		1: lapsv1.ComplexityLargeLetters, 2: lapsv1.ComplexityLargeAndSmallLetters, 3: lapsv1.ComplexityLargeAndSmallLettersAndNumbers,
		4: lapsv1.ComplexityLargeAndSmallLettersNumbersAndSpecials,
	}[p.PasswordComplexity]
	spec := lapsv1.LapsPolicySpec{
		BackupDirectory:                     lapsv1.BackupDirectoryActiveDirectory,
		DirectoryRef:                        lapsv1.DirectoryReference{Name: demoDirectoryName},
		PolicyRoot:                          lapsv1.PolicyRootGroupPolicy,
		DeviceSelector:                      &metav1.LabelSelector{MatchLabels: tierSelector(t)},
		PasswordAgeDays:                     ptr.To(int32(p.PasswordAgeDays)),
		PasswordLength:                      ptr.To(int32(p.PasswordLength)),
		PasswordExpirationProtectionEnabled: ptr.To(p.PasswordExpirationProtectionEnabled),
		ADPasswordEncryptionEnabled:         ptr.To(p.ADPasswordEncryptionEnabled),
		ADPasswordEncryptionPrincipal:       ptr.To(`DEMO\LAPS-Readers`),
		ADEncryptedPasswordHistorySize:      ptr.To(int32(p.ADEncryptedPasswordHistorySize)),
		PostAuthenticationResetDelay:        ptr.To(int32(p.PostAuthenticationResetDelay)),
	}
	if complexity != "" {
		spec.PasswordComplexity = &complexity
	}
	if t.DC {
		spec.ADBackupDSRMPassword = ptr.To(true)
	}
	spec.Rotation = t.Rotation
	return &lapsv1.LapsPolicy{ObjectMeta: metav1.ObjectMeta{Name: t.Name, Namespace: demoNamespace}, Spec: spec}
}

// applyDemoObjects creates the demo namespace, the manager's (for the agents' token hashes)
// and one LapsPolicy per tier.
func applyDemoObjects(ctx context.Context, c client.Client, tiers []tier) error {
	for _, ns := range []string{demoNamespace, reportNamespace} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	for _, t := range tiers {
		if err := c.Create(ctx, tierPolicy(t)); err != nil {
			return fmt.Errorf("LapsPolicy %s: %w", t.Name, err)
		}
	}
	return nil
}

// waitDiscovered waits until the directory sync created a ManagedDevice for every computer.
func waitDiscovered(ctx context.Context, c client.Reader, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var list lapsv1.ManagedDeviceList
		if err := c.List(ctx, &list, client.InNamespace(demoNamespace)); err != nil {
			return err
		}
		if len(list.Items) >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("discovery created %d of %d ManagedDevices in %s", len(list.Items), n, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// clusterView is what the cluster says about the demo namespace.
type clusterView struct {
	Devices, Ready, Current int
	// AgentReporting counts devices whose agent report the manager has taken in.
	AgentReporting  int
	Names, NotReady []string
	Requests        map[string]lapsv1.RotationPhase
}

func readCluster(ctx context.Context, c client.Reader) (clusterView, error) {
	v := clusterView{Requests: map[string]lapsv1.RotationPhase{}}
	var list lapsv1.ManagedDeviceList
	if err := c.List(ctx, &list, client.InNamespace(demoNamespace)); err != nil {
		return v, err
	}
	v.Devices = len(list.Items)
	for _, d := range list.Items {
		v.Names = append(v.Names, d.Name)
		ready := apimeta.IsStatusConditionTrue(d.Status.Conditions, lapsv1.ConditionReady)
		current := apimeta.IsStatusConditionTrue(d.Status.Conditions, lapsv1.ConditionPasswordCurrent)
		if ready {
			v.Ready++
		}
		if current {
			v.Current++
		}
		if apimeta.IsStatusConditionTrue(d.Status.Conditions, lapsv1.ConditionAgentReporting) {
			v.AgentReporting++
		}
		if !ready || !current {
			v.NotReady = append(v.NotReady, d.Name)
		}
	}
	sort.Strings(v.NotReady)
	var rrs lapsv1.RotationRequestList
	if err := c.List(ctx, &rrs, client.InNamespace(demoNamespace)); err != nil {
		return v, err
	}
	for _, r := range rrs.Items {
		v.Requests[r.Name] = r.Status.Phase
	}
	return v, nil
}

func (v clusterView) requestsDone() bool {
	for _, p := range v.Requests {
		if p != lapsv1.RotationSucceeded && p != lapsv1.RotationFailed {
			return false
		}
	}
	return true
}

func (v clusterView) count(phase lapsv1.RotationPhase) int {
	n := 0
	for _, p := range v.Requests {
		if p == phase {
			n++
		}
	}
	return n
}

// deviceObjectName is the ManagedDevice name discovery gives a computer.
func deviceObjectName(computer string) string {
	return dirsync.DiscoveredDevice("", directory.TypeActiveDirectory, &directoryconfig.Discovery{}, directory.DeviceRecord{Name: computer}).Name
}

// setupReportAPI adds the report API to the manager with a fresh self-signed certificate. It
// runs on the simulated clock like everything else, so its heartbeat interval and rate limit are
// simulated time; the clock-skew bound allows for a few real seconds of latency at the demo's
// speed.
func (m *manager) setupReportAPI(ctx context.Context, mgr ctrl.Manager, clk *simclock.Scaled) error {
	dir, err := os.MkdirTemp("", "fleetlaps-demo-report-")
	if err != nil {
		return err
	}
	go func() { <-ctx.Done(); _ = os.RemoveAll(dir) }()
	if m.reportCA, err = report.WriteSelfSigned(dir, []string{"127.0.0.1"}, time.Now()); err != nil {
		return err
	}
	skew := max(report.DefaultMaxSkew, time.Duration(clk.Speed()*float64(5*time.Second)))
	m.report, err = report.Setup(mgr, report.Options{Addr: "127.0.0.1:0", CertDir: dir, ManagerNamespace: reportNamespace,
		Clock: clk, Heartbeat: agentHeartbeat, MaxSkew: skew})
	return err
}
