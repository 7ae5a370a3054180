package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"
	"k8s.io/utils/clock"
	"sigs.k8s.io/yaml"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/adsyntax"
	"github.com/fleetlaps/fleetlaps/internal/fleetsim"
	"github.com/fleetlaps/fleetlaps/internal/ldapserver"
	"github.com/fleetlaps/fleetlaps/internal/simclock"
)

// tier is one group of demo devices: an OU, a name prefix and the policy its devices get.
type tier struct {
	Name   string
	OU     string
	Prefix string
	Share  int // per mille of the fleet (the rest goes to the first tier)
	DC     bool
	Policy fleetsim.Policy
	// Rotation limits controller-started rotations of the tier's devices (nil: none).
	Rotation *lapsv1.RotationSettings
}

// demoTiers is one AD policy per tier. Every tier runs passwordAgeDays 1, so each device
// rotates at least twice after its first backup in 72 simulated hours (the acceptance run);
// the tiers differ in length, history size and post-authentication reset; domain controllers
// back up DSRM.
func demoTiers() []tier {
	ws := fleetsim.DefaultPolicy()
	ws.PasswordAgeDays = 1
	ws.PasswordLength = 20
	ws.ADEncryptedPasswordHistorySize = 6
	ws.PostAuthenticationResetDelay = 8
	srv := fleetsim.DefaultPolicy()
	srv.PasswordAgeDays = 1
	srv.ADEncryptedPasswordHistorySize = 2
	exec := ws
	exec.ADEncryptedPasswordHistorySize = 12
	dc := fleetsim.DefaultPolicy()
	dc.PasswordAgeDays = 1
	dc.ADBackupDSRMPassword = true
	return []tier{
		{Name: "frontline", OU: "Workstations", Prefix: "WS", Share: 700, Policy: ws},
		{Name: "servers", OU: "Servers", Prefix: "SRV", Share: 200, Policy: srv},
		{Name: "executives", OU: "Executives", Prefix: "EXEC", Share: 90, Policy: exec},
		{Name: "domain-controllers", Prefix: "DC", Share: 10, DC: true, Policy: dc},
	}
}

type demoDevice struct {
	Name, DN, Tier string
}

// world is the Windows side of the demo: the embedded directory and the simulated fleet on
// one fast clock.
type world struct {
	clock    *simclock.Scaled
	dir      *ldapserver.Server
	fleet    *fleetsim.Fleet
	devices  []demoDevice
	caFile   string
	connFile string // --directories file for the manager
	closers  []func()
	// onIncident runs after a scripted incident changed a device (the agent reports at once).
	onIncident func(device string)
	// con shows progress and incidents.
	con *console
	// entra is the Entra ID slice of the fleet (nil without one).
	entra *entraWorld
	// tiers are the AD fleet's groups and policies (the demo's or the benchmark's).
	tiers []tier

	timersMu sync.Mutex
	timers   []clock.Timer
	stopped  bool
}

// after runs f after the simulated duration d, unless stopTimers ran first.
func (w *world) after(d time.Duration, f func()) {
	w.timersMu.Lock()
	defer w.timersMu.Unlock()
	if w.stopped {
		return
	}
	w.timers = append(w.timers, w.clock.AfterFunc(d, func() {
		w.timersMu.Lock()
		stopped := w.stopped
		w.timersMu.Unlock()
		if !stopped {
			f()
		}
	}))
}

// stopTimers cancels the scripted incidents and automation still pending (the end of a run:
// the simulated clock stops, real-time timers would still fire).
func (w *world) stopTimers() {
	w.timersMu.Lock()
	defer w.timersMu.Unlock()
	w.stopped = true
	for _, t := range w.timers {
		t.Stop()
	}
}

// Device channels: how the simulated devices reach the directory.
const (
	channelInProcess = "inprocess"
	channelLDAP      = "ldap"
)

func startWorld(ctx context.Context, n int, seed uint64, clk *simclock.Scaled, workDir, channel string) (*world, error) {
	return startWorldWith(ctx, n, seed, clk, workDir, channel, fleetShape{tiers: demoTiers()})
}

// startMixedWorld is startWorld with entraN of the n devices Entra-joined (served by the Graph
// emulator) and the rest in the embedded AD directory.
func startMixedWorld(ctx context.Context, n, entraN int, seed uint64, clk *simclock.Scaled, workDir, channel string) (*world, error) {
	if entraN < 0 || entraN > n {
		return nil, fmt.Errorf("--entra-devices %d: must be between 0 and --devices (%d)", entraN, n)
	}
	if entraN == 0 {
		return startWorld(ctx, n, seed, clk, workDir, channel)
	}
	w, err := startWorldWith(ctx, n-entraN, seed, clk, "", channel, fleetShape{tiers: demoTiers()})
	if err != nil {
		return nil, err
	}
	w.addEntra(entraN)
	if workDir != "" {
		if err := os.MkdirAll(workDir, 0o700); err != nil {
			w.close()
			return nil, err
		}
		if err := w.writeConnection(workDir); err != nil {
			w.close()
			return nil, err
		}
	}
	return w, nil
}

// fleetShape is what the AD fleet looks like at start.
type fleetShape struct {
	tiers []tier
	// blobSize is the size of the devices' opaque password blobs (0: the simulator's default).
	blobSize int
	// maxEvents bounds each device's event log (0: the simulator's default).
	maxEvents int
	// spreadBackups backs every device up at start, as of a time spread evenly over its
	// policy's password age, as on a fleet that has been running for a while (false: devices
	// make their first backup at their first processing cycle, all in the first hour).
	spreadBackups bool
}

// startWorldWith is startWorld with a given fleet shape.
func startWorldWith(ctx context.Context, n int, seed uint64, clk *simclock.Scaled, workDir, channel string, shape fleetShape) (*world, error) {
	dir, err := ldapserver.Start(ctx, ldapserver.Config{StoreConfig: ldapserver.StoreConfig{Clock: clk, Seed: seed}})
	if err != nil {
		return nil, fmt.Errorf("starting the embedded directory: %w", err)
	}
	closers := []func(){func() { _ = dir.Close() }}
	st := dir.Store()
	if _, err := st.AddGroup("LAPS-Readers", 0); err != nil {
		return nil, err
	}
	writer := dir.Credentials(ldapserver.RoleDevice)
	var devDir fleetsim.Directory = st
	switch channel {
	case channelInProcess:
	case channelLDAP:
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(dir.CAPEM())
		ch := fleetsim.NewLDAPDirectory(dir.LDAPSURL(), &tls.Config{RootCAs: pool}, writer)
		devDir = ch
		closers = append(closers, func() { _ = ch.Close() })
	default:
		return nil, fmt.Errorf("--device-channel must be %s or %s", channelInProcess, channelLDAP)
	}
	w := &world{con: newConsole(os.Stdout, false), clock: clk, dir: dir, fleet: fleetsim.New(fleetsim.Config{Seed: seed, BlobSize: shape.blobSize, MaxEvents: shape.maxEvents}, devDir,
		ldapserver.Identity{DN: writer.DN, Role: ldapserver.RoleDevice}, clk)}
	w.closers = closers
	tiers := shape.tiers
	w.tiers = tiers
	counts := make([]int, len(tiers))
	rest := n
	for i := len(tiers) - 1; i > 0; i-- {
		counts[i] = n * tiers[i].Share / 1000
		if tiers[i].DC && n > 0 && counts[i] == 0 {
			counts[i] = 1
		}
		rest -= counts[i]
	}
	counts[0] = max(rest, 0)
	for i, t := range tiers {
		ou := ""
		if t.OU != "" {
			if ou, err = st.AddOU("", t.OU); err != nil {
				return nil, err
			}
		}
		for j := range counts[i] {
			name := fmt.Sprintf("%s-%04d", t.Prefix, j+1)
			dn, err := st.AddComputer(ldapserver.Computer{Name: name, Container: ou, DomainController: t.DC,
				OperatingSystem: "Windows", OSVersion: "10.0 (26100)"})
			if err != nil {
				return nil, err
			}
			if err := w.fleet.AddDevice(fleetsim.DeviceSpec{Name: name, DN: dn, DomainController: t.DC}, t.Policy); err != nil {
				return nil, err
			}
			if shape.spreadBackups {
				// Device j of the tier backed up (j+1)/count of a password age ago: the expiries
				// fall evenly over the next password age.
				age := time.Duration(max(t.Policy.PasswordAgeDays, 1)) * 24 * time.Hour
				at := clk.Now().Add(-time.Duration(float64(age) * float64(j+1) / float64(counts[i])))
				if err := w.fleet.BackedUpAt(name, at); err != nil {
					return nil, err
				}
			}
			w.devices = append(w.devices, demoDevice{Name: name, DN: dn, Tier: t.Name})
		}
	}
	if workDir != "" {
		if err := os.MkdirAll(workDir, 0o700); err != nil {
			return nil, err
		}
		if err := w.writeConnection(workDir); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// demoDirectoryName is the connection name the demo's policies and devices reference.
const demoDirectoryName = "demo-ad"

// writeConnection writes what the manager needs to reach the embedded directory as a domain
// controller, in the layout of a mounted Secret plus the --directories file: the CA, the bind
// password (0600, random per run) and directories.yaml with the AD backend's settings.
func (w *world) writeConnection(workDir string) error {
	w.caFile = filepath.Join(workDir, "directory-ca.pem")
	if err := os.WriteFile(w.caFile, w.dir.CAPEM(), 0o600); err != nil {
		return err
	}
	cred := w.dir.Credentials(ldapserver.RoleController)
	pwFile := filepath.Join(workDir, "directory-password")
	if err := os.WriteFile(pwFile, []byte(cred.Password), 0o600); err != nil {
		return err
	}
	settings, err := json.Marshal(map[string]any{
		"name": demoDirectoryName, "urls": []string{w.dir.LDAPSURL()}, "caFile": w.caFile,
		"bindDN": cred.DN, "passwordFile": pwFile, "pageSize": w.dir.MaxPageSize(),
	})
	if err != nil {
		return err
	}
	dirs := []map[string]any{{
		"name": demoDirectoryName, "type": "activeDirectory", "credentialsDir": workDir, "settings": json.RawMessage(settings),
		// Discovery creates one ManagedDevice per computer object, labelled with its OU.
		"discovery": map[string]any{"enabled": true, "namespace": demoNamespace, "searchBase": w.dir.Store().DomainDN()},
	}}
	if w.entra != nil {
		conn, err := w.entra.connection(workDir)
		if err != nil {
			return err
		}
		dirs = append(dirs, conn)
	}
	doc := map[string]any{"directories": dirs}
	data, err := yaml.Marshal(doc)
	if err != nil {
		return err
	}
	w.connFile = filepath.Join(workDir, "directories.yaml")
	return os.WriteFile(w.connFile, data, 0o600)
}

func (w *world) close() {
	for i := len(w.closers) - 1; i >= 0; i-- {
		w.closers[i]()
	}
}

// injectFaults schedules the demo's scripted incidents on the simulated clock: an image
// rollback on the first workstation after 30 hours, and from hour 40 a local password policy
// conflict (10027) on the second workstation that lasts until three hours after its password
// expires.
func (w *world) injectFaults() {
	var ws []string
	for _, d := range w.devices {
		if d.Tier == "frontline" {
			ws = append(ws, d.Name)
		}
	}
	at := func(h int, f func()) {
		w.after(w.clock.Epoch().Add(time.Duration(h)*time.Hour).Sub(w.clock.Now()), f)
	}
	if len(ws) > 0 {
		w.con.plan("rollback", w.simAt(30*time.Hour), "restore an old OS image on "+ws[0]+" (rollback; the controller detects it)")
		at(30, func() {
			// Restore the image just after the device's cycle, so the rollback stays visible
			// for most of an hour (until its next cycle rotates) rather than a random part of it.
			wait := 3 * time.Minute
			if next, err := w.fleet.NextCycle(ws[0]); err == nil && next.After(w.clock.Now()) {
				wait += next.Sub(w.clock.Now())
			}
			w.after(wait, func() {
				if err := w.fleet.RestoreImage(ws[0], 1); err == nil {
					w.con.happened("rollback", w.simNow(), fmt.Sprintf("restored an old OS image on %s (rollback)", ws[0]))
					if w.onIncident != nil {
						w.onIncident(ws[0])
					}
				}
			})
		})
	}
	if len(ws) > 1 {
		w.con.plan("conflict", w.simAt(40*time.Hour), "make the local password policy on "+ws[1]+" conflict with LAPS (event 10027)")
		w.con.plan("conflict-lifted", "3h after its expiry", "lift the local password policy conflict on "+ws[1])
		at(40, func() {
			_ = w.fleet.SetLocalPolicyConflict(ws[1], true)
			if w.onIncident != nil {
				w.onIncident(ws[1])
			}
			w.con.happened("conflict", w.simNow(), fmt.Sprintf("local password policy on %s now conflicts with LAPS (10027 at its next rotation)", ws[1]))
			// Lift the conflict three hours after the password expires, so at least one rotation fails.
			lift := 3 * time.Hour
			if r, err := w.fleet.Report(ws[1]); err == nil && r.LocalExpirationTime.After(w.clock.Now()) {
				lift += r.LocalExpirationTime.Sub(w.clock.Now())
			}
			w.after(lift, func() {
				_ = w.fleet.SetLocalPolicyConflict(ws[1], false)
				w.con.happened("conflict-lifted", w.simNow(), fmt.Sprintf("local password policy conflict on %s resolved", ws[1]))
			})
		})
	}
}

func (w *world) simNow() string { return w.clock.Now().UTC().Format("2006-01-02T15:04Z") }

// simAt is the simulated time d after the start, as simNow prints it.
func (w *world) simAt(d time.Duration) string {
	return w.clock.Epoch().Add(d).UTC().Format("2006-01-02T15:04Z") + fmt.Sprintf(" (+%dh)", int(d.Hours()))
}

// currentGrace is how long an expired password still counts as current: a device rotates at
// its next hourly cycle (plus jitter) after expiry.
const currentGrace = 70 * time.Minute

// directoryView is what the controller's bind account sees in the directory: one paged
// search over LDAPS, exactly as the AD backend reads it.
type directoryView struct {
	BackedUp, Current int
	RoundTrips        int
}

func (w *world) readAsController(ctx context.Context) (directoryView, error) {
	var v directoryView
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(w.dir.CAPEM())
	conn, err := ldap.DialURL(w.dir.LDAPSURL(), ldap.DialWithTLSConfig(&tls.Config{RootCAs: pool}))
	if err != nil {
		return v, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	cr := w.dir.Credentials(ldapserver.RoleController)
	if err := conn.Bind(cr.DN, cr.Password); err != nil {
		return v, err
	}
	paging := ldap.NewControlPaging(1000)
	req := ldap.NewSearchRequest(w.dir.Store().DomainDN(), ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=computer)", []string{"cn", ldapserver.AttrPasswordExpirationTime, ldapserver.AttrCurrentPasswordVersion}, []ldap.Control{paging})
	now := w.clock.Now()
	for {
		res, err := conn.Search(req)
		v.RoundTrips++
		if err != nil {
			return v, err
		}
		for _, e := range res.Entries {
			exp, err := adsyntax.ParseFiletime(e.GetAttributeValue(ldapserver.AttrPasswordExpirationTime))
			if err != nil {
				continue
			}
			v.BackedUp++
			if exp.Never || exp.Time.After(now.Add(-currentGrace)) {
				v.Current++
			}
		}
		c, ok := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if !ok || len(c.Cookie) == 0 {
			return v, nil
		}
		paging.SetCookie(c.Cookie)
	}
}

type minMax struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

type requestCounts struct {
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
}

// summary is the --summary document. Fields the controllers own (ready, rotationRequests,
// apiserverWrites) stay null until the manager is wired to the embedded directory.
type summary struct {
	Devices            int    `json:"devices"`
	Ready              *int   `json:"ready"`
	PasswordCurrent    int    `json:"passwordCurrent"`
	BackedUp           int    `json:"backedUp"`
	RotationsPerDevice minMax `json:"rotationsPerDevice"`
	// RotationsAfterFirstBackup excludes the first backup (set with a control plane).
	RotationsAfterFirstBackup *minMax        `json:"rotationsAfterFirstBackup,omitempty"`
	RotationRequests          *requestCounts `json:"rotationRequests"`
	APIServerWrites           *int64         `json:"apiserverWrites"`
	// LDAPRoundTrips counts the searches (pages) and modifies of connections bound as the
	// controller; DeviceLDAPRoundTrips those of the simulated devices (0 on the in-process
	// channel).
	LDAPRoundTrips       int64   `json:"ldapRoundTrips"`
	DeviceLDAPRoundTrips int64   `json:"deviceLdapRoundTrips"`
	WallSeconds          float64 `json:"wallSeconds"`
	SimulatedSeconds     float64 `json:"simulatedSeconds"`
	Speed                float64 `json:"speed"`
	Seed                 uint64  `json:"seed"`
	Fleet                struct {
		Cycles            int64            `json:"cycles"`
		Rotations         int64            `json:"rotations"`
		RollbacksDetected int64            `json:"rollbacksDetected"`
		PostAuthResets    int64            `json:"postAuthResets"`
		Failures          map[string]int64 `json:"failuresByEvent"`
		DeviceHoursPerSec float64          `json:"simulatedDeviceHoursPerSecond"`
		// RotationsPerDevice as the fleet counted them (the first backup included).
		RotationsPerDevice minMax `json:"rotationsPerDevice"`
	} `json:"fleet"`
	// Set with a control plane: the directory view's current count (passwordCurrent is then
	// the cluster's), the phase of every RotationRequest, the agents' status writes (not the
	// manager's), and the closing step of a headless run.
	DirectoryCurrent int      `json:"directoryCurrent,omitempty"`
	RequestPhases    []string `json:"rotationRequestPhases,omitempty"`
	AgentWrites      *int64   `json:"agentStatusWrites,omitempty"`
	// AgentReports are the agents' reports through the report API as the agents saw them;
	// ReportAPIStatusWrites the status.agent writes they caused (heartbeats inside the interval
	// cause none).
	AgentReports            *agentCounts `json:"agentReports,omitempty"`
	ReportAPIStatusWrites   *int64       `json:"reportAPIStatusWrites,omitempty"`
	ExpiredBeforeFinalCycle *int         `json:"expiredBeforeFinalCycle,omitempty"`
	FinalCycleRotations     int64        `json:"finalCycleRotations,omitempty"`
	SettleSeconds           float64      `json:"settleSeconds,omitempty"`
	Converged               bool         `json:"converged"`
	Problems                []string     `json:"problems,omitempty"`
	// Directories counts devices, Ready, PasswordCurrent and the controller's round trips per
	// directory connection (set with a control plane).
	Directories map[string]*directoryCounts `json:"directories,omitempty"`
}

func (w *world) summarize(ctx context.Context, wall time.Duration, seed uint64) (*summary, error) {
	view, err := w.readAsController(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the directory as the controller: %w", err)
	}
	ds := w.dir.Stats()
	s := &summary{Devices: len(w.devices), PasswordCurrent: view.Current, BackedUp: view.BackedUp,
		LDAPRoundTrips: ds.ControllerRoundTrips, DeviceLDAPRoundTrips: ds.RoundTrips() - ds.ControllerRoundTrips, WallSeconds: wall.Seconds(),
		SimulatedSeconds: w.clock.Since(w.clock.Epoch()).Seconds(), Speed: w.clock.Speed(), Seed: seed}
	rot := w.fleet.Rotations()
	first := true
	for _, r := range rot {
		if first || r < s.RotationsPerDevice.Min {
			s.RotationsPerDevice.Min = r
		}
		if first || r > s.RotationsPerDevice.Max {
			s.RotationsPerDevice.Max = r
		}
		first = false
	}
	s.Fleet.RotationsPerDevice = s.RotationsPerDevice
	fs := w.fleet.Stats()
	s.Fleet.Cycles, s.Fleet.Rotations, s.Fleet.RollbacksDetected, s.Fleet.PostAuthResets = fs.Cycles, fs.Rotations, fs.RollbacksDetected, fs.PostAuthResets
	s.Fleet.Failures = map[string]int64{}
	for id, n := range fs.Failures {
		s.Fleet.Failures[fmt.Sprint(id)] = n
	}
	if wall > 0 {
		s.Fleet.DeviceHoursPerSec = float64(len(w.devices)) * s.SimulatedSeconds / 3600 / wall.Seconds()
	}
	if s.BackedUp != s.Devices {
		s.Problems = append(s.Problems, fmt.Sprintf("%d of %d devices never backed up a password", s.Devices-s.BackedUp, s.Devices))
	}
	if s.PasswordCurrent != s.Devices {
		var late []string
		for _, d := range w.devices {
			if r, _ := w.fleet.Report(d.Name); !r.LocalExpirationTime.After(w.clock.Now().Add(-currentGrace)) {
				late = append(late, d.Name)
			}
		}
		sort.Strings(late)
		s.Problems = append(s.Problems, fmt.Sprintf("%d devices are past expiry by more than a cycle: %v", s.Devices-s.PasswordCurrent, late))
	}
	s.Converged = len(s.Problems) == 0
	return s, nil
}

// progress is the one-line status of the fleet, read in process (not counted as LDAP traffic).
func (w *world) progress() string {
	now := w.clock.Now()
	expired, backed := 0, 0
	for _, r := range w.fleet.Reports() {
		if r.LocalExpirationTime.IsZero() {
			continue
		}
		backed++
		if !r.LocalExpirationTime.After(now) {
			expired++
		}
	}
	fs := w.fleet.Stats()
	failures := int64(0)
	for _, n := range fs.Failures {
		failures += n
	}
	return fmt.Sprintf("sim %s (+%s) | devices %d | backed up %d | expired %d | rotations %d | rollbacks healed %d | failures %d | controller ldap round trips %d",
		w.simNow(), w.clock.Since(w.clock.Epoch()).Truncate(time.Minute), len(w.devices), backed, expired, fs.Rotations,
		fs.RollbacksDetected, failures, w.dir.Stats().ControllerRoundTrips)
}
