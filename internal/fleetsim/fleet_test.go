package fleetsim

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/fleetlaps/fleetlaps/internal/adsyntax"
	"github.com/fleetlaps/fleetlaps/internal/ldapserver"
)

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

var admin = ldapserver.Identity{Role: ldapserver.RoleAdmin}

type sim struct {
	t     *testing.T
	store *ldapserver.Store
	fleet *Fleet
	clock *clocktesting.FakeClock
	dns   map[string]string
}

func newSim(t *testing.T, cfg Config, p Policy, specs ...DeviceSpec) *sim {
	t.Helper()
	clk := clocktesting.NewFakeClock(t0)
	st := ldapserver.NewStore(ldapserver.StoreConfig{Clock: clk, Seed: 7})
	s := &sim{t: t, store: st, clock: clk, fleet: New(cfg, st, ldapserver.Identity{}, clk), dns: map[string]string{}}
	for _, spec := range specs {
		dn, err := st.AddComputer(ldapserver.Computer{Name: spec.Name, DomainController: spec.DomainController})
		if err != nil {
			t.Fatal(err)
		}
		spec.DN = dn
		s.dns[spec.Name] = dn
		if err := s.fleet.AddDevice(spec, p); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func devices(n int) []DeviceSpec {
	out := make([]DeviceSpec, n)
	for i := range out {
		out[i] = DeviceSpec{Name: fmt.Sprintf("WS-%04d", i)}
	}
	return out
}

// advance moves the clock in steps of step up to d, ticking the fleet at each step and calling
// check (if any) after each tick.
func (s *sim) advance(d, step time.Duration, check func(now time.Time)) {
	end := s.clock.Now().Add(d)
	for s.clock.Now().Before(end) {
		s.clock.Step(step)
		s.fleet.Tick(s.clock.Now())
		if check != nil {
			check(s.clock.Now())
		}
	}
}

func (s *sim) read(name string, attrs ...string) map[string][]string {
	s.t.Helper()
	v, err := s.store.Read(admin, s.dns[name], attrs...)
	if err != nil {
		s.t.Fatal(err)
	}
	return v
}

func (s *sim) expiry(name string) time.Time {
	s.t.Helper()
	v := s.read(name, ldapserver.AttrPasswordExpirationTime)[ldapserver.AttrPasswordExpirationTime]
	if len(v) != 1 {
		return time.Time{}
	}
	ft, err := adsyntax.ParseFiletime(v[0])
	if err != nil {
		s.t.Fatal(err)
	}
	return ft.Time
}

func (s *sim) events(name string) []Event {
	r, err := s.fleet.Report(name)
	if err != nil {
		s.t.Fatal(err)
	}
	return r.RecentEvents
}

func hasEvent(evs []Event, id int, code uint32) bool {
	for _, e := range evs {
		if e.ID == id && (code == 0 || e.Code == code) {
			return true
		}
	}
	return false
}

func shortPolicy() Policy {
	p := DefaultPolicy()
	p.PasswordAgeDays = 1
	p.ADEncryptedPasswordHistorySize = 2
	return p
}

// TestMultiDaySimulation runs 200 devices for 72 simulated hours with passwordAgeDays 1: every
// device backs up at its first cycle and then rotates within one cycle (+ jitter) of each expiry.
func TestMultiDaySimulation(t *testing.T) {
	const n = 200
	cfg := Config{Seed: 1, Jitter: 5 * time.Minute}
	s := newSim(t, cfg, shortPolicy(), devices(n)...)
	step := time.Minute
	slack := time.Hour + cfg.Jitter + step
	start := time.Now()
	s.advance(72*time.Hour, step, func(now time.Time) {
		if now.Minute()%10 != 0 {
			return
		}
		for name := range s.dns {
			exp := s.expiry(name)
			switch {
			case exp.IsZero() && now.Sub(t0) > slack:
				t.Fatalf("%s never backed up a password by %v", name, now)
			case !exp.IsZero() && now.Sub(exp) > slack:
				t.Fatalf("%s expired at %v and had not rotated at %v", name, exp, now)
			}
		}
	})
	elapsed := time.Since(start)
	rot := s.fleet.Rotations()
	for name, r := range rot {
		// First backup within the first hour, then one rotation per simulated day.
		if r < 3 || r > 4 {
			t.Errorf("%s rotated %d times in 72h with passwordAgeDays 1", name, r)
		}
	}
	st := s.fleet.Stats()
	t.Logf("%d devices x 72h: %d cycles, %d rotations in %v (%.0f device-hours/s)", n, st.Cycles, st.Rotations, elapsed,
		float64(n*72)/elapsed.Seconds())

	// What the directory holds is what the device reports and what the policy says.
	for name := range s.dns {
		v := s.read(name)
		ver, err := adsyntax.ParseGUID([]byte(v[ldapserver.AttrCurrentPasswordVersion][0]))
		if err != nil {
			t.Fatal(err)
		}
		rep, _ := s.fleet.Report(name)
		if rep.LocalPasswordVersion != ver {
			t.Fatalf("%s: local version %s, directory %s", name, rep.LocalPasswordVersion, ver)
		}
		updated, size, err := adsyntax.ParseEncryptedPasswordHeader([]byte(v[ldapserver.AttrEncryptedPassword][0]))
		if err != nil || size != 1200 {
			t.Fatalf("%s: header: %v size %d", name, err, size)
		}
		if !rep.LocalExpirationTime.Equal(updated.Add(24*time.Hour)) || !s.expiry(name).Equal(rep.LocalExpirationTime) {
			t.Fatalf("%s: update %v, local expiry %v, directory expiry %v", name, updated, rep.LocalExpirationTime, s.expiry(name))
		}
		if h := v[ldapserver.AttrEncryptedPasswordHistory]; len(h) != 2 {
			t.Fatalf("%s: history has %d entries, want 2", name, len(h))
		}
		if _, ok := v[ldapserver.AttrPassword]; ok {
			t.Fatalf("%s: clear-text password attribute set with encryption on", name)
		}
	}
}

func TestControllerForcedRotationTakesEffectAtNextCycle(t *testing.T) {
	s := newSim(t, Config{Seed: 2}, DefaultPolicy(), devices(3)...)
	s.advance(2*time.Hour, time.Minute, nil)
	before := s.fleet.Rotations()
	// The controller's write: expiration time = now.
	err := s.store.Modify(ldapserver.Identity{Role: ldapserver.RoleController}, s.dns["WS-0001"], []ldapserver.Change{
		{Op: ldapserver.ModReplace, Attr: ldapserver.AttrPasswordExpirationTime, Vals: []string{adsyntax.FormatFiletime(s.clock.Now())}}})
	if err != nil {
		t.Fatal(err)
	}
	s.advance(65*time.Minute, time.Minute, nil)
	after := s.fleet.Rotations()
	if after["WS-0001"] != before["WS-0001"]+1 || after["WS-0000"] != before["WS-0000"] {
		t.Fatalf("rotations before %v after %v", before, after)
	}
}

func TestImageRollbackIsDetectedAndHealed(t *testing.T) {
	s := newSim(t, Config{Seed: 3}, shortPolicy(), devices(1)...)
	s.advance(50*time.Hour, time.Minute, nil) // initial backup + 2 rotations
	if err := s.fleet.RestoreImage("WS-0000", 1); err != nil {
		t.Fatal(err)
	}
	rep, _ := s.fleet.Report("WS-0000")
	dirVer, _ := adsyntax.ParseGUID([]byte(s.read("WS-0000", ldapserver.AttrCurrentPasswordVersion)[ldapserver.AttrCurrentPasswordVersion][0]))
	if rep.LocalPasswordVersion == dirVer {
		t.Fatal("restore did not change the local version")
	}
	rotations := s.fleet.Rotations()["WS-0000"]
	s.advance(66*time.Minute, time.Minute, nil)
	if !hasEvent(s.events("WS-0000"), EventPasswordNeedsUpdate, ReasonRollback) {
		t.Fatalf("no 10015 (0x4000) event: %+v", s.events("WS-0000"))
	}
	rep, _ = s.fleet.Report("WS-0000")
	dirVer2, _ := adsyntax.ParseGUID([]byte(s.read("WS-0000", ldapserver.AttrCurrentPasswordVersion)[ldapserver.AttrCurrentPasswordVersion][0]))
	if rep.LocalPasswordVersion != dirVer2 || dirVer2 == dirVer || s.fleet.Rotations()["WS-0000"] != rotations+1 {
		t.Fatalf("not healed: local %s directory %s (was %s)", rep.LocalPasswordVersion, dirVer2, dirVer)
	}
	if s.fleet.Stats().RollbacksDetected != 1 {
		t.Fatalf("rollbacks detected: %d", s.fleet.Stats().RollbacksDetected)
	}
}

func TestComplexityFailureIsSurfacedAndRecovers(t *testing.T) {
	s := newSim(t, Config{Seed: 4}, shortPolicy(), devices(1)...)
	s.advance(2*time.Hour, time.Minute, nil)
	if err := s.fleet.SetLocalPolicyConflict("WS-0000", true); err != nil {
		t.Fatal(err)
	}
	exp := s.expiry("WS-0000")
	s.advance(exp.Sub(s.clock.Now())+2*time.Hour, time.Minute, nil)
	evs := s.events("WS-0000")
	if !hasEvent(evs, EventComplexityUnachievable, CodePasswordRestriction) || !hasEvent(evs, EventCycleFailed, CodePasswordRestriction) {
		t.Fatalf("no 10027/10005: %+v", evs)
	}
	if !s.expiry("WS-0000").Equal(exp) {
		t.Fatal("rotated despite the conflict")
	}
	_ = s.fleet.SetLocalPolicyConflict("WS-0000", false)
	s.advance(66*time.Minute, time.Minute, nil)
	if !s.expiry("WS-0000").After(s.clock.Now()) {
		t.Fatal("did not rotate after the conflict was lifted")
	}
}

func TestPostAuthenticationReset(t *testing.T) {
	p := DefaultPolicy()
	p.PostAuthenticationResetDelay = 2
	s := newSim(t, Config{Seed: 5}, p, devices(1)...)
	s.advance(time.Hour, time.Minute, nil)
	if err := s.fleet.SignIn("WS-0000"); err != nil {
		t.Fatal(err)
	}
	signIn := s.clock.Now()
	r0 := s.fleet.Rotations()["WS-0000"]
	s.advance(119*time.Minute, time.Minute, nil)
	if s.fleet.Rotations()["WS-0000"] != r0 {
		t.Fatal("reset before the grace period ended")
	}
	s.advance(2*time.Minute, time.Minute, nil)
	evs := s.events("WS-0000")
	if s.fleet.Rotations()["WS-0000"] != r0+1 || !hasEvent(evs, EventManagedSignIn, 0) || !hasEvent(evs, EventGracePeriodOver, 0) || !hasEvent(evs, EventPostAuthResetDone, 0) {
		t.Fatalf("no post-authentication reset at %v (sign-in %v): %+v", s.clock.Now(), signIn, evs)
	}
	// Delay 0 disables post-authentication actions.
	p.PostAuthenticationResetDelay = 0
	_ = s.fleet.SetPolicy("WS-0000", p)
	s.advance(time.Minute, time.Minute, nil)
	_ = s.fleet.SignIn("WS-0000")
	r1 := s.fleet.Rotations()["WS-0000"]
	s.advance(30*time.Hour, 10*time.Minute, nil)
	if s.fleet.Rotations()["WS-0000"] != r1 {
		t.Fatal("post-authentication reset with delay 0")
	}
}

func TestSafeModeAndDSRM(t *testing.T) {
	p := shortPolicy()
	p.ADBackupDSRMPassword = true
	s := newSim(t, Config{Seed: 6}, p, DeviceSpec{Name: "WS-0000"}, DeviceSpec{Name: "DC1", DomainController: true})
	s.advance(2*time.Hour, time.Minute, nil)
	dc := s.read("DC1")
	if _, ok := dc[ldapserver.AttrEncryptedDSRMPassword]; !ok {
		t.Fatalf("DC did not back up its DSRM password: %v", keys(dc))
	}
	if _, ok := dc[ldapserver.AttrEncryptedPassword]; ok {
		t.Fatal("DC wrote msLAPS-EncryptedPassword")
	}
	_ = s.fleet.SetBootMode("WS-0000", BootSafeMode)
	_ = s.fleet.SetBootMode("DC1", BootDSRM)
	r := s.fleet.Rotations()
	s.advance(48*time.Hour, 10*time.Minute, nil)
	if got := s.fleet.Rotations(); !reflect.DeepEqual(got, r) {
		t.Fatalf("rotated outside normal boot: %v -> %v", r, got)
	}
	if rep, _ := s.fleet.Report("DC1"); rep.BootMode != BootDSRM {
		t.Fatalf("boot mode %s", rep.BootMode)
	}
	_ = s.fleet.SetBootMode("WS-0000", BootNormal)
	_ = s.fleet.SetBootMode("DC1", BootNormal)
	s.advance(70*time.Minute, time.Minute, nil)
	if got := s.fleet.Rotations(); got["WS-0000"] != r["WS-0000"]+1 || got["DC1"] != r["DC1"]+1 {
		t.Fatalf("expired devices did not rotate after a normal boot: %v -> %v", r, got)
	}
	if err := s.fleet.SetBootMode("WS-0000", BootDSRM); err == nil {
		t.Fatal("DSRM accepted for a workstation")
	}
}

func keys(m map[string][]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestFailureModes(t *testing.T) {
	t.Run("directory unreachable", func(t *testing.T) {
		s := newSim(t, Config{Seed: 8, Rates: Rates{Unreachable: 1}}, DefaultPolicy(), devices(2)...)
		s.advance(2*time.Hour, time.Minute, nil)
		if !hasEvent(s.events("WS-0000"), EventADQueryFailed, CodeServerDown) || s.fleet.Stats().Rotations != 0 {
			t.Fatalf("events %+v", s.events("WS-0000"))
		}
	})
	t.Run("permission denied by the directory", func(t *testing.T) {
		s := newSim(t, Config{Seed: 9}, DefaultPolicy(), devices(2)...)
		s.store.DenyDeviceWrites(s.dns["WS-0001"], true)
		s.advance(2*time.Hour, time.Minute, nil)
		if !hasEvent(s.events("WS-0001"), EventADUpdateFailed, CodeAccessDenied) || s.fleet.Rotations()["WS-0001"] != 0 || s.fleet.Rotations()["WS-0000"] != 1 {
			t.Fatalf("events %+v", s.events("WS-0001"))
		}
	})
	t.Run("rates are per cycle", func(t *testing.T) {
		s := newSim(t, Config{Seed: 10, Rates: Rates{PermissionDenied: 0.5, Complexity: 0.2}}, shortPolicy(), devices(50)...)
		s.advance(72*time.Hour, 5*time.Minute, nil)
		st := s.fleet.Stats()
		if st.Failures[EventADUpdateFailed] == 0 || st.Failures[EventComplexityUnachievable] == 0 || st.Rotations < 50*3 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestClearTextLegacyAndEntra(t *testing.T) {
	clear := DefaultPolicy()
	clear.ADPasswordEncryptionEnabled = false
	s := newSim(t, Config{Seed: 11}, clear, devices(1)...)
	s.advance(time.Hour, time.Minute, nil)
	v := s.read("WS-0000")
	var doc map[string]string
	if err := json.Unmarshal([]byte(v[ldapserver.AttrPassword][0]), &doc); err != nil || doc["n"] != "Administrator" || doc["t"] == "" {
		t.Fatalf("msLAPS-Password %v: %v", doc, err)
	}
	if _, ok := v[ldapserver.AttrEncryptedPassword]; ok {
		t.Fatal("encrypted attribute set with encryption off")
	}

	legacy := DefaultPolicy()
	legacy.PolicyRoot = "LegacyLAPS"
	s = newSim(t, Config{Seed: 12}, legacy, devices(1)...)
	s.advance(time.Hour, time.Minute, nil)
	v = s.read("WS-0000")
	if len(v[ldapserver.AttrLegacyExpirationTime]) != 1 || len(v[ldapserver.AttrLegacyPassword]) != 1 || len(v[ldapserver.AttrCurrentPasswordVersion]) != 0 {
		t.Fatalf("legacy attributes: %v", keys(v))
	}
	if !hasEvent(s.events("WS-0000"), EventPolicyLegacy, 0) {
		t.Fatal("no 10023")
	}

	entra := DefaultPolicy()
	entra.BackupDirectory = BackupEntraID
	entra.PasswordAgeDays = 7
	s = newSim(t, Config{Seed: 13}, entra, devices(1)...)
	s.advance(time.Hour, time.Minute, nil)
	if !hasEvent(s.events("WS-0000"), EventStoredInEntra, 0) {
		t.Fatalf("no 10029: %+v", s.events("WS-0000"))
	}
	s.advance(15*24*time.Hour-time.Hour, 10*time.Minute, nil)
	if got := s.fleet.Rotations()["WS-0000"]; got != 3 {
		t.Fatalf("Entra rotations in 15 days with age 7: %d", got)
	}
	if v := s.read("WS-0000", ldapserver.AttrPasswordExpirationTime); len(v) != 0 {
		t.Fatalf("Entra device wrote to AD: %v", v)
	}
}

func TestDeterministicWithASeed(t *testing.T) {
	run := func(seed uint64) ([]Report, map[string]int) {
		s := newSim(t, Config{Seed: seed, Rates: Rates{PermissionDenied: 0.1}}, shortPolicy(), devices(20)...)
		s.advance(30*time.Hour, 5*time.Minute, nil)
		return s.fleet.Reports(), s.fleet.Rotations()
	}
	r1, n1 := run(42)
	r2, n2 := run(42)
	if !reflect.DeepEqual(r1, r2) || !reflect.DeepEqual(n1, n2) {
		t.Fatal("same seed, different fleets")
	}
	r3, _ := run(43)
	if reflect.DeepEqual(r1, r3) {
		t.Fatal("different seeds, same fleet")
	}
}

func TestRunSleepsOnTheClock(t *testing.T) {
	s := newSim(t, Config{Seed: 14}, DefaultPolicy(), devices(5)...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.fleet.Run(ctx, s.clock) }()
	for range 3 {
		deadline := time.Now().Add(5 * time.Second)
		for !s.clock.HasWaiters() {
			if time.Now().After(deadline) {
				t.Fatal("Run is not waiting on the clock")
			}
			time.Sleep(time.Millisecond)
		}
		s.clock.Step(time.Hour)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.fleet.Stats().Rotations < 5 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	// A setter that moves a cycle earlier wakes Run without the clock moving.
	for !s.clock.HasWaiters() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // Run has finished the last tick and sleeps again
	}
	cycles := s.fleet.Stats().Cycles
	_ = s.fleet.InvokePolicyProcessing("WS-0003")
	for s.fleet.Stats().Cycles == cycles && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if s.fleet.Stats().Cycles != cycles+1 {
		t.Fatalf("InvokePolicyProcessing did not wake Run: %d cycles, had %d", s.fleet.Stats().Cycles, cycles)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := s.fleet.Stats().Rotations; got != 5 {
		t.Fatalf("rotations %d", got)
	}
}

func TestNextCycle(t *testing.T) {
	s := newSim(t, Config{Seed: 1}, DefaultPolicy(), devices(1)...)
	first, err := s.fleet.NextCycle("WS-0000")
	if err != nil || first.Before(t0) || first.After(t0.Add(time.Hour+5*time.Minute)) {
		t.Fatalf("first cycle %v, %v", first, err)
	}
	s.clock.SetTime(first)
	s.fleet.Tick(first)
	next, _ := s.fleet.NextCycle("WS-0000")
	if d := next.Sub(first); d < time.Hour || d > time.Hour+5*time.Minute {
		t.Fatalf("next cycle %s after the first, want an hour plus jitter", d)
	}
	if _, err := s.fleet.NextCycle("nope"); err == nil {
		t.Fatal("unknown device: no error")
	}
}

// A fleet backfilled over one password age rotates a steady share of its devices per day
// (the expiries are spread), not every device on the same day.
func TestBackedUpAtSpreadsRotationsOverThePasswordAge(t *testing.T) {
	p := DefaultPolicy()
	p.PasswordAgeDays = 10
	s := newSim(t, Config{Seed: 3}, p, devices(100)...)
	age := 10 * 24 * time.Hour
	if err := s.fleet.BackedUpAt("WS-0001", t0.Add(time.Hour)); err == nil {
		t.Fatal("a backup in the future was accepted")
	}
	for i := range 100 {
		at := t0.Add(-age * time.Duration(i+1) / 100)
		if err := s.fleet.BackedUpAt(fmt.Sprintf("WS-%04d", i), at); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.fleet.BackedUpAt("WS-0000", t0); err == nil {
		t.Fatal("a second backfill of WS-0000 was accepted")
	}
	v, err := s.store.Read(admin, s.dns["WS-0050"], ldapserver.AttrPasswordExpirationTime)
	if err != nil {
		t.Fatal(err)
	}
	ft, err := adsyntax.ParseFiletime(v[ldapserver.AttrPasswordExpirationTime][0])
	if err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(-age * 51 / 100).Add(age); !ft.Time.Equal(want) {
		t.Fatalf("WS-0050 expires %s, want %s (backed up 0.51 of an age ago)", ft.Time, want)
	}
	base := s.fleet.Stats().Rotations
	perDay := []int64{}
	for range 10 {
		before := s.fleet.Stats().Rotations
		s.advance(24*time.Hour, 10*time.Minute, nil)
		perDay = append(perDay, s.fleet.Stats().Rotations-before)
	}
	if total := s.fleet.Stats().Rotations - base; total != 100 {
		t.Fatalf("%d rotations in one password age, want 100 (each device once): per day %v", total, perDay)
	}
	for day, n := range perDay {
		if n < 5 || n > 15 {
			t.Fatalf("day %d: %d rotations, want about 10 (per day %v)", day, n, perDay)
		}
	}
}
