package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/controllers"
	"github.com/fleetlaps/fleetlaps/internal/adsyntax"
	"github.com/fleetlaps/fleetlaps/internal/ldapserver"
	"github.com/fleetlaps/fleetlaps/internal/logcapture"
	"github.com/fleetlaps/fleetlaps/internal/testenv"
)

func init() { testingManyManagers = true }

// watcher is the test's own view of the cluster: an informer on ManagedDevices, independent of
// the demo's, recording what status showed over the run.
type watcher struct {
	mu       sync.Mutex
	versions map[string]map[string]bool
	rollback map[string]bool
	failing  map[string]string
}

func (w *watcher) observe(o any) {
	d, ok := o.(*lapsv1.ManagedDevice)
	if !ok || d.Namespace != demoNamespace {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if v := passwordVersion(d); v != "" {
		if w.versions[d.Name] == nil {
			w.versions[d.Name] = map[string]bool{}
		}
		w.versions[d.Name][strings.ToLower(v)] = true
	}
	if c := apimeta.FindStatusCondition(d.Status.Conditions, lapsv1.ConditionRollbackDetected); c != nil && c.Status == metav1.ConditionTrue {
		w.rollback[d.Name] = true
	}
	if c := apimeta.FindStatusCondition(d.Status.Conditions, lapsv1.ConditionPasswordCurrent); c != nil && c.Reason == controllers.ReasonRotationFailing {
		w.failing[d.Name] = c.Message
	}
}

// TestEndToEnd runs the whole demo headless (kube-apiserver + etcd, CRDs, the embedded
// directory, 50 simulated devices, the manager) for 72 simulated hours and asserts from the
// cluster and the directory, not from the demo's counters:
//   - every ManagedDevice Ready and PasswordCurrent, its status version the directory's;
//   - every device of a passwordAgeDays-1 tier showed at least 3 password versions in status
//     (the first backup and at least 2 rotations);
//   - every RotationRequest (by name, by selector, by annotation) Succeeded on evidence;
//   - the injected image rollback showed RollbackDetected=True and healed;
//   - the injected 10027 failure showed as PasswordCurrent=False/RotationFailing naming 10027;
//   - no password value (read from the directory as its admin) and no bind password in the
//     logs, the demo's output, events or any status.
func TestEndToEnd(t *testing.T) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		var err error
		if assets, err = testenv.AssetsDir(); err != nil {
			t.Fatal(err)
		}
	}
	logs, logger := logcapture.New(1)
	ctrl.SetLogger(logger)
	out, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = out
	defer func() { os.Stdout = stdout }()

	seen := &watcher{versions: map[string]map[string]bool{}, rollback: map[string]bool{}, failing: map[string]string{}}
	var inspected bool
	dir := t.TempDir()
	// Speed 1800: a simulated hour is 2 s. The rollback stays visible until the device's next
	// hourly cycle, and the agent's report, the status patch and the reconcile must all land
	// inside that window; at 4320 (0.8 s) a loaded machine missed it.
	o := options{assets: assets, workDir: dir, devices: 60, entraDevices: 10, simulate: 72 * time.Hour, speed: 1800, seed: 7,
		summaryFile: filepath.Join(dir, "summary.json"), channel: channelInProcess, syncInterval: 5 * time.Minute}
	o.started = func(ctx context.Context, cp *controlPlane, _ *world) error {
		scheme := runtime.NewScheme()
		_ = clientgoscheme.AddToScheme(scheme)
		_ = lapsv1.AddToScheme(scheme)
		c, err := cache.New(cp.cfg, cache.Options{Scheme: scheme})
		if err != nil {
			return err
		}
		inf, err := c.GetInformer(ctx, &lapsv1.ManagedDevice{})
		if err != nil {
			return err
		}
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc: seen.observe, UpdateFunc: func(_, o any) { seen.observe(o) },
		}); err != nil {
			return err
		}
		go func() { _ = c.Start(ctx) }()
		if !c.WaitForCacheSync(ctx) {
			return fmt.Errorf("test cache did not sync")
		}
		return nil
	}
	o.inspect = func(ctx context.Context, cp *controlPlane, w *world) error {
		inspected = true
		inspect(ctx, t, cp, w, seen, logs, out)
		return nil
	}
	start := time.Now()
	runErr := run(o)
	os.Stdout = stdout
	t.Logf("demo run took %s", time.Since(start).Round(time.Millisecond))
	if data, err := os.ReadFile(o.summaryFile); err == nil {
		t.Logf("summary: %s", data)
	}
	if runErr != nil {
		output, _ := os.ReadFile(out.Name())
		t.Fatalf("demo: %v\n%s", runErr, output)
	}
	if !inspected {
		t.Fatal("the run ended without the inspection")
	}
	// Every device's agent reported over HTTPS through the report API with its own token; no
	// report was refused and nothing wrote status.agent directly.
	data, err := os.ReadFile(o.summaryFile)
	if err != nil {
		t.Fatal(err)
	}
	var s summary
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if s.AgentReports == nil || s.AgentReports.Accepted < int64(s.Devices) || s.AgentReports.Rejected != 0 ||
		s.AgentWrites == nil || *s.AgentWrites != 0 || s.ReportAPIStatusWrites == nil || *s.ReportAPIStatusWrites == 0 {
		t.Errorf("agent reports in the summary: %+v, direct status writes %v, report API writes %v", s.AgentReports, s.AgentWrites, s.ReportAPIStatusWrites)
	}
	// Per directory: the 50 AD and the 10 Entra devices all Ready and PasswordCurrent; both
	// directories answered the controller.
	want := map[string]int{demoDirectoryName: 50, demoEntraName: 10}
	for name, n := range want {
		c := s.Directories[name]
		if c == nil || c.Devices != n || c.Ready != n || c.PasswordCurrent != n || c.RoundTrips == 0 {
			t.Errorf("summary directories[%s] = %+v, want %d devices all Ready and PasswordCurrent with round trips", name, c, n)
		}
	}
	if s.Devices != 60 || s.Ready == nil || *s.Ready != 60 || s.PasswordCurrent != 60 || s.BackedUp != 60 {
		t.Errorf("summary over all devices: %d devices, ready %v, %d current, %d backed up; want 60 each", s.Devices, s.Ready, s.PasswordCurrent, s.BackedUp)
	}
}

func inspect(ctx context.Context, t *testing.T, cp *controlPlane, w *world, seen *watcher, logs *logcapture.Buffer, out *os.File) {
	c := cp.client
	var devices lapsv1.ManagedDeviceList
	if err := c.List(ctx, &devices, client.InNamespace(demoNamespace)); err != nil {
		t.Fatal(err)
	}
	if len(devices.Items) != w.deviceCount() {
		t.Fatalf("%d ManagedDevices for %d computers", len(devices.Items), w.deviceCount())
	}
	inspectEntra(ctx, t, cp, w, devices.Items)
	admin := ldapserver.Identity{DN: w.dir.Credentials(ldapserver.RoleAdmin).DN, Role: ldapserver.RoleAdmin}
	var secrets []string
	tierOf := map[string]tier{}
	for _, tr := range demoTiers() {
		tierOf[tr.Name] = tr
	}
	byName := map[string]demoDevice{}
	for _, d := range w.devices {
		byName[deviceObjectName(d.Name)] = d
	}
	seen.mu.Lock()
	defer seen.mu.Unlock()
	for _, d := range devices.Items {
		for _, typ := range []string{lapsv1.ConditionReady, lapsv1.ConditionPasswordCurrent} {
			if !apimeta.IsStatusConditionTrue(d.Status.Conditions, typ) {
				t.Errorf("%s: %s is not True: %+v", d.Name, typ, apimeta.FindStatusCondition(d.Status.Conditions, typ))
			}
		}
		if d.Spec.DirectoryRef.Name == demoEntraName {
			continue // inspectEntra
		}
		dd, ok := byName[d.Name]
		if !ok {
			t.Errorf("ManagedDevice %s has no computer", d.Name)
			continue
		}
		vals, err := w.dir.Store().Read(admin, dd.DN, ldapserver.AttrCurrentPasswordVersion, ldapserver.AttrEncryptedPassword,
			ldapserver.AttrEncryptedPasswordHistory, ldapserver.AttrEncryptedDSRMPassword, ldapserver.AttrEncryptedDSRMPasswordHistory,
			ldapserver.AttrPassword, ldapserver.AttrLegacyPassword)
		if err != nil {
			t.Fatalf("reading %s as the directory admin: %v", dd.DN, err)
		}
		if v := vals[ldapserver.AttrCurrentPasswordVersion]; len(v) != 1 {
			t.Errorf("%s: no version in the directory", d.Name)
		} else if g, _ := adsyntax.ParseGUID([]byte(v[0])); !strings.EqualFold(g, d.Status.CurrentPasswordVersion) {
			t.Errorf("%s: status version %s, directory %s", d.Name, d.Status.CurrentPasswordVersion, g)
		}
		for attr, vs := range vals {
			if attr == ldapserver.AttrCurrentPasswordVersion {
				continue
			}
			secrets = append(secrets, vs...)
		}
		if tierOf[dd.Tier].Policy.PasswordAgeDays == 1 {
			if n := len(seen.versions[d.Name]); n < 3 {
				t.Errorf("%s (tier %s, passwordAgeDays 1): status showed %d password versions in 72h, want the first backup and at least 2 rotations", d.Name, dd.Tier, n)
			}
		}
	}
	if len(secrets) < len(w.devices) {
		t.Fatalf("read only %d confidential values for %d devices: the secret scan would prove little", len(secrets), len(w.devices))
	}

	// RotationRequests: by name, by selector, by annotation; all Succeeded on evidence.
	var rrs lapsv1.RotationRequestList
	if err := c.List(ctx, &rrs, client.InNamespace(demoNamespace)); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, r := range rrs.Items {
		switch {
		case r.Annotations[lapsv1.AnnotationRotateRequestedAt] != "":
			kinds["annotation"] = true
		case r.Spec.DeviceSelector != nil:
			kinds["selector"] = true
		case r.Spec.DeviceName != "":
			kinds["name"] = true
		}
		if r.Status.Phase != lapsv1.RotationSucceeded || !apimeta.IsStatusConditionTrue(r.Status.Conditions, lapsv1.ConditionReady) {
			t.Errorf("RotationRequest %s: phase %s, conditions %+v", r.Name, r.Status.Phase, r.Status.Conditions)
		}
		if len(r.Status.Results) == 0 {
			t.Errorf("RotationRequest %s has no results", r.Name)
		}
		for _, res := range r.Status.Results {
			if res.State != lapsv1.DeviceRotationRotated || res.WrittenAt == nil || res.RotatedAt == nil || res.RotatedAt.Before(res.WrittenAt) {
				t.Errorf("RotationRequest %s, device %s: %+v", r.Name, res.Device, res)
			}
			// Evidence: the device's status now shows a version other than the one recorded
			// when the rotation was requested.
			for _, d := range devices.Items {
				if d.Name == res.Device && d.Spec.DirectoryRef.Name == demoEntraName {
					continue // inspectEntra
				}
				if d.Name == res.Device && strings.EqualFold(d.Status.CurrentPasswordVersion, res.PreviousPasswordVersion) {
					t.Errorf("RotationRequest %s, device %s: still at the version %s it replaced", r.Name, res.Device, res.PreviousPasswordVersion)
				}
			}
		}
	}
	for _, k := range []string{"name", "selector", "annotation"} {
		if !kinds[k] {
			t.Errorf("no RotationRequest created by %s among %d", k, len(rrs.Items))
		}
	}

	// The scripted incidents: the rollback on the first workstation, 10027 on the second.
	var ws []string
	for _, d := range w.devices {
		if d.Tier == "frontline" {
			ws = append(ws, deviceObjectName(d.Name))
		}
	}
	if !seen.rollback[ws[0]] {
		t.Errorf("%s: RollbackDetected never showed True after the image rollback", ws[0])
	}
	for _, d := range devices.Items {
		if d.Name == ws[0] && !apimeta.IsStatusConditionFalse(d.Status.Conditions, lapsv1.ConditionRollbackDetected) {
			t.Errorf("%s: the rollback did not heal: %+v", d.Name, apimeta.FindStatusCondition(d.Status.Conditions, lapsv1.ConditionRollbackDetected))
		}
	}
	if msg := seen.failing[ws[1]]; !strings.Contains(msg, "10027") {
		t.Errorf("%s: the 10027 failure never showed as PasswordCurrent=False/%s (seen: %v)", ws[1], controllers.ReasonRotationFailing, seen.failing)
	}
	for name := range seen.rollback {
		if name != ws[0] {
			t.Logf("note: %s showed RollbackDetected=True at some point", name)
		}
	}

	// No secret anywhere: logs, the demo's output, events, every object's status.
	var haystack strings.Builder
	haystack.WriteString(logs.String())
	if _, err := out.Seek(0, io.SeekStart); err == nil {
		data, _ := io.ReadAll(out)
		haystack.Write(data)
	}
	var policies lapsv1.LapsPolicyList
	var events eventsv1.EventList
	var legacyEvents corev1.EventList
	for _, l := range []client.ObjectList{&devices, &rrs, &policies, &events, &legacyEvents} {
		if err := c.List(ctx, l); err != nil {
			t.Fatal(err)
		}
		data, _ := json.Marshal(l)
		haystack.Write(data)
	}
	if len(events.Items)+len(legacyEvents.Items) == 0 {
		t.Error("no events recorded: the scan would prove nothing about them")
	}
	all := haystack.String()
	if !strings.Contains(all, ws[1]) || !strings.Contains(all, "10027") {
		t.Error("the scanned material does not mention the incidents: the scan looked at nothing")
	}
	for _, role := range []ldapserver.Role{ldapserver.RoleController, ldapserver.RoleDevice, ldapserver.RoleAdmin} {
		secrets = append(secrets, w.dir.Credentials(role).Password)
	}
	secrets = append(secrets, w.entra.emu.ClientSecret())
	leaks := 0
	for _, s := range secrets {
		if len(s) < 8 {
			continue
		}
		forms := []string{s, base64.StdEncoding.EncodeToString([]byte(s))}
		if len(s) > 48 {
			// The opaque part after the 16-byte header, as text, base64 or hex.
			body := []byte(s[16:48])
			forms = append(forms, string(body), hex.EncodeToString(body))
		}
		for _, f := range forms {
			if strings.Contains(all, f) {
				leaks++
			}
		}
	}
	if leaks > 0 {
		t.Errorf("%d secret values (of %d) appear in logs, output, events or status", leaks, len(secrets))
	}
	t.Logf("scanned %d KiB of logs, output, events and status for %d secret values; %d events", len(all)/1024, len(secrets), len(events.Items)+len(legacyEvents.Items))
}

// TestInteractiveWithControlPlane runs the interactive mode with the control plane until
// --run-for ends it: the summary is read from the cluster and everything is stopped after.
func TestInteractiveWithControlPlane(t *testing.T) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		var err error
		if assets, err = testenv.AssetsDir(); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	var host string
	var out bytes.Buffer
	o := options{assets: assets, workDir: dir, devices: 5, runFor: 15 * time.Second, speed: 3600, seed: 2,
		summaryFile: filepath.Join(dir, "summary.json"), channel: channelInProcess, syncInterval: 5 * time.Minute,
		out: &out, terminal: true}
	o.started = func(_ context.Context, cp *controlPlane, _ *world) error {
		host = cp.cfg.Host
		return nil
	}
	if err := run(o); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(o.summaryFile)
	if err != nil {
		t.Fatal(err)
	}
	var s summary
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if s.Devices != 5 || s.Ready == nil || *s.Ready == 0 || s.APIServerWrites == nil || *s.APIServerWrites == 0 {
		t.Fatalf("summary %s", data)
	}
	if _, err := os.Stat(filepath.Join(dir, "kubeconfig")); err != nil {
		t.Errorf("no kubeconfig for the user: %v", err)
	}
	if host == "" {
		t.Fatal("the control plane never started")
	}
	// The status view: progress from the cluster, the commands to try (the plugin first), and
	// nothing but the view (the manager logs elsewhere).
	view := out.String()
	for _, want := range []string{"| ready ", "Try in another shell", "kubectl laps status -n " + demoNamespace, "automation: RotationRequest"} {
		if !strings.Contains(view, want) {
			t.Errorf("status view lacks %q:\n%s", want, view)
		}
	}
	if strings.Contains(view, `"level"`) || strings.Contains(view, `"msg"`) {
		t.Errorf("log lines in the status view:\n%s", view)
	}
	if conn, err := net.DialTimeout("tcp", strings.TrimPrefix(strings.TrimPrefix(host, "https://"), "http://"), time.Second); err == nil {
		_ = conn.Close()
		t.Errorf("kube-apiserver at %s still listens after the demo stopped", host)
	}
}
