package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
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
	"github.com/fleetlaps/fleetlaps/internal/directoryconfig"
	"github.com/fleetlaps/fleetlaps/internal/dirsync"
	"github.com/fleetlaps/fleetlaps/internal/fleetsim"
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
}

func openDirectories(connFile string, clk *simclock.Scaled) (*directoryconfig.Set, error) {
	f, err := directoryconfig.Load(connFile)
	if err != nil {
		return nil, err
	}
	set := directoryconfig.Open(f, directoryconfig.Registry{
		directory.TypeActiveDirectory: ad.SettingsOpener(ad.Options{Now: clk.Now}),
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
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
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
	if v := d.Status.CurrentPasswordVersion; v != "" {
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
	return &lapsv1.LapsPolicy{ObjectMeta: metav1.ObjectMeta{Name: t.Name, Namespace: demoNamespace}, Spec: spec}
}

// applyDemoObjects creates the demo namespace and one LapsPolicy per tier.
func applyDemoObjects(ctx context.Context, c client.Client) error {
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: demoNamespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	for _, t := range demoTiers() {
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
	Names, NotReady         []string
	Requests                map[string]lapsv1.RotationPhase
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

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stdout, format+"\n", args...)
}

// agentReporter plays the endpoint agents: it writes each device's fleetsim report into
// ManagedDevice status.agent through the status subresource, coarsely: when what it reports
// changed, or once per heartbeat.
type agentReporter struct {
	c      client.Client
	fleet  *fleetsim.Fleet
	clock  *simclock.Scaled
	names  map[string]string // computer name -> ManagedDevice name
	mu     sync.Mutex
	sent   map[string]lapsv1.AgentStatus
	writes atomic.Int64
}

func newAgentReporter(c client.Client, w *world) *agentReporter {
	a := &agentReporter{c: c, fleet: w.fleet, clock: w.clock, names: map[string]string{}, sent: map[string]lapsv1.AgentStatus{}}
	for _, d := range w.devices {
		a.names[d.Name] = deviceObjectName(d.Name)
	}
	return a
}

// deviceObjectName is the ManagedDevice name discovery gives a computer.
func deviceObjectName(computer string) string {
	return dirsync.DiscoveredDevice("", directory.TypeActiveDirectory, &directoryconfig.Discovery{}, directory.DeviceRecord{Name: computer}).Name
}

// agentEvents are the events the agent forwards (failures, rollback, the last success).
var agentEvents = map[int]bool{fleetsim.EventCycleFailed: true, fleetsim.EventADQueryFailed: true, fleetsim.EventPasswordNeedsUpdate: true,
	fleetsim.EventADUpdateFailed: true, fleetsim.EventComplexityUnachievable: true, fleetsim.EventEntraUpdateFailed: true,
	fleetsim.EventPostAuthResetFailed: true, fleetsim.EventStoredInAD: true}

func agentStatus(r fleetsim.Report, now time.Time) lapsv1.AgentStatus {
	s := lapsv1.AgentStatus{
		LastReportTime: ptr.To(metav1.NewTime(now.UTC().Truncate(time.Second))), OSBuild: r.OSBuild,
		ActivePolicyRoot: lapsv1.PolicyRoot(r.ActivePolicyRoot), LocalPasswordVersion: r.LocalPasswordVersion, BootMode: string(r.BootMode),
	}
	if !r.LocalExpirationTime.IsZero() {
		s.LocalExpirationTime = ptr.To(metav1.NewTime(r.LocalExpirationTime.UTC().Truncate(time.Second)))
	}
	for i := len(r.RecentEvents) - 1; i >= 0 && len(s.RecentEvents) < 10; i-- {
		e := r.RecentEvents[i]
		if !agentEvents[e.ID] {
			continue
		}
		msg := e.Message
		if len(msg) > 200 {
			msg = msg[:200]
		}
		s.RecentEvents = append(s.RecentEvents, lapsv1.AgentEvent{ID: int32(e.ID), Time: metav1.NewTime(e.Time.UTC().Truncate(time.Second)), Message: msg})
	}
	return s
}

// changed says whether a report differs from the last one sent in more than its time.
func changed(a, b lapsv1.AgentStatus) bool {
	a.LastReportTime, b.LastReportTime = nil, nil
	if len(a.RecentEvents) > 0 && len(b.RecentEvents) > 0 {
		// Only a new newest event counts; older ones age out of the window.
		a.RecentEvents, b.RecentEvents = a.RecentEvents[:1], b.RecentEvents[:1]
	}
	return !apiequality.Semantic.DeepEqual(a, b)
}

// reportAll sends every device's report that changed or whose heartbeat is due (all when force).
func (a *agentReporter) reportAll(ctx context.Context, force bool) {
	now := a.clock.Now()
	for _, r := range a.fleet.Reports() {
		if ctx.Err() != nil {
			return
		}
		a.report(ctx, r, now, force)
	}
}

// reportDevice sends one device's report at once (the agent reports after a reboot).
func (a *agentReporter) reportDevice(ctx context.Context, computer string) {
	if r, err := a.fleet.Report(computer); err == nil {
		a.report(ctx, r, a.clock.Now(), true)
	}
}

func (a *agentReporter) report(ctx context.Context, r fleetsim.Report, now time.Time, force bool) {
	st := agentStatus(r, now)
	name := a.names[r.Device]
	a.mu.Lock()
	prev, ok := a.sent[name]
	a.mu.Unlock()
	if !force && ok && !changed(prev, st) && prev.LastReportTime != nil && now.Sub(prev.LastReportTime.Time) < agentHeartbeat {
		return
	}
	data, err := json.Marshal(map[string]any{"status": map[string]any{"agent": st}})
	if err != nil {
		return
	}
	d := &lapsv1.ManagedDevice{ObjectMeta: metav1.ObjectMeta{Namespace: demoNamespace, Name: name}}
	if err := a.c.Status().Patch(ctx, d, client.RawPatch(types.MergePatchType, data)); err != nil {
		return // not discovered yet, or shutting down: the next tick retries
	}
	a.writes.Add(1)
	a.mu.Lock()
	a.sent[name] = st
	a.mu.Unlock()
}

// run reports every `every` of simulated time until ctx ends.
func (a *agentReporter) run(ctx context.Context, every time.Duration) {
	t := a.clock.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			a.reportAll(ctx, false)
		}
	}
}
