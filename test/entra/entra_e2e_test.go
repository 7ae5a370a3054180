// Package entra runs the manager end to end against a kube-apiserver (envtest) and the strict
// Graph emulator, reached only through the connection's graphEndpoint, authorityHost and caFile
// settings, exactly as the manager reaches a real tenant.
package entra

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/controllers"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/directory/entra"
	"github.com/fleetlaps/fleetlaps/internal/directoryconfig"
	"github.com/fleetlaps/fleetlaps/internal/graphemu"
	"github.com/fleetlaps/fleetlaps/internal/logcapture"
	"github.com/fleetlaps/fleetlaps/internal/testenv"
)

const (
	fleetSize = 8
	namespace = "fleet"
	foreignNS = "other"
	connName  = "contoso-entra"
	groupID   = "5f0c2a9e-1b7d-4e3a-9c8b-2d6e4f1a0b3c"
)

// violations records what the emulator forbids; every test ends by asserting there are none.
type violations struct {
	mu  sync.Mutex
	got []string
}

func (v *violations) Errorf(format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.got = append(v.got, fmt.Sprintf(format, args...))
}

func (v *violations) check(t *testing.T) {
	t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, g := range v.got {
		t.Errorf("emulator: %s", g)
	}
}

var (
	emu    *graphemu.Server
	forbid = &violations{}
	k8s    client.Client
	ids    []string
	logs   *logcapture.Buffer
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	var logger logr.Logger
	logs, logger = logcapture.New(1)
	ctrl.SetLogger(logger)
	emu = graphemu.New(forbid, graphemu.Options{})
	defer emu.Close()
	ids = emu.AddFleet("wks", fleetSize, time.Now().Add(-24*time.Hour).Truncate(time.Second))

	cfg, stop, err := testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = stop() }()
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = lapsv1.AddToScheme(scheme)
	if k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, ns := range []string{namespace, foreignNS} {
		if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	dirs, err := directories()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := controllers.SetupWithManager(ctx, mgr, controllers.Options{Directories: dirs, SyncInterval: 2 * time.Second}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
	}()
	return m.Run()
}

// directories is the manager's --directories file: one entraID connection whose settings point
// at the emulator, with the client secret in a Secret-like credentials directory.
func directories() (*directoryconfig.Set, error) {
	creds, err := os.MkdirTemp("", "fleetlaps-entra-creds-")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(creds, entra.SecretFile), []byte(emu.ClientSecret()), 0o600); err != nil {
		return nil, err
	}
	ca, err := emu.WriteCAFile(creds)
	if err != nil {
		return nil, err
	}
	doc := map[string]any{"directories": []any{map[string]any{
		"name": connName, "type": "entraID", "credentialsDir": creds,
		"settings": map[string]any{
			"tenantID": emu.TenantID(), "clientID": emu.ClientID(),
			"graphEndpoint": emu.URL(), "authorityHost": emu.URL(), "caFile": ca, "pageSize": 3,
		},
		"discovery": map[string]any{"enabled": true, "namespace": namespace},
	}}}
	data, _ := json.Marshal(doc)
	file, err := directoryconfig.Parse(data)
	if err != nil {
		return nil, err
	}
	set := directoryconfig.Open(file, directoryconfig.Registry{directory.TypeEntraID: entra.OpenFromSettings})
	for _, e := range set.Entries() {
		if e.Err != nil {
			return nil, e.Err
		}
	}
	return set, nil
}

func eventually(t *testing.T, what string, timeout time.Duration, f func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := f()
		if ok {
			return
		}
		last = state
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v; last state: %s", what, timeout, last)
}

func condition(conds []metav1.Condition, t string) string {
	c := apimeta.FindStatusCondition(conds, t)
	if c == nil {
		return "absent"
	}
	return string(c.Status) + "/" + c.Reason
}

// An EntraID LapsPolicy is published to Intune and assigned to its group; discovered devices get
// their conditions from Graph metadata; a RotationRequest sends one rotate action and succeeds
// on evidence (a later backup); a device of a namespace the connection does not admit gets no
// Graph call; LAPS turned off in the tenant shows on the policy; deleting the policy deletes the
// Intune policy.
func TestEntraEndToEnd(t *testing.T) {
	ctx := context.Background()
	defer forbid.check(t)

	policy := &lapsv1.LapsPolicy{ObjectMeta: metav1.ObjectMeta{Name: "workstations", Namespace: namespace}, Spec: lapsv1.LapsPolicySpec{
		BackupDirectory: lapsv1.BackupDirectoryEntraID, DirectoryRef: lapsv1.DirectoryReference{Name: connName},
		Entra: &lapsv1.EntraPolicySettings{AssignToGroupIDs: []string{groupID}},
	}}
	if err := k8s.Create(ctx, policy); err != nil {
		t.Fatal(err)
	}
	eventually(t, "policy published", 60*time.Second, func() (bool, string) {
		var p lapsv1.LapsPolicy
		_ = k8s.Get(ctx, client.ObjectKeyFromObject(policy), &p)
		ok := condition(p.Status.Conditions, lapsv1.ConditionPolicyPushed) == "True/Published" &&
			condition(p.Status.Conditions, lapsv1.ConditionTenantLAPSEnabled) == "True/Enabled" && len(p.Status.Published) == 1
		return ok, fmt.Sprintf("%v %+v", p.Status.Conditions, p.Status.Published)
	})
	var p lapsv1.LapsPolicy
	_ = k8s.Get(ctx, client.ObjectKeyFromObject(policy), &p)
	pols := emu.Policies()
	if len(pols) != 1 || pols[0].ID != p.Status.Published[0].Ref || len(pols[0].GroupIDs) != 1 || pols[0].GroupIDs[0] != groupID {
		t.Fatalf("Intune holds %+v; status.published %+v", pols, p.Status.Published)
	}

	var devices lapsv1.ManagedDeviceList
	eventually(t, "devices discovered with conditions", 60*time.Second, func() (bool, string) {
		_ = k8s.List(ctx, &devices, client.InNamespace(namespace))
		current, ready := 0, 0
		var states []string
		for _, d := range devices.Items {
			if apimeta.IsStatusConditionTrue(d.Status.Conditions, lapsv1.ConditionPasswordCurrent) {
				current++
			}
			if apimeta.IsStatusConditionTrue(d.Status.Conditions, lapsv1.ConditionReady) {
				ready++
			}
			states = append(states, d.Name+":"+condition(d.Status.Conditions, lapsv1.ConditionReady))
		}
		return len(devices.Items) == fleetSize && current == fleetSize && ready == fleetSize,
			fmt.Sprintf("%d devices, %d PasswordCurrent, %d Ready: %v", len(devices.Items), current, ready, states)
	})
	target := devices.Items[0]
	for _, d := range devices.Items {
		if d.Status.Conditions != nil && strings.HasSuffix(d.Name, "00002") {
			target = d
		}
	}

	// A namespace the connection does not admit names a real device of the tenant.
	foreign := &lapsv1.ManagedDevice{ObjectMeta: metav1.ObjectMeta{Name: "stolen", Namespace: foreignNS}, Spec: lapsv1.ManagedDeviceSpec{
		DirectoryRef: lapsv1.DirectoryReference{Name: connName},
		Identity:     lapsv1.DeviceIdentity{EntraID: &lapsv1.EntraIDIdentity{DeviceID: ids[0]}},
	}}
	if err := k8s.Create(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Create(ctx, &lapsv1.RotationRequest{ObjectMeta: metav1.ObjectMeta{Name: "steal", Namespace: foreignNS},
		Spec: lapsv1.RotationRequestSpec{DeviceName: "stolen", Reason: "foreign namespace"}}); err != nil {
		t.Fatal(err)
	}

	rr := &lapsv1.RotationRequest{ObjectMeta: metav1.ObjectMeta{Name: "rotate-one", Namespace: namespace},
		Spec: lapsv1.RotationRequestSpec{DeviceName: target.Name, Reason: "end-to-end test"}}
	if err := k8s.Create(ctx, rr); err != nil {
		t.Fatal(err)
	}
	devID := target.Spec.Identity.EntraID.DeviceID
	eventually(t, "rotate action sent", 60*time.Second, func() (bool, string) {
		d, _ := emu.DeviceState(devID)
		return d.Rotations > 0, fmt.Sprintf("%d rotate actions", d.Rotations)
	})
	eventually(t, "rotation succeeded on evidence", 60*time.Second, func() (bool, string) {
		emu.CheckIn(time.Now())
		var got lapsv1.RotationRequest
		_ = k8s.Get(ctx, client.ObjectKeyFromObject(rr), &got)
		return got.Status.Phase == lapsv1.RotationSucceeded, fmt.Sprintf("phase %s %+v", got.Status.Phase, got.Status.Results)
	})
	var steal lapsv1.RotationRequest
	_ = k8s.Get(ctx, client.ObjectKey{Namespace: foreignNS, Name: "steal"}, &steal)
	if d, _ := emu.DeviceState(ids[0]); d.Rotations != 0 || emu.Count("rotate") != 1 {
		t.Fatalf("foreign request: device %s got %d rotate actions, %d in all (want 0 and 1); its request: %s %+v",
			ids[0], d.Rotations, emu.Count("rotate"), steal.Status.Phase, steal.Status.Results)
	}
	var fd lapsv1.ManagedDevice
	_ = k8s.Get(ctx, client.ObjectKeyFromObject(foreign), &fd)
	if c := condition(fd.Status.Conditions, "Stalled"); c != "True/DirectoryNotAllowed" {
		t.Fatalf("foreign device Stalled = %s, want True/DirectoryNotAllowed", c)
	}

	// LAPS turned off in the tenant: the policy says so and is not Ready.
	emu.SetTenantLAPSEnabled(false)
	_ = k8s.Get(ctx, client.ObjectKeyFromObject(policy), &p)
	p.Spec.Priority = 5
	if err := k8s.Update(ctx, &p); err != nil {
		t.Fatal(err)
	}
	eventually(t, "TenantLAPSDisabled", 60*time.Second, func() (bool, string) {
		var got lapsv1.LapsPolicy
		_ = k8s.Get(ctx, client.ObjectKeyFromObject(policy), &got)
		c := condition(got.Status.Conditions, lapsv1.ConditionTenantLAPSEnabled)
		return c == "False/"+controllers.ReasonTenantLAPSDisabled && condition(got.Status.Conditions, lapsv1.ConditionReady) != "absent" &&
			apimeta.IsStatusConditionFalse(got.Status.Conditions, lapsv1.ConditionReady), fmt.Sprintf("%v", got.Status.Conditions)
	})
	emu.SetTenantLAPSEnabled(true)

	// Deleting the policy deletes the Intune policy.
	if err := k8s.Delete(ctx, policy); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Intune policy deleted", 60*time.Second, func() (bool, string) {
		return len(emu.Policies()) == 0, fmt.Sprintf("%d policies", len(emu.Policies()))
	})
	if strings.Contains(logs.String(), emu.ClientSecret()) {
		t.Fatal("the client secret appears in the manager's logs")
	}
}
