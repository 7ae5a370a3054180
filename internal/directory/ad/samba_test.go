package ad

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/go-logr/logr"

	"github.com/fleetlaps/fleetlaps/internal/adsyntax"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/logcapture"
)

// fixtureExpiry is computer i's expiry as hack/samba/gen-computers.py wrote it.
func fixtureExpiry(i int) time.Time {
	return srv.FixtureT0.Add(time.Duration(i)*time.Minute + 30*24*time.Hour)
}

func fixtureVersion(i int) string { return fmt.Sprintf("5a5a0000-0000-0000-0000-%012x", i) }

func testConfig(t testing.TB, mut ...func(*Config)) Config {
	t.Helper()
	pw, err := srv.WriteSecret("ctrl", srv.BindPassword)
	if err != nil {
		t.Fatal(err)
	}
	c := Config{
		Name: "test-ad", URLs: []string{srv.LDAPSURL}, CAFile: srv.CAFile,
		BindDN: srv.BindDN, PasswordFile: pw, PageSize: 500, Timeout: Duration{10 * time.Second},
	}
	for _, m := range mut {
		m(&c)
	}
	return c
}

func fleetBase(c *Config) { c.SearchBases = []string{"OU=Fleet," + srv.Base} }

func newDir(t testing.TB, cfg Config, log logr.Logger) *Directory {
	t.Helper()
	d, err := New(cfg, Options{Logger: log, Backoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func byName(s *directory.Snapshot) map[string]directory.DeviceRecord {
	m := make(map[string]directory.DeviceRecord, len(s.Devices))
	for _, r := range s.Devices {
		m[r.Name] = r
	}
	return m
}

func admin(t *testing.T) *ldap.Conn {
	t.Helper()
	c, err := srv.Admin()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func readAttr(t *testing.T, dn, attr string) string {
	t.Helper()
	res, err := admin(t).Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{attr}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("reading %s of %s: %v", attr, dn, err)
	}
	return res.Entries[0].GetAttributeValue(attr)
}

func modify(t *testing.T, dn, attr string, value []byte) {
	t.Helper()
	req := ldap.NewModifyRequest(dn, nil)
	req.Replace(attr, []string{string(value)})
	if err := admin(t).Modify(req); err != nil {
		t.Fatalf("modify %s %s: %v", dn, attr, err)
	}
}

func fleetDN(i int) string { return fmt.Sprintf("CN=fleet-%05d,OU=Fleet,%s", i, srv.Base) }

// 1500 computers with page size 500: Samba returns a cookie after the third, full, page, so the
// client makes a fourth round trip that returns no entries (see DESIGN.md §6).
func TestSnapshot_pagesAndParsesTheFleet(t *testing.T) {
	d := newDir(t, testConfig(t, fleetBase), logr.Discard())
	before := time.Now()
	snap, err := d.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pages := int(math.Ceil(float64(fleetSize) / 500))
	if snap.RoundTrips != pages+1 {
		t.Errorf("round trips = %d, want ceil(%d/500)+1 = %d (the +1 is Samba's empty last page when N is a multiple of the page size)",
			snap.RoundTrips, fleetSize, pages+1)
	}
	if len(snap.Devices) != fleetSize || len(snap.Changed) != fleetSize || !snap.Full {
		t.Fatalf("devices=%d changed=%d full=%v, want %d, %d, true", len(snap.Devices), len(snap.Changed), snap.Full, fleetSize, fleetSize)
	}
	t.Logf("snapshot of %d devices: %d round trips", len(snap.Devices), snap.RoundTrips)
	m := byName(snap)
	// The fixture objects were created by up.sh shortly before the tests started.
	recent := func(tm time.Time) bool {
		return tm.After(before.Add(-10*time.Minute)) && tm.Before(time.Now().Add(time.Minute))
	}
	for i := 1; i <= 20; i++ {
		r := m[fmt.Sprintf("fleet-%05d", i)]
		if r.Key == "" || r.Key != r.ObjectGUID || !strings.HasPrefix(r.ObjectSID, "S-1-5-21-") || r.SAMAccountName != r.Name+"$" ||
			r.DistinguishedName != fleetDN(i) || r.DNSHostName != r.Name+".fleet.test" || r.USNChanged == 0 || r.DomainController {
			t.Errorf("fleet-%05d identity: %+v", i, r)
		}
		if len(r.BadData) > 0 {
			t.Errorf("fleet-%05d bad data: %v", i, r.BadData)
		}
		var wantSource directory.PasswordSource
		switch i % 10 {
		case 3, 4:
			wantSource = directory.SourceCleartext
		case 5, 6, 9:
			wantSource = directory.SourceEncrypted
		case 7:
			wantSource = directory.SourceLegacy
		}
		if r.Source != wantSource {
			t.Errorf("fleet-%05d source = %q, want %q", i, r.Source, wantSource)
		}
		switch i % 10 {
		case 3, 4, 5, 6, 8, 9:
			if !r.PasswordExpirationTime.Equal(fixtureExpiry(i)) {
				t.Errorf("fleet-%05d expiry = %v, want %v", i, r.PasswordExpirationTime, fixtureExpiry(i))
			}
		case 7:
			if !r.LegacyExpirationTime.Equal(fixtureExpiry(i)) || !r.PasswordExpirationTime.IsZero() {
				t.Errorf("fleet-%05d legacy expiry = %v, want %v", i, r.LegacyExpirationTime, fixtureExpiry(i))
			}
		default:
			if r.Managed() {
				t.Errorf("fleet-%05d should be unmanaged: %+v", i, r)
			}
		}
		switch i % 10 {
		case 3, 4, 5, 6, 9:
			if r.CurrentPasswordVersion != fixtureVersion(i) {
				t.Errorf("fleet-%05d version = %q, want %q", i, r.CurrentPasswordVersion, fixtureVersion(i))
			}
		}
		// Update time: from replication metadata of the password attribute, which the outer ring
		// may read although it cannot read the attribute itself.
		if wantSource != "" {
			if r.UpdateTimeSource != directory.UpdateTimeReplicationMetadata || !recent(r.PasswordUpdateTime) {
				t.Errorf("fleet-%05d update time = %v (%q), want a recent time from replication metadata", i, r.PasswordUpdateTime, r.UpdateTimeSource)
			}
		} else if r.UpdateTimeSource != directory.UpdateTimeUnknown {
			t.Errorf("fleet-%05d update time source = %q, want unknown", i, r.UpdateTimeSource)
		}
	}
}

func TestSnapshot_wholeDomainWithDomainControllersAndBadData(t *testing.T) {
	d := newDir(t, testConfig(t), logr.Discard())
	snap, err := d.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := byName(snap)
	want := fleetSize + 1 + 5 // fleet + the DC itself + OU=Special
	if len(snap.Devices) != want {
		t.Fatalf("devices = %d, want %d", len(snap.Devices), want)
	}
	if got, wantTrips := snap.RoundTrips, int(math.Ceil(float64(want)/500)); got != wantTrips {
		t.Errorf("round trips = %d, want %d", got, wantTrips)
	}
	if !m["DC1"].DomainController || !m[specialDCLike].DomainController || m["fleet-00001"].DomainController {
		t.Errorf("domain controller flags: DC1=%v dc-like=%v fleet=%v", m["DC1"].DomainController, m[specialDCLike].DomainController, m["fleet-00001"].DomainController)
	}
	bv := m[specialBadVersion]
	if len(bv.BadData) != 1 || !strings.HasPrefix(bv.BadData[0], attrPasswordVersion+":") || bv.PasswordExpirationTime.IsZero() {
		t.Errorf("bad version record: %+v", bv)
	}
	be := m[specialBadExpiry]
	if len(be.BadData) != 1 || !strings.HasPrefix(be.BadData[0], attrExpiration+":") {
		t.Errorf("bad expiry record: %+v", be)
	}
	nv := m[specialNever]
	if !nv.PasswordNeverExpires || !nv.PasswordExpirationTime.IsZero() || len(nv.BadData) > 0 {
		t.Errorf("never-expiring record: %+v", nv)
	}
}

func TestSnapshot_incrementalReadsOnlyChangedEntries(t *testing.T) {
	d := newDir(t, testConfig(t, fleetBase), logr.Discard())
	first, err := d.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Two changes an administrator or a device would make.
	newExpiry := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	modify(t, fleetDN(10), attrExpiration, []byte(adsyntax.FormatFiletime(newExpiry)))
	ver, _ := adsyntax.GUIDBytes("0b7a7e55-1111-2222-3333-444455556666")
	modify(t, fleetDN(21), attrPasswordVersion, ver)

	second, err := d.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := byName(second)
	wantChanged := []string{m["fleet-00010"].Key, m["fleet-00021"].Key}
	slices.Sort(wantChanged)
	if second.Full || !slices.Equal(second.Changed, wantChanged) || len(second.Devices) != len(first.Devices) {
		t.Fatalf("incremental pass: full=%v changed=%v (want %v) devices=%d", second.Full, second.Changed, wantChanged, len(second.Devices))
	}
	if second.RoundTrips != 1 {
		t.Errorf("incremental round trips = %d, want 1", second.RoundTrips)
	}
	if !m["fleet-00010"].PasswordExpirationTime.Equal(newExpiry) || m["fleet-00021"].CurrentPasswordVersion != "0b7a7e55-1111-2222-3333-444455556666" {
		t.Errorf("merged records not updated: %+v / %+v", m["fleet-00010"], m["fleet-00021"])
	}

	third, err := d.Snapshot(context.Background())
	if err != nil || third.Full || len(third.Changed) != 0 || len(third.Devices) != fleetSize {
		t.Fatalf("quiet pass: %v full=%v changed=%v devices=%d", err, third.Full, third.Changed, len(third.Devices))
	}

	// A computer deleted between passes: incremental passes cannot see it; the periodic full
	// pass reports it as removed.
	if err := admin(t).Del(ldap.NewDelRequest(fleetDN(1499), nil)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { restoreFleetComputer(t, 1499) })
	gone := m["fleet-01499"].Key
	d.mu.Lock()
	d.lastFull = d.lastFull.Add(-2 * time.Hour)
	d.mu.Unlock()
	resync, err := d.Snapshot(context.Background())
	if err != nil || !resync.Full || !slices.Equal(resync.Removed, []string{gone}) || len(resync.Devices) != fleetSize-1 {
		t.Fatalf("full resync: %v full=%v removed=%v (want %s) devices=%d", err, resync.Full, resync.Removed, gone, len(resync.Devices))
	}

	// Another DC database (a restore changes invocationId): the next pass must be full.
	d.mu.Lock()
	d.watermark.invocationID = "00000000-0000-0000-0000-000000000001"
	d.mu.Unlock()
	fourth, err := d.Snapshot(context.Background())
	if err != nil || !fourth.Full || len(fourth.Devices) != fleetSize-1 || len(fourth.Changed) != 0 || len(fourth.Removed) != 0 {
		t.Fatalf("pass after invocationId change: %v full=%v devices=%d changed=%d", err, fourth.Full, len(fourth.Devices), len(fourth.Changed))
	}
}

// restoreFleetComputer re-creates a deleted fleet computer (without LAPS state) so later tests
// see fleetSize computers again.
func restoreFleetComputer(t *testing.T, i int) {
	name := fmt.Sprintf("fleet-%05d", i)
	a := ldap.NewAddRequest(fleetDN(i), nil)
	a.Attribute("objectClass", []string{"computer"})
	a.Attribute("sAMAccountName", []string{name + "$"})
	a.Attribute("userAccountControl", []string{"4096"})
	if err := admin(t).Add(a); err != nil {
		t.Errorf("restoring %s: %v", name, err)
	}
}

func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	d := newDir(t, testConfig(t, fleetBase), logr.Discard())
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := d.Snapshot(ctx); err != nil {
				errs <- err
			}
			if _, err := d.CheckSchema(ctx); err != nil {
				errs <- err
			}
			if _, err := d.ResolvePrincipal(ctx, srv.Domain+`\LAPS Readers`); err != nil {
				errs <- err
			}
			if err := d.RequestRotation(ctx, directory.DeviceRef{DistinguishedName: fleetDN(30 + i)}, time.Now()); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestSnapshot_recoversFromAConnectionDroppedMidPage(t *testing.T) {
	proxy := newLDAPProxy(t, strings.TrimPrefix(srv.LDAPURL, "ldap://"))
	proxy.cutAfter = 700 // in the middle of the second page of 500
	logs, logger := logcapture.New(10)
	d := newDir(t, testConfig(t, fleetBase, func(c *Config) {
		c.URLs, c.CAFile, c.InsecureNoTLS = []string{proxy.URL()}, "", true
	}), logger)
	snap, err := d.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Devices) != fleetSize || len(snap.Changed) != fleetSize {
		t.Fatalf("devices=%d changed=%d, want every device once (%d)", len(snap.Devices), len(snap.Changed), fleetSize)
	}
	if proxy.connections() != 2 {
		t.Errorf("connections = %d, want 2 (one cut, one reconnect)", proxy.connections())
	}
	// 2 pages on the cut connection, then the whole pass again (4 pages).
	if snap.RoundTrips != 6 {
		t.Errorf("round trips = %d, want 6", snap.RoundTrips)
	}
	if !strings.Contains(logs.String(), "connection lost, reconnecting") {
		t.Errorf("no reconnect logged:\n%s", logs.String())
	}
}

// The controller never asks for a password attribute: checked on the wire, for every request a
// snapshot, a schema check, a rotation and a principal lookup send.
func TestNoPasswordAttributeRequestedOnTheWire(t *testing.T) {
	proxy := newLDAPProxy(t, strings.TrimPrefix(srv.LDAPURL, "ldap://"))
	d := newDir(t, testConfig(t, func(c *Config) {
		c.URLs, c.CAFile, c.InsecureNoTLS = []string{proxy.URL()}, "", true
	}), logr.Discard())
	ctx := context.Background()
	snap, err := d.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.CheckSchema(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ResolvePrincipal(ctx, srv.Domain+`\LAPS Readers`); err != nil {
		t.Fatal(err)
	}
	r := byName(snap)["fleet-00013"]
	if err := d.RequestRotation(ctx, directory.DeviceRef{Key: r.Key}, time.Now()); err != nil {
		t.Fatal(err)
	}
	searches := proxy.captured()
	computerSearches := 0
	for _, s := range searches {
		if err := checkAllowList(s.Attributes); err != nil {
			t.Errorf("search of %q (%s) asked for %v: %v", s.Base, s.Filter, s.Attributes, err)
		}
		if len(s.Attributes) == 0 {
			t.Errorf("search of %q (%s) asked for all attributes", s.Base, s.Filter)
		}
		if strings.Contains(s.Filter, "objectClass=computer") && !strings.Contains(s.Filter, "objectGUID") {
			computerSearches++
			if !slices.Equal(s.Attributes, searchAttributes) {
				t.Errorf("snapshot asked for %v, want the allow-list %v", s.Attributes, searchAttributes)
			}
		}
	}
	if computerSearches != snap.RoundTrips {
		t.Errorf("saw %d computer searches on the wire, snapshot counted %d round trips", computerSearches, snap.RoundTrips)
	}
	t.Logf("%d search requests captured, %d of them snapshot pages", len(searches), computerSearches)
}

// Samba enforces the confidential flag (searchFlags 904): the controller's account can neither
// read a password attribute nor filter on it, even when asking explicitly. This documents why
// the update time must come from replication metadata.
func TestOuterRingCannotReadPasswords(t *testing.T) {
	conn, err := ldap.DialURL(srv.LDAPURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Bind(srv.BindDN, srv.BindPassword); err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, a := range deniedAttributes {
		names = append(names, a.Name)
	}
	for _, dn := range []string{fleetDN(3), fleetDN(5), fleetDN(7), fleetDN(9)} {
		res, err := conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
			"(objectClass=*)", names, nil))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range res.Entries {
			if len(e.Attributes) != 0 {
				t.Errorf("%s: the outer ring read %d password attributes", dn, len(e.Attributes))
			}
		}
	}
	res, err := conn.Search(ldap.NewSearchRequest("OU=Fleet,"+srv.Base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(|("+names[0]+"=*)("+names[1]+"=*))", []string{"1.1"}, nil))
	if err != nil || len(res.Entries) != 0 {
		t.Errorf("filtering on confidential attributes matched %d entries (%v)", len(res.Entries), err)
	}
}

func TestRequestRotation(t *testing.T) {
	ctx := context.Background()
	d := newDir(t, testConfig(t), logr.Discard())
	at := time.Date(2026, 12, 24, 10, 0, 0, 123456700, time.UTC)

	dev := directory.DeviceRef{DistinguishedName: fleetDN(11)}
	for range 2 { // idempotent
		if err := d.RequestRotation(ctx, dev, at); err != nil {
			t.Fatal(err)
		}
	}
	got, err := adsyntax.ParseFiletime(readAttr(t, fleetDN(11), attrExpiration))
	if err != nil || !got.Time.Equal(at) {
		t.Fatalf("read back %v (%v), want %v", got.Time, err, at)
	}

	// Legacy LAPS device, addressed by objectGUID only.
	snap, err := d.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	legacy := byName(snap)["fleet-00017"]
	if err := d.RequestRotation(ctx, directory.DeviceRef{Key: legacy.Key, Legacy: true}, at); err != nil {
		t.Fatal(err)
	}
	got, err = adsyntax.ParseFiletime(readAttr(t, fleetDN(17), attrLegacyExpiration))
	if err != nil || !got.Time.Equal(at) {
		t.Fatalf("legacy read back %v (%v), want %v", got.Time, err, at)
	}

	err = d.RequestRotation(ctx, directory.DeviceRef{DistinguishedName: "CN=nope,OU=Fleet," + srv.Base}, at)
	if !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("missing device: %v, want ErrNotFound", err)
	}
	err = d.RequestRotation(ctx, directory.DeviceRef{Key: "0b7a7e55-0000-0000-0000-000000000000"}, at)
	if !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("unknown key: %v, want ErrNotFound", err)
	}

	// An authenticated account without the outer ring's write right.
	pw, err := srv.WriteSecret("ro", srv.ROPassword)
	if err != nil {
		t.Fatal(err)
	}
	ro := newDir(t, testConfig(t, func(c *Config) { c.BindDN, c.PasswordFile = srv.ReadOnlyDN, pw }), logr.Discard())
	err = ro.RequestRotation(ctx, directory.DeviceRef{DistinguishedName: fleetDN(12)}, at)
	if !errors.Is(err, directory.ErrPermissionDenied) {
		t.Fatalf("read-only account: %v, want ErrPermissionDenied", err)
	}
	// The controller's account may write the expiry but nothing else.
	conn, err := ldap.DialURL(srv.LDAPURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Bind(srv.BindDN, srv.BindPassword); err != nil {
		t.Fatal(err)
	}
	req := ldap.NewModifyRequest(fleetDN(12), nil)
	req.Replace(attrPasswordVersion, []string{"0123456789abcdef"})
	if err := conn.Modify(req); classify(err) != directory.ErrPermissionDenied {
		t.Errorf("controller writing the version GUID: %v, want insufficient access", err)
	}
}

func TestTLSAndCredentials(t *testing.T) {
	ctx := context.Background()
	cases := map[string]struct {
		mut  func(*Config)
		want directory.ErrorKind
	}{
		"should connect over LDAPS with the harness CA": {mut: fleetBase},
		"should connect over StartTLS with the harness CA": {mut: func(c *Config) {
			fleetBase(c)
			c.URLs, c.StartTLS = []string{srv.LDAPURL}, true
		}},
		"should fail closed over LDAPS with a wrong CA": {mut: func(c *Config) { c.CAFile = srv.WrongCAFile }, want: directory.ErrCertificateInvalid},
		"should fail closed over StartTLS with a wrong CA": {mut: func(c *Config) {
			c.URLs, c.StartTLS, c.CAFile = []string{srv.LDAPURL}, true, srv.WrongCAFile
		}, want: directory.ErrCertificateInvalid},
		"should fail closed with the system roots": {mut: func(c *Config) { c.CAFile = "" }, want: directory.ErrCertificateInvalid},
		"should fail over to the next DC in order": {mut: func(c *Config) {
			fleetBase(c)
			c.URLs = []string{"ldaps://127.0.0.1:1", srv.LDAPSURL}
		}},
		"should report a refused bind as auth failed": {mut: func(c *Config) {
			p := filepath.Join(t.TempDir(), "pw")
			_ = os.WriteFile(p, []byte("wrong"), 0o600)
			c.PasswordFile = p
		}, want: directory.ErrAuthFailed},
		"should report no reachable DC as unreachable": {mut: func(c *Config) {
			c.URLs, c.Timeout = []string{"ldaps://127.0.0.1:1", "ldaps://127.0.0.1:2"}, Duration{time.Second}
		}, want: directory.ErrUnreachable},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d := newDir(t, testConfig(t, tc.mut), logr.Discard())
			_, err := d.Snapshot(ctx)
			if got := directory.KindOf(err); got != tc.want {
				t.Fatalf("error %v: kind %q, want %q", err, got, tc.want)
			}
		})
	}
}

// Passwords never reach the logs: neither the fixture passwords (which the controller cannot
// read anyway) nor the bind password, on success and error paths.
func TestNoPasswordInLogs(t *testing.T) {
	logs, log := logcapture.New(10)
	ctx := context.Background()
	d := newDir(t, testConfig(t), log)
	snap, err := d.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = d.Snapshot(ctx)
	_, _ = d.CheckSchema(ctx)
	_, _ = d.ResolvePrincipal(ctx, "nobody@fleet.test")
	_ = d.RequestRotation(ctx, directory.DeviceRef{DistinguishedName: byName(snap)["fleet-00014"].DistinguishedName}, time.Now())
	p := filepath.Join(t.TempDir(), "pw")
	_ = os.WriteFile(p, []byte("Wrong-FLEETSECRET-bind"), 0o600)
	bad := newDir(t, testConfig(t, func(c *Config) { c.PasswordFile = p }), log)
	_, _ = bad.Snapshot(ctx)
	wrongCA := newDir(t, testConfig(t, func(c *Config) { c.CAFile = srv.WrongCAFile }), log)
	_, _ = wrongCA.Snapshot(ctx)

	out := logs.String()
	if !strings.Contains(out, `"roundTrips"`) || !strings.Contains(out, `"directory"="test-ad"`) {
		t.Fatalf("expected structured snapshot logs, got:\n%s", out)
	}
	for _, secret := range []string{"FLEETSECRET", srv.BindPassword, srv.AdminPassword} {
		if strings.Contains(out, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
}

func TestResolvePrincipal(t *testing.T) {
	ctx := context.Background()
	d := newDir(t, testConfig(t), logr.Discard())
	sid, err := d.ResolvePrincipal(ctx, srv.Domain+`\LAPS Readers`)
	if err != nil || !strings.HasPrefix(sid, "S-1-5-21-") {
		t.Fatalf("DOMAIN\\name: %q, %v", sid, err)
	}
	for _, name := range []string{
		"LAPS Readers@fleet.test", // UPN style: groups have no UPN, the sAMAccountName matches
		`fleet.test\LAPS Readers`,
		"laps readers@FLEET.TEST",
		sid,
		strings.ToLower(sid),
	} {
		got, err := d.ResolvePrincipal(ctx, name)
		if err != nil || got != sid {
			t.Errorf("%q: %q, %v; want %q", name, got, err, sid)
		}
	}
	user, err := d.ResolvePrincipal(ctx, "fleetlaps-ctrl@"+strings.ToLower(srv.Realm))
	if err != nil || !strings.HasPrefix(user, "S-1-5-21-") || user == sid {
		t.Errorf("user by UPN: %q, %v", user, err)
	}
	admins, err := d.ResolvePrincipal(ctx, "S-1-5-32-544") // BUILTIN\Administrators
	if err != nil || admins != "S-1-5-32-544" {
		t.Errorf("builtin SID: %q, %v", admins, err)
	}
	for _, name := range []string{
		srv.Domain + `\nobody`, "nobody@fleet.test", `OTHER\LAPS Readers`, "LAPS Readers@other.test",
		sid[:strings.LastIndex(sid, "-")] + "-999999", "S-1-bogus", "just-a-name", "",
	} {
		if _, err := d.ResolvePrincipal(ctx, name); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("%q: %v, want ErrNotFound", name, err)
		}
	}
}

func TestCheckSchema(t *testing.T) {
	ctx := context.Background()
	d := newDir(t, testConfig(t), logr.Discard())
	rep, err := d.CheckSchema(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.WindowsLAPSReady() || !rep.Legacy || len(rep.Present) != 9 {
		t.Errorf("extended domain: %+v", rep)
	}

	// A second domain, provisioned without the LAPS schema extension.
	bare, err := startBareDomain()
	if err != nil {
		t.Fatal(err)
	}
	pw, err := bare.WriteSecret("ctrl", bare.BindPassword)
	if err != nil {
		t.Fatal(err)
	}
	bd := newDir(t, Config{Name: "bare", URLs: []string{bare.LDAPSURL}, CAFile: bare.CAFile, BindDN: bare.BindDN, PasswordFile: pw}, logr.Discard())
	rep, err = bd.CheckSchema(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.WindowsLAPSReady() || rep.Legacy || len(rep.Present) != 0 || len(rep.Missing) != 7 {
		t.Errorf("un-extended domain: %+v", rep)
	}
	// A snapshot still works there: every computer is simply unmanaged.
	snap, err := bd.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range snap.Devices {
		if r.Managed() || len(r.BadData) > 0 {
			t.Errorf("un-extended domain record %+v", r)
		}
	}
	// Writing an expiry there is a schema problem, not a permission problem.
	dc := snap.Devices[snap.Changed[0]]
	adminPW, err := bare.WriteSecret("admin", bare.AdminPassword)
	if err != nil {
		t.Fatal(err)
	}
	bdAdmin := newDir(t, Config{Name: "bare", URLs: []string{bare.LDAPSURL}, CAFile: bare.CAFile, BindDN: bare.AdminDN, PasswordFile: adminPW}, logr.Discard())
	if err := bdAdmin.RequestRotation(ctx, directory.DeviceRef{DistinguishedName: dc.DistinguishedName}, time.Now()); !errors.Is(err, directory.ErrSchemaMissing) {
		t.Errorf("rotation without schema: %v, want ErrSchemaMissing", err)
	}
}

// What a Windows LAPS client does when it rotates (switching from clear text to encryption
// here): one modify that writes the encrypted password, clears the clear-text one and writes a
// new version GUID and expiry. The outer ring sees the new update time and source through
// replication metadata alone.
func TestSnapshot_updateTimeFollowsADeviceRotation(t *testing.T) {
	ctx := context.Background()
	d := newDir(t, testConfig(t, fleetBase), logr.Discard())
	if _, err := d.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // metadata has one-second resolution
	before := time.Now().Truncate(time.Second)

	const i = 24 // clear text in the fixture
	header := make([]byte, 16)
	blob := append(header, []byte("FAKE-CMS-FLEETSECRET-rotated")...)
	req := ldap.NewModifyRequest(fleetDN(i), nil)
	req.Replace("msLAPS-EncryptedPassword", []string{string(blob)})
	req.Delete("msLAPS-Password", nil)
	ver, _ := adsyntax.GUIDBytes("11111111-2222-3333-4444-555555555555")
	req.Replace(attrPasswordVersion, []string{string(ver)})
	req.Replace(attrExpiration, []string{adsyntax.FormatFiletime(before.Add(30 * 24 * time.Hour))})
	if err := admin(t).Modify(req); err != nil {
		t.Fatal(err)
	}
	// A clear-text password removed without a replacement (i = 33): the metadata of the removal
	// still names the clear-text attribute, so the source stays Cleartext (documented caveat).
	del := ldap.NewModifyRequest(fleetDN(33), nil)
	del.Delete("msLAPS-Password", nil)
	if err := admin(t).Modify(del); err != nil {
		t.Fatal(err)
	}

	snap, err := d.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := byName(snap)
	r := m[fmt.Sprintf("fleet-%05d", i)]
	if snap.Full || !slices.Contains(snap.Changed, r.Key) {
		t.Fatalf("rotation not seen as a change: full=%v changed=%v", snap.Full, snap.Changed)
	}
	if r.Source != directory.SourceEncrypted || r.UpdateTimeSource != directory.UpdateTimeReplicationMetadata ||
		r.PasswordUpdateTime.Before(before) || r.PasswordUpdateTime.After(time.Now().Add(time.Second)) ||
		r.CurrentPasswordVersion != "11111111-2222-3333-4444-555555555555" {
		t.Errorf("after rotation: source=%q update=%v (%q), want Encrypted at >= %v; version %q",
			r.Source, r.PasswordUpdateTime, r.UpdateTimeSource, before, r.CurrentPasswordVersion)
	}
	cleared := m["fleet-00033"]
	if cleared.Source != directory.SourceCleartext || cleared.PasswordUpdateTime.Before(before) {
		t.Errorf("cleared password: source=%q update=%v", cleared.Source, cleared.PasswordUpdateTime)
	}
}

// A connection writes only to its own objects: the DN must lie under its search bases, and the
// object there must be the one the objectGUID names. Nothing is modified otherwise.
func TestRequestRotation_refusesTargetsOutsideTheConnection(t *testing.T) {
	ctx := context.Background()
	snap, err := newDir(t, testConfig(t), logr.Discard()).Snapshot(ctx) // the whole domain, for keys
	if err != nil {
		t.Fatal(err)
	}
	all := byName(snap)
	fleet := newDir(t, testConfig(t, fleetBase), logr.Discard())
	at := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	special := all[specialNever]
	cases := map[string]struct {
		ref  directory.DeviceRef
		want directory.ErrorKind
	}{
		"a DN outside the search bases":             {directory.DeviceRef{DistinguishedName: special.DistinguishedName}, directory.ErrOutOfScope},
		"a look-alike OU is not the search base":    {directory.DeviceRef{DistinguishedName: "CN=fleet-00040,OU=Old-OU=Fleet," + srv.Base}, directory.ErrOutOfScope},
		"another computer's DN for this objectGUID": {directory.DeviceRef{Key: all["fleet-00040"].Key, DistinguishedName: fleetDN(41)}, directory.ErrOutOfScope},
		"an objectGUID outside the search bases":    {directory.DeviceRef{Key: special.Key}, directory.ErrNotFound},
		"its DN with an in-scope DN":                {directory.DeviceRef{Key: special.Key, DistinguishedName: fleetDN(40)}, directory.ErrNotFound},
	}
	watched := []string{special.DistinguishedName, fleetDN(40), fleetDN(41)}
	before := map[string]string{}
	for _, w := range watched {
		before[w] = readAttr(t, w, attrExpiration)
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := fleet.RequestRotation(ctx, tc.ref, at)
			if directory.KindOf(err) != tc.want {
				t.Fatalf("err = %v, want %s", err, tc.want)
			}
			for _, w := range watched {
				if got := readAttr(t, w, attrExpiration); got != before[w] {
					t.Fatalf("%s was modified: %s -> %s", w, before[w], got)
				}
			}
		})
	}
	// The same call with the matching DN (in another case) is written.
	ok := directory.DeviceRef{Key: all["fleet-00040"].Key, DistinguishedName: strings.ToLower(fleetDN(40))}
	if err := fleet.RequestRotation(ctx, ok, at); err != nil {
		t.Fatal(err)
	}
	got, err := adsyntax.ParseFiletime(readAttr(t, fleetDN(40), attrExpiration))
	if err != nil || !got.Time.Equal(at) {
		t.Fatalf("read back %v (%v), want %v", got.Time, err, at)
	}
}
