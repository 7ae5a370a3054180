package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/agent"
	"github.com/fleetlaps/fleetlaps/internal/directory/entra"
	"github.com/fleetlaps/fleetlaps/internal/dirsync"
	"github.com/fleetlaps/fleetlaps/internal/graphemu"
	"github.com/fleetlaps/fleetlaps/internal/policy"
	"github.com/fleetlaps/fleetlaps/internal/render"
	"github.com/fleetlaps/fleetlaps/internal/report"
)

// The demo's Entra ID side: a slice of the fleet is Entra-joined and Intune-managed. Those
// devices back up to the strict Graph emulator, which the manager reaches through an entraID
// connection (graphEndpoint, authorityHost and caFile pointing at it), exactly as it reaches a
// real tenant.
const (
	demoEntraName       = "demo-entra"
	demoEntraPrefix     = "AAD"
	demoEntraPolicyName = "entra-workstations"
	// demoEntraGroupID is the Entra group the Intune policy is assigned to.
	demoEntraGroupID = "3b6f1c0e-2a4d-4f8e-9b1a-7c5d2e0f4a61"
	// demoEntraAgeDays is the Entra minimum passwordAgeDays (Windows LAPS refuses less when it
	// backs up to Entra ID).
	demoEntraAgeDays = 7
	// entraCheckIn is how often (simulated) the Entra devices run their LAPS cycle and process
	// pending Intune actions.
	entraCheckIn = time.Hour
)

// defaultEntraDevices is --entra-devices when not given: about a fifth of the fleet.
func defaultEntraDevices(devices int) int { return devices / 5 }

// graphViolations records the requests the emulator refuses as forbidden (a password asked
// for, a body where none belongs); any makes the run fail.
type graphViolations struct {
	mu  sync.Mutex
	got []string
}

func (v *graphViolations) Errorf(format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.got = append(v.got, fmt.Sprintf(format, args...))
}

func (v *graphViolations) list() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.got...)
}

// entraWorld is the emulated tenant and its devices.
type entraWorld struct {
	emu       *graphemu.Server
	forbidden *graphViolations
	names     []string // device names, in order
	ids       map[string]string
}

// addEntra starts the Graph emulator on the demo's simulated clock with n devices. Their last
// backups are spread over the past passwordAgeDays, so some come due during the run.
func (w *world) addEntra(n int) {
	v := &graphViolations{}
	e := &entraWorld{emu: graphemu.New(v, graphemu.Options{Now: w.clock.Now}), forbidden: v, ids: map[string]string{}}
	w.closers = append(w.closers, e.emu.Close)
	epoch := w.clock.Epoch()
	age := time.Duration(demoEntraAgeDays) * 24 * time.Hour
	for i := range n {
		name := fmt.Sprintf("%s-%04d", demoEntraPrefix, i+1)
		id := fmt.Sprintf("a0a0%04x-0000-4000-8000-%012x", i/0x10000, i+1)
		back := epoch.Add(-age * time.Duration(i+1) / time.Duration(n+1)).Truncate(time.Second)
		e.emu.AddDevice(graphemu.Device{ID: id, Name: name, ManagedDeviceID: fmt.Sprintf("b1b1%04x-1111-4000-8000-%012x", i/0x10000, i+1),
			LastBackup: back, AgeDays: demoEntraAgeDays})
		e.names = append(e.names, name)
		e.ids[strings.ToLower(id)] = name
	}
	w.entra = e
}

// deviceCount is the whole fleet: AD and Entra devices.
func (w *world) deviceCount() int {
	if w.entra == nil {
		return len(w.devices)
	}
	return len(w.devices) + len(w.entra.names)
}

// connection is the entraID entry of the --directories file: the client secret and the
// emulator's CA in a Secret-like credentials directory.
func (e *entraWorld) connection(workDir string) (map[string]any, error) {
	creds := filepath.Join(workDir, "entra")
	if err := os.MkdirAll(creds, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(creds, entra.SecretFile), []byte(e.emu.ClientSecret()), 0o600); err != nil {
		return nil, err
	}
	ca, err := e.emu.WriteCAFile(creds)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"name": demoEntraName, "type": "entraID", "credentialsDir": creds,
		"settings": map[string]any{
			"tenantID": e.emu.TenantID(), "clientID": e.emu.ClientID(),
			"graphEndpoint": e.emu.URL(), "authorityHost": e.emu.URL(), "caFile": ca,
		},
		"discovery": map[string]any{"enabled": true, "namespace": demoNamespace},
	}, nil
}

// run lets every Entra device check in every entraCheckIn of simulated time until ctx ends.
func (e *entraWorld) run(ctx context.Context, w *world) {
	t := w.clock.NewTicker(entraCheckIn)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			e.emu.CheckIn(w.clock.Now())
		}
	}
}

// roundTrips is every request the emulator answered: token, Graph reads, rotate actions and
// policy calls (throttled and failed answers are counted under their own kinds as well).
func (e *entraWorld) roundTrips() int64 {
	var n int64
	for _, k := range []string{"token", "listCredentials", "getCredential", "findManagedDevice", "getManagedDevice", "rotate",
		"createPolicy", "listPolicies", "getPolicy", "updatePolicy", "deletePolicy", "assignPolicy", "registrationPolicy"} {
		n += int64(e.emu.Count(k))
	}
	return n
}

// entraPolicy is the demo's Entra LapsPolicy: published to Intune and assigned to one group,
// selecting the devices discovered through the entraID connection.
func entraPolicy() *lapsv1.LapsPolicy {
	return &lapsv1.LapsPolicy{ObjectMeta: metav1.ObjectMeta{Name: demoEntraPolicyName, Namespace: demoNamespace}, Spec: lapsv1.LapsPolicySpec{
		BackupDirectory: lapsv1.BackupDirectoryEntraID,
		DirectoryRef:    lapsv1.DirectoryReference{Name: demoEntraName},
		DeviceSelector:  &metav1.LabelSelector{MatchLabels: map[string]string{dirsync.LabelDirectory: demoEntraName}},
		PasswordAgeDays: ptr.To(int32(demoEntraAgeDays)),
		Entra:           &lapsv1.EntraPolicySettings{AssignToGroupIDs: []string{demoEntraGroupID}},
	}}
}

// entraSource is an Entra device's agent: what Windows LAPS applied (the Intune policy through
// the CSP root) and the expiry the device keeps, which is its last backup plus passwordAgeDays.
type entraSource struct {
	emu     *graphemu.Server
	id      string
	root    string
	applied []render.RegistryValue
}

func (s *entraSource) Collect(context.Context) (agent.State, error) {
	d, ok := s.emu.DeviceState(s.id)
	if !ok {
		return agent.State{}, fmt.Errorf("no Entra device %s", s.id)
	}
	st := agent.State{OSBuild: "10.0.26100", BootMode: "Normal", ActiveRoot: s.root, AppliedValues: s.applied}
	if !d.LastBackup.IsZero() {
		st.LocalExpirationTime = d.LastBackup.Add(time.Duration(demoEntraAgeDays) * 24 * time.Hour)
	}
	return st, nil
}

// entraAgents lists the ManagedDevices discovery created for the Entra devices and returns
// their references with one agent source each.
func (e *entraWorld) entraAgents(ctx context.Context, c client.Reader) ([]report.DeviceRef, []agent.Source, []string, error) {
	var list lapsv1.ManagedDeviceList
	if err := c.List(ctx, &list, client.InNamespace(demoNamespace), client.MatchingLabels{dirsync.LabelDirectory: demoEntraName}); err != nil {
		return nil, nil, nil, err
	}
	spec := entraPolicy().Spec
	applied := render.RegistryValues(policy.Effective(&spec))
	root := string(spec.EffectivePolicyRoot())
	var refs []report.DeviceRef
	var srcs []agent.Source
	var names []string
	for _, d := range list.Items {
		id := d.Spec.Identity.EntraID
		if id == nil {
			continue
		}
		name, ok := e.ids[strings.ToLower(id.DeviceID)]
		if !ok {
			continue
		}
		refs = append(refs, report.DeviceRef{Namespace: demoNamespace, Name: d.Name})
		srcs = append(srcs, &entraSource{emu: e.emu, id: id.DeviceID, root: root, applied: applied})
		names = append(names, name)
	}
	if len(refs) != len(e.names) {
		return nil, nil, nil, fmt.Errorf("discovery created %d ManagedDevices for %d Entra devices", len(refs), len(e.names))
	}
	return refs, srcs, names, nil
}

// directoryCounts is one directory's line of the summary's directories.
type directoryCounts struct {
	Devices         int   `json:"devices"`
	Ready           int   `json:"ready"`
	PasswordCurrent int   `json:"passwordCurrent"`
	RoundTrips      int64 `json:"roundTrips"`
}

// summarizeDirectories fills the summary's per-directory counts from the cluster (devices by
// their directory label) and each directory's own request count, and adds the Entra side to
// the fleet-wide fields the directory view cannot see.
func (cp *controlPlane) summarizeDirectories(ctx context.Context, s *summary, w *world) error {
	var list lapsv1.ManagedDeviceList
	if err := cp.client.List(ctx, &list, client.InNamespace(demoNamespace)); err != nil {
		return err
	}
	// The AD figure is the summary's ldapRoundTrips, taken at the same instant.
	s.Directories = map[string]*directoryCounts{demoDirectoryName: {RoundTrips: s.LDAPRoundTrips}}
	if w.entra != nil {
		s.Directories[demoEntraName] = &directoryCounts{RoundTrips: w.entra.roundTrips()}
	}
	for _, d := range list.Items {
		c, ok := s.Directories[d.Spec.DirectoryRef.Name]
		if !ok {
			continue
		}
		c.Devices++
		if apimeta.IsStatusConditionTrue(d.Status.Conditions, lapsv1.ConditionReady) {
			c.Ready++
		}
		if apimeta.IsStatusConditionTrue(d.Status.Conditions, lapsv1.ConditionPasswordCurrent) {
			c.PasswordCurrent++
		}
	}
	if w.entra == nil {
		return nil
	}
	for id := range w.entra.ids {
		if d, ok := w.entra.emu.DeviceState(id); ok && !d.LastBackup.IsZero() {
			s.BackedUp++
		}
	}
	if n := len(w.entra.names); s.Directories[demoEntraName].Devices != n {
		s.Problems = append(s.Problems, fmt.Sprintf("%d ManagedDevices of directory %s for %d Entra devices", s.Directories[demoEntraName].Devices, demoEntraName, n))
	}
	if pols := w.entra.emu.Policies(); len(pols) != 1 || len(pols[0].GroupIDs) != 1 {
		s.Problems = append(s.Problems, fmt.Sprintf("Intune holds %d LAPS policies, want the one of LapsPolicy %s assigned to its group", len(pols), demoEntraPolicyName))
	}
	s.Problems = append(s.Problems, w.entra.forbidden.list()...)
	s.Converged = len(s.Problems) == 0
	return nil
}

// entraRequestAt is when the automation asks for a rotation of the first Entra device.
const entraRequestAt = 16 * time.Hour

// scheduleEntraAutomation creates a RotationRequest by name for the first Entra device: the
// manager sends Intune's rotate action, and the request succeeds once the device backed up a
// newer password.
func (cp *controlPlane) scheduleEntraAutomation(w *world) {
	if w.entra == nil || len(w.entra.names) == 0 {
		return
	}
	target := deviceObjectName(w.entra.names[0])
	what := "RotationRequest rotate-" + target + " (Entra ID, by name)"
	w.con.plan(what, w.simAt(entraRequestAt), "automation: "+what)
	w.after(w.clock.Epoch().Add(entraRequestAt).Sub(w.clock.Now()), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := cp.createRequest(ctx, &lapsv1.RotationRequest{
			ObjectMeta: metav1.ObjectMeta{Name: "rotate-" + target, Namespace: demoNamespace},
			Spec:       lapsv1.RotationRequestSpec{DeviceName: target, Reason: "INC-1002: password shown to a help desk caller"},
		})
		if err != nil {
			w.con.happened(what, w.simNow(), fmt.Sprintf("automation: %s failed: %v", what, err))
			return
		}
		w.con.happened(what, w.simNow(), "automation: "+what)
	})
}

// passwordVersion identifies a device's current password in its status: the AD password
// version, or for Entra ID (which has none) the backup time Graph states.
func passwordVersion(d *lapsv1.ManagedDevice) string {
	if v := d.Status.CurrentPasswordVersion; v != "" {
		return strings.ToLower(v)
	}
	if t := d.Status.PasswordUpdateTime; t != nil && d.Spec.Identity.EntraID != nil {
		return "backup@" + t.UTC().Format(time.RFC3339)
	}
	return ""
}
