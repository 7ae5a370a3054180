package ldapserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/fleetlaps/fleetlaps/internal/adsyntax"
)

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

type fixture struct {
	srv   *Server
	clock *clocktesting.FakeClock
	dns   []string
}

// newFixture starts a server with n computers split over two OUs.
func newFixture(t *testing.T, n int, cfg Config) *fixture {
	t.Helper()
	clk := clocktesting.NewFakeClock(t0)
	cfg.Clock = clk
	srv, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	st := srv.Store()
	ouA, _ := st.AddOU("", "Workstations")
	ouB, _ := st.AddOU("", "Servers")
	f := &fixture{srv: srv, clock: clk}
	for i := range n {
		ou := ouA
		if i%2 == 1 {
			ou = ouB
		}
		dn, err := st.AddComputer(Computer{Name: fmt.Sprintf("WS-%05d", i), Container: ou})
		if err != nil {
			t.Fatal(err)
		}
		f.dns = append(f.dns, dn)
	}
	return f
}

func (f *fixture) caPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(f.srv.CAPEM())
	return p
}

// dial connects over LDAPS with the generated CA and binds as role (RoleNone: no bind).
func (f *fixture) dial(t *testing.T, role Role) *ldap.Conn {
	t.Helper()
	c, err := ldap.DialURL(f.srv.LDAPSURL(), ldap.DialWithTLSConfig(&tls.Config{RootCAs: f.caPool()}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if role != RoleNone {
		cr := f.srv.Credentials(role)
		if err := c.Bind(cr.DN, cr.Password); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// rotate writes what a device writes on rotation, as the device identity.
func (f *fixture) rotate(t *testing.T, dn string, at time.Time) {
	t.Helper()
	blob := append(adsyntax.EncryptedPasswordHeader(at, 4), 1, 2, 3, 4)
	v, _ := adsyntax.GUIDBytes("6f2b1c3a-1111-4222-8333-444455556666")
	err := f.srv.Store().Modify(Identity{Role: RoleDevice}, dn, []Change{
		{Op: ModReplace, Attr: AttrEncryptedPassword, Vals: []string{string(blob)}},
		{Op: ModReplace, Attr: AttrCurrentPasswordVersion, Vals: []string{string(v)}},
		{Op: ModReplace, Attr: AttrPasswordExpirationTime, Vals: []string{adsyntax.FormatFiletime(at.Add(24 * time.Hour))}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func pagedSearch(t *testing.T, c *ldap.Conn, base, filter string, attrs []string, page uint32) ([]*ldap.Entry, int) {
	t.Helper()
	ctl := ldap.NewControlPaging(page)
	req := ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, []ldap.Control{ctl})
	var out []*ldap.Entry
	trips := 0
	for {
		res, err := c.Search(req)
		trips++
		if err != nil {
			t.Fatalf("page %d: %v", trips, err)
		}
		out = append(out, res.Entries...)
		got, ok := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if !ok || len(got.Cookie) == 0 {
			return out, trips
		}
		ctl.SetCookie(got.Cookie)
	}
}

func TestPagedSearchRoundTrips(t *testing.T) {
	f := newFixture(t, 2500, Config{})
	c := f.dial(t, RoleController)
	base := f.srv.Store().DomainDN()
	for _, tc := range []struct {
		page      uint32
		wantTrips int
	}{{1000, 3}, {500, 5}, {5000, 3}, {2500, 3}, {7, 358}} {
		t.Run(strconv.Itoa(int(tc.page)), func(t *testing.T) {
			before := f.srv.Stats().Searches
			got, trips := pagedSearch(t, c, base, "(objectClass=computer)", []string{"cn", "objectGUID", "uSNChanged"}, tc.page)
			if len(got) != 2500 {
				t.Fatalf("got %d entries, want 2500", len(got))
			}
			if trips != tc.wantTrips || f.srv.Stats().Searches-before != int64(tc.wantTrips) {
				t.Fatalf("round trips: client %d, server %d, want %d", trips, f.srv.Stats().Searches-before, tc.wantTrips)
			}
			seen := map[string]bool{}
			for _, e := range got {
				if seen[e.DN] {
					t.Fatalf("%s returned twice", e.DN)
				}
				seen[e.DN] = true
				if len(e.GetRawAttributeValue("objectGUID")) != 16 {
					t.Fatalf("%s: objectGUID is %d bytes", e.DN, len(e.GetRawAttributeValue("objectGUID")))
				}
			}
		})
	}
}

func TestUnpagedSearchIsCappedAtMaxPageSize(t *testing.T) {
	f := newFixture(t, 30, Config{MaxPageSize: 20})
	c := f.dial(t, RoleController)
	res, err := c.Search(ldap.NewSearchRequest(f.srv.Store().DomainDN(), ldap.ScopeWholeSubtree, 0, 0, 0, false, "(objectClass=computer)", []string{"cn"}, nil))
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		t.Fatalf("err = %v, want sizeLimitExceeded", err)
	}
	if res == nil || len(res.Entries) != 20 {
		t.Fatalf("got %v entries, want 20", res)
	}
}

func TestScopesAndNamingContexts(t *testing.T) {
	f := newFixture(t, 4, Config{})
	c := f.dial(t, RoleController)
	st := f.srv.Store()
	count := func(base string, scope int, filter string) int {
		t.Helper()
		res, err := c.Search(ldap.NewSearchRequest(base, scope, 0, 0, 0, false, filter, []string{"1.1"}, nil))
		if err != nil {
			t.Fatal(err)
		}
		return len(res.Entries)
	}
	if n := count("OU=Workstations,"+st.DomainDN(), ldap.ScopeSingleLevel, "(objectClass=computer)"); n != 2 {
		t.Errorf("one level under Workstations: %d, want 2", n)
	}
	if n := count(f.dns[0], ldap.ScopeBaseObject, "(objectClass=*)"); n != 1 {
		t.Errorf("base: %d, want 1", n)
	}
	// The configuration naming context is not part of a domain subtree search.
	if n := count(st.DomainDN(), ldap.ScopeWholeSubtree, "(objectClass=attributeSchema)"); n != 0 {
		t.Errorf("schema objects leaked into the domain NC: %d", n)
	}
	if n := count(st.DomainDN(), ldap.ScopeWholeSubtree, "(&(objectCategory=computer)(userAccountControl:1.2.840.113556.1.4.803:=4096))"); n != 4 {
		t.Errorf("objectCategory + bit AND: %d, want 4", n)
	}
	if _, err := c.Search(ldap.NewSearchRequest("OU=Nowhere,"+st.DomainDN(), 2, 0, 0, 0, false, "(objectClass=*)", nil, nil)); !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		t.Errorf("missing base: %v, want noSuchObject", err)
	}
}

func TestConfidentialAttributesNeverReachTheController(t *testing.T) {
	f := newFixture(t, 3, Config{})
	for _, dn := range f.dns {
		f.rotate(t, dn, t0)
	}
	secret := []string{AttrPassword, AttrEncryptedPassword, AttrEncryptedPasswordHistory, AttrEncryptedDSRMPassword, AttrEncryptedDSRMPasswordHistory, AttrLegacyPassword}
	ctrl := f.dial(t, RoleController)
	base := f.srv.Store().DomainDN()
	for _, attrs := range [][]string{nil, {"*"}, secret, append([]string{"cn", AttrCurrentPasswordVersion}, secret...)} {
		res, err := ctrl.Search(ldap.NewSearchRequest(base, 2, 0, 0, 0, false, "(objectClass=computer)", attrs, nil))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range res.Entries {
			for _, a := range e.Attributes {
				if IsConfidential(a.Name) {
					t.Fatalf("attrs %v: controller got %s on %s", attrs, a.Name, e.DN)
				}
			}
		}
	}
	if f.srv.Stats().ConfidentialWithheld == 0 {
		t.Error("ConfidentialWithheld not counted")
	}
	// A filter on a confidential attribute is Undefined for the controller: no probing.
	for _, filter := range []string{"(" + AttrEncryptedPassword + "=*)", "(!(" + AttrEncryptedPassword + "=*))"} {
		res, err := ctrl.Search(ldap.NewSearchRequest(base, 2, 0, 0, 0, false, filter, []string{"1.1"}, nil))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Entries) != 0 {
			t.Errorf("controller filter %s matched %d entries", filter, len(res.Entries))
		}
	}
	// The device identity reads them (it needs the current value for the history).
	dev := f.dial(t, RoleDevice)
	res, err := dev.Search(ldap.NewSearchRequest(f.dns[0], 0, 0, 0, 0, false, "("+AttrEncryptedPassword+"=*)", []string{AttrEncryptedPassword}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("device read: %v %v", res, err)
	}
	if _, _, err := adsyntax.ParseEncryptedPasswordHeader(res.Entries[0].GetRawAttributeValue(AttrEncryptedPassword)); err != nil {
		t.Fatal(err)
	}
}

func TestModifyAccessControl(t *testing.T) {
	f := newFixture(t, 1, Config{})
	dn := f.dns[0]
	ctrl := f.dial(t, RoleController)
	v := make([]byte, 16)
	for _, tc := range []struct {
		name   string
		conn   *ldap.Conn
		attr   string
		val    string
		want   uint16
		wantOK bool
	}{
		{"controller writes the expiration time", ctrl, AttrPasswordExpirationTime, adsyntax.FormatFiletime(t0), 0, true},
		{"controller writes the legacy expiration time", ctrl, AttrLegacyExpirationTime, "0", 0, true},
		{"controller may not write the password", ctrl, AttrPassword, "x", ldap.LDAPResultInsufficientAccessRights, false},
		{"controller may not write the encrypted password", ctrl, AttrEncryptedPassword, "x", ldap.LDAPResultInsufficientAccessRights, false},
		{"controller may not write the version", ctrl, AttrCurrentPasswordVersion, string(v), ldap.LDAPResultInsufficientAccessRights, false},
		{"controller may not write other attributes", ctrl, "description", "x", ldap.LDAPResultInsufficientAccessRights, false},
		{"nobody writes objectGUID", ctrl, "objectGUID", string(v), ldap.LDAPResultUnwillingToPerform, false},
		{"unknown attribute", ctrl, "msLAPS-Nope", "1", ldap.LDAPResultUndefinedAttributeType, false},
		{"expiration must be an integer", ctrl, AttrPasswordExpirationTime, "soon", ldap.LDAPResultInvalidAttributeSyntax, false},
		{"device writes the version", f.dial(t, RoleDevice), AttrCurrentPasswordVersion, string(v), 0, true},
		{"version must be 16 bytes", f.dial(t, RoleDevice), AttrCurrentPasswordVersion, "short", ldap.LDAPResultInvalidAttributeSyntax, false},
		{"device may not write description", f.dial(t, RoleDevice), "description", "x", ldap.LDAPResultInsufficientAccessRights, false},
		{"anonymous may not write", f.dial(t, RoleNone), AttrPasswordExpirationTime, "0", ldap.LDAPResultOperationsError, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := ldap.NewModifyRequest(dn, nil)
			req.Replace(tc.attr, []string{tc.val})
			err := tc.conn.Modify(req)
			if tc.wantOK {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !ldap.IsErrorWithCode(err, tc.want) {
				t.Fatalf("err = %v, want code %d", err, tc.want)
			}
		})
	}
	// A refused change in a multi-change modify leaves the entry untouched.
	before := f.srv.Store().HighestCommittedUSN()
	req := ldap.NewModifyRequest(dn, nil)
	req.Replace(AttrPasswordExpirationTime, []string{"1"})
	req.Replace(AttrPassword, []string{"x"})
	if err := ctrl.Modify(req); err == nil {
		t.Fatal("mixed modify accepted")
	}
	if f.srv.Store().HighestCommittedUSN() != before {
		t.Fatal("refused modify changed the store")
	}
}

func TestUSNChangedFilterReturnsOnlyChangedEntries(t *testing.T) {
	f := newFixture(t, 50, Config{})
	c := f.dial(t, RoleController)
	root, err := c.Search(ldap.NewSearchRequest("", 0, 0, 0, 0, false, "(objectClass=*)", []string{"highestCommittedUSN"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	usn, _ := strconv.ParseInt(root.Entries[0].GetAttributeValue("highestCommittedUSN"), 10, 64)
	f.clock.Step(time.Hour)
	for _, dn := range []string{f.dns[3], f.dns[17], f.dns[42]} {
		f.rotate(t, dn, f.clock.Now())
	}
	req := ldap.NewModifyRequest(f.dns[17], nil) // the controller's own write counts too
	req.Replace(AttrPasswordExpirationTime, []string{adsyntax.FormatFiletime(f.clock.Now())})
	if err := c.Modify(req); err != nil {
		t.Fatal(err)
	}
	got, _ := pagedSearch(t, c, f.srv.Store().DomainDN(), fmt.Sprintf("(&(objectClass=computer)(uSNChanged>=%d))", usn+1), []string{"cn", "uSNChanged", "whenChanged"}, 1000)
	var names []string
	for _, e := range got {
		names = append(names, e.GetAttributeValue("cn"))
		if e.GetAttributeValue("whenChanged") != "20261120110000.0Z" {
			t.Errorf("%s whenChanged = %s", e.DN, e.GetAttributeValue("whenChanged"))
		}
	}
	if strings.Join(names, ",") != "WS-00003,WS-00017,WS-00042" {
		t.Fatalf("changed entries: %v", names)
	}
	if got, _ := pagedSearch(t, c, f.srv.Store().DomainDN(), fmt.Sprintf("(&(objectClass=computer)(uSNChanged<=%d))", usn), []string{"1.1"}, 1000); len(got) != 47 {
		t.Fatalf("unchanged entries: %d, want 47", len(got))
	}
}

func TestReplicationMetadataTellsWhenThePasswordChanged(t *testing.T) {
	f := newFixture(t, 1, Config{})
	f.clock.Step(90 * time.Minute)
	f.rotate(t, f.dns[0], f.clock.Now())
	c := f.dial(t, RoleController)
	res, err := c.Search(ldap.NewSearchRequest(f.dns[0], 0, 0, 0, 0, false, "(objectClass=*)", []string{"replPropertyMetaData"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	b := res.Entries[0].GetRawAttributeValue("replPropertyMetaData")
	if len(b) < 16 || (len(b)-16)%48 != 0 {
		t.Fatalf("metadata length %d", len(b))
	}
	want := lookupAttr(AttrEncryptedPassword).attid()
	found := false
	for i := 16; i < len(b); i += 48 {
		if le32(b[i:]) == want {
			found = true
			secs := int64(le64(b[i+8:])) - adsyntax.FiletimeEpochOffset/10_000_000
			if got := time.Unix(secs, 0).UTC(); !got.Equal(f.clock.Now()) {
				t.Fatalf("originating change %v, want %v", got, f.clock.Now())
			}
		}
	}
	if !found {
		t.Fatal("no metadata for the encrypted password")
	}
	// Not part of "*": only when asked for.
	res, _ = c.Search(ldap.NewSearchRequest(f.dns[0], 0, 0, 0, 0, false, "(objectClass=*)", nil, nil))
	if len(res.Entries[0].GetRawAttributeValue("replPropertyMetaData")) != 0 {
		t.Fatal("replPropertyMetaData returned for *")
	}
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
func le64(b []byte) uint64 { return uint64(le32(b)) | uint64(le32(b[4:]))<<32 }

func TestRootDSESchemaAndPrincipals(t *testing.T) {
	for _, omit := range []bool{false, true} {
		t.Run(fmt.Sprintf("omitLAPSSchema=%v", omit), func(t *testing.T) {
			f := newFixture(t, 1, Config{StoreConfig: StoreConfig{OmitLAPSSchema: omit}})
			st := f.srv.Store()
			anon := f.dial(t, RoleNone)
			root, err := anon.Search(ldap.NewSearchRequest("", 0, 0, 0, 0, false, "(objectClass=*)", nil, nil))
			if err != nil {
				t.Fatal(err)
			}
			e := root.Entries[0]
			if e.GetAttributeValue("defaultNamingContext") != "DC=demo,DC=fleetlaps,DC=local" || e.GetAttributeValue("highestCommittedUSN") == "" ||
				!contains(e.GetAttributeValues("supportedControl"), ControlPagedResults) {
				t.Fatalf("rootDSE: %+v", e.Attributes)
			}
			if _, err := anon.Search(ldap.NewSearchRequest(st.DomainDN(), 2, 0, 0, 0, false, "(objectClass=*)", nil, nil)); !ldap.IsErrorWithCode(err, ldap.LDAPResultOperationsError) {
				t.Fatalf("anonymous search: %v", err)
			}
			c := f.dial(t, RoleController)
			// The AD backend's schema check: attributeSchema objects by lDAPDisplayName.
			res, err := c.Search(ldap.NewSearchRequest(e.GetAttributeValue("schemaNamingContext"), ldap.ScopeSingleLevel, 0, 0, 0, false,
				"(&(objectClass=attributeSchema)(|(lDAPDisplayName="+AttrPasswordExpirationTime+")(lDAPDisplayName="+AttrCurrentPasswordVersion+")))",
				[]string{"lDAPDisplayName", "msDS-IntId", "attributeID"}, nil))
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{false: 2, true: 0}[omit]; len(res.Entries) != want {
				t.Fatalf("schema objects: %d, want %d", len(res.Entries), want)
			}
			sub, err := c.Search(ldap.NewSearchRequest(e.GetAttributeValue("subschemaSubentry"), 0, 0, 0, 0, false, "(objectClass=subSchema)", []string{"attributeTypes"}, nil))
			if err != nil {
				t.Fatal(err)
			}
			has := strings.Contains(strings.Join(sub.Entries[0].GetAttributeValues("attributeTypes"), "\n"), "'"+AttrCurrentPasswordVersion+"'")
			if has == omit {
				t.Fatalf("subschema lists the LAPS attributes: %v, omit %v", has, omit)
			}
			// dsServiceName → invocationId; crossRef → NetBIOS name.
			ntds, err := c.Search(ldap.NewSearchRequest(e.GetAttributeValue("dsServiceName"), 0, 0, 0, 0, false, "(objectClass=*)", []string{"invocationId"}, nil))
			if err != nil || len(ntds.Entries[0].GetRawAttributeValue("invocationId")) != 16 {
				t.Fatalf("invocationId: %v", err)
			}
			xr, err := c.Search(ldap.NewSearchRequest("CN=Partitions,"+e.GetAttributeValue("configurationNamingContext"), 1, 0, 0, 0, false,
				"(&(objectClass=crossRef)(nCName="+ldap.EscapeFilter(st.DomainDN())+"))", []string{"nETBIOSName"}, nil))
			if err != nil || len(xr.Entries) != 1 || xr.Entries[0].GetAttributeValue("nETBIOSName") != "DEMO" {
				t.Fatalf("crossRef: %v %v", xr, err)
			}
		})
	}
}

func TestPrincipalResolutionFilters(t *testing.T) {
	f := newFixture(t, 0, Config{})
	st := f.srv.Store()
	readers, err := st.AddGroup("LAPS-Readers", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, alice, _ := st.AddUser("alice", "", RoleNone)
	c := f.dial(t, RoleController)
	sidOf := func(filter string) []string {
		t.Helper()
		res, err := c.Search(ldap.NewSearchRequest(st.DomainDN(), 2, 0, 2, 0, false, "(&(|(objectClass=user)(objectClass=group))"+filter+")", []string{"objectSid"}, nil))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range res.Entries {
			s, err := adsyntax.ParseSID(e.GetRawAttributeValue("objectSid"))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return out
	}
	raw, _ := adsyntax.SIDBytes(readers)
	var esc strings.Builder
	for _, b := range raw {
		fmt.Fprintf(&esc, "\\%02x", b)
	}
	for filter, want := range map[string]string{
		"(sAMAccountName=laps-readers)":                            readers,
		"(objectSid=" + esc.String() + ")":                         readers,
		"(userPrincipalName=alice@demo.fleetlaps.local)":           alice,
		"(|(userPrincipalName=x@y)(sAMAccountName=Domain Admins))": st.DomainSID() + "-512",
	} {
		if got := sidOf(filter); len(got) != 1 || got[0] != want {
			t.Errorf("%s: %v, want %s", filter, got, want)
		}
	}
	// objectGUID equality with escaped binary, as RequestRotation looks devices up.
	dn, _ := st.AddComputer(Computer{Name: "PC1"})
	vals, _ := st.Read(Identity{Role: RoleAdmin}, dn, "objectGUID")
	var g strings.Builder
	for _, b := range []byte(vals["objectGUID"][0]) {
		fmt.Fprintf(&g, "\\%02x", b)
	}
	res, err := c.Search(ldap.NewSearchRequest(st.DomainDN(), 2, 0, 0, 0, false, "(&(objectClass=computer)(objectGUID="+g.String()+"))", []string{"1.1"}, nil))
	if err != nil || len(res.Entries) != 1 || res.Entries[0].DN != dn {
		t.Fatalf("objectGUID lookup: %v %v", res, err)
	}
}

func contains(vals []string, v string) bool {
	for _, x := range vals {
		if x == v {
			return true
		}
	}
	return false
}

func TestTLS(t *testing.T) {
	f := newFixture(t, 1, Config{})
	cr := f.srv.Credentials(RoleController)
	t.Run("LDAPS with the generated CA", func(t *testing.T) {
		f.dial(t, RoleController)
	})
	t.Run("LDAPS with a wrong CA fails", func(t *testing.T) {
		_, otherCA, err := newTLS("elsewhere")
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(otherCA)
		c, err := ldap.DialURL(f.srv.LDAPSURL(), ldap.DialWithTLSConfig(&tls.Config{RootCAs: pool}))
		if err == nil {
			err = c.Bind(cr.DN, cr.Password)
			_ = c.Close()
		}
		var uae x509.UnknownAuthorityError
		if err == nil || !(errors.As(err, &uae) || strings.Contains(err.Error(), "unknown authority")) {
			t.Fatalf("err = %v, want an unknown-authority failure", err)
		}
	})
	t.Run("StartTLS", func(t *testing.T) {
		c, err := ldap.DialURL(f.srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.StartTLS(&tls.Config{RootCAs: f.caPool(), ServerName: "127.0.0.1"}); err != nil {
			t.Fatal(err)
		}
		if err := c.Bind(cr.DN, cr.Password); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Search(ldap.NewSearchRequest(f.dns[0], 0, 0, 0, 0, false, "(objectClass=*)", []string{"cn"}, nil)); err != nil {
			t.Fatal(err)
		}
		if f.srv.Stats().StartTLS != 1 {
			t.Fatalf("StartTLS count %d", f.srv.Stats().StartTLS)
		}
	})
	t.Run("bind names and wrong passwords", func(t *testing.T) {
		c := f.dial(t, RoleNone)
		for _, name := range []string{cr.DN, ControllerAccount + "@demo.fleetlaps.local", `DEMO\` + ControllerAccount} {
			if err := c.Bind(name, cr.Password); err != nil {
				t.Errorf("bind as %s: %v", name, err)
			}
		}
		if err := c.Bind(cr.DN, "wrong"); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			t.Errorf("wrong password: %v", err)
		}
		// An unauthenticated bind succeeds as anonymous: rootDSE only, the earlier bind is gone.
		if err := c.UnauthenticatedBind(cr.DN); err != nil {
			t.Fatalf("unauthenticated bind: %v", err)
		}
		if _, err := c.Search(ldap.NewSearchRequest(f.dns[0], 0, 0, 0, 0, false, "(objectClass=*)", nil, nil)); !ldap.IsErrorWithCode(err, ldap.LDAPResultOperationsError) {
			t.Errorf("search after an unauthenticated bind: %v", err)
		}
	})
}

func TestDropConnectionMidPage(t *testing.T) {
	f := newFixture(t, 2500, Config{})
	c := f.dial(t, RoleController)
	f.srv.DropConnectionsAfterEntries(1500)
	ctl := ldap.NewControlPaging(1000)
	req := ldap.NewSearchRequest(f.srv.Store().DomainDN(), 2, 0, 0, 0, false, "(objectClass=computer)", []string{"cn"}, []ldap.Control{ctl})
	var err error
	for range 3 {
		var res *ldap.SearchResult
		res, err = c.Search(req)
		if err != nil {
			break
		}
		ctl.SetCookie(ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging).Cookie)
	}
	if err == nil {
		t.Fatal("search survived the dropped connection")
	}
	if f.srv.Stats().DroppedConnections == 0 {
		t.Fatalf("no connection dropped (search error: %v)", err)
	}
	// A new connection starts over and reads everything.
	got, _ := pagedSearch(t, f.dial(t, RoleController), f.srv.Store().DomainDN(), "(objectClass=computer)", []string{"cn"}, 1000)
	if len(got) != 2500 {
		t.Fatalf("after reconnect: %d entries", len(got))
	}
}

func TestUnknownCookieIsRefused(t *testing.T) {
	f := newFixture(t, 3, Config{})
	c := f.dial(t, RoleController)
	ctl := ldap.NewControlPaging(1)
	ctl.SetCookie([]byte("forged"))
	_, err := c.Search(ldap.NewSearchRequest(f.srv.Store().DomainDN(), 2, 0, 0, 0, false, "(objectClass=computer)", nil, []ldap.Control{ctl}))
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultUnwillingToPerform) {
		t.Fatalf("err = %v", err)
	}
}

// BenchmarkSnapshot measures one full paged pass as the AD backend makes it (page 1000) and
// reports round trips per pass.
func BenchmarkSnapshot(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			srv, err := Start(context.Background(), Config{})
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			for i := range n {
				if _, err := srv.Store().AddComputer(Computer{Name: fmt.Sprintf("PC-%06d", i)}); err != nil {
					b.Fatal(err)
				}
			}
			c, err := ldap.DialURL(srv.URL())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			cr := srv.Credentials(RoleController)
			if err := c.Bind(cr.DN, cr.Password); err != nil {
				b.Fatal(err)
			}
			attrs := []string{"objectGUID", "objectSid", "cn", "sAMAccountName", "dNSHostName", "userAccountControl",
				"uSNChanged", AttrPasswordExpirationTime, AttrCurrentPasswordVersion, AttrLegacyExpirationTime, "replPropertyMetaData"}
			srv.ResetStats()
			b.ResetTimer()
			for range b.N {
				ctl := ldap.NewControlPaging(1000)
				req := ldap.NewSearchRequest(srv.Store().DomainDN(), 2, 0, 0, 0, false, "(objectClass=computer)", attrs, []ldap.Control{ctl})
				got := 0
				for {
					res, err := c.Search(req)
					if err != nil {
						b.Fatal(err)
					}
					got += len(res.Entries)
					p := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
					if len(p.Cookie) == 0 {
						break
					}
					ctl.SetCookie(p.Cookie)
				}
				if got != n {
					b.Fatalf("got %d entries", got)
				}
			}
			b.ReportMetric(float64(srv.Stats().Searches)/float64(b.N), "roundtrips/pass")
		})
	}
}

func TestAbandonedPagedSearchesAreBounded(t *testing.T) {
	f := newFixture(t, 5, Config{})
	c := f.dial(t, RoleController)
	var first []byte
	for i := range maxPagedResultsPerConn + 1 {
		res, err := c.Search(ldap.NewSearchRequest(f.srv.Store().DomainDN(), 2, 0, 0, 0, false, "(objectClass=computer)", []string{"1.1"},
			[]ldap.Control{ldap.NewControlPaging(1)}))
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging).Cookie
		}
	}
	ctl := ldap.NewControlPaging(1)
	ctl.SetCookie(first)
	if _, err := c.Search(ldap.NewSearchRequest(f.srv.Store().DomainDN(), 2, 0, 0, 0, false, "(objectClass=computer)", []string{"1.1"},
		[]ldap.Control{ctl})); !ldap.IsErrorWithCode(err, ldap.LDAPResultUnwillingToPerform) {
		t.Fatalf("oldest abandoned search still open: %v", err)
	}
	f.srv.mu.Lock()
	n := len(f.srv.pages)
	f.srv.mu.Unlock()
	if n != maxPagedResultsPerConn {
		t.Fatalf("%d open paged searches", n)
	}
}
