package ldapserver

import (
	"net"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

func testEntry(t *testing.T) (*Store, *Entry) {
	t.Helper()
	st := NewStore(StoreConfig{Seed: 1})
	dn, err := st.AddComputer(Computer{Name: "PC1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Modify(Identity{Role: RoleDevice}, dn, []Change{
		{Op: ModReplace, Attr: AttrPasswordExpirationTime, Vals: []string{"133000000000000000"}},
		{Op: ModReplace, Attr: AttrEncryptedPassword, Vals: []string{"\x00\x01opaque"}},
		{Op: ModAdd, Attr: AttrEncryptedPasswordHistory, Vals: []string{"h1", "h2"}},
	}); err != nil {
		t.Fatal(err)
	}
	return st, st.entries[normalizeDN(dn)]
}

func TestFilterEvaluation(t *testing.T) {
	_, e := testEntry(t)
	ctrl := Identity{Role: RoleController}
	dev := Identity{Role: RoleDevice}
	for _, tc := range []struct {
		filter string
		id     Identity
		want   bool
	}{
		{"(objectClass=computer)", ctrl, true},
		{"(objectclass=COMPUTER)", ctrl, true},
		{"(objectClass=group)", ctrl, false},
		{"(&(objectClass=computer)(cn=pc1))", ctrl, true},
		{"(|(cn=nope)(sAMAccountName=PC1$))", ctrl, true},
		{"(!(cn=pc1))", ctrl, false},
		{"(cn=p*)", ctrl, true},
		{"(cn=*c*)", ctrl, true},
		{"(cn=*1)", ctrl, true},
		{"(cn=x*)", ctrl, false},
		{"(" + AttrPasswordExpirationTime + ">=132999999999999999)", ctrl, true},
		{"(" + AttrPasswordExpirationTime + "<=132999999999999999)", ctrl, false},
		{"(" + AttrPasswordExpirationTime + ">=notanumber)", ctrl, false},
		{"(!(" + AttrPasswordExpirationTime + ">=notanumber))", ctrl, false}, // Undefined stays Undefined under NOT
		{"(uSNChanged>=1)", ctrl, true},
		{"(" + AttrEncryptedPassword + "=*)", ctrl, false},
		{"(" + AttrEncryptedPassword + "=*)", dev, true},
		{"(" + AttrEncryptedPasswordHistory + "=h2)", dev, true},
		{"(" + AttrCurrentPasswordVersion + "=*)", ctrl, false},
		{"(userAccountControl:1.2.840.113556.1.4.803:=4096)", ctrl, true},
		{"(userAccountControl:1.2.840.113556.1.4.803:=8192)", ctrl, false},
		{"(userAccountControl:1.2.840.113556.1.4.804:=12288)", ctrl, true},
		{"(cn:caseExactMatch:=PC1)", ctrl, false},
		{"(objectCategory=computer)", ctrl, true},
		{"(objectCategory=person)", ctrl, false},
		{"(description=*)", ctrl, false},
		{"", ctrl, true},
	} {
		f, err := compileFilter(tc.filter)
		if err != nil {
			t.Fatalf("%s: %v", tc.filter, err)
		}
		if got := match(f, e, tc.id); got != tc.want {
			t.Errorf("%s as %s: %v, want %v", tc.filter, tc.id.Role, got, tc.want)
		}
	}
}

var garbageFilters = []string{
	"(", ")", "((", "(&", "(|(cn=a)", "(cn=a))", "(!)", "(!(cn=a)(cn=b))", "cn=a", "(=a)", "(cn>=)",
	"(cn=\\zz)", "(cn=\\", "(&(&(&(&(&(&(&(&(&(&(cn=a))))))))))", "(cn:=)", "(:1.2.3:=x)", "(cn~=a)",
	"(\x00=\x00)", "(cn=*****)", "(userAccountControl:1.2.840.113556.1.4.803:=-1)", "(userAccountControl:1.2.840.113556.1.4.803:=)",
	"(uSNChanged>=99999999999999999999999)", "(objectGUID=\\00\\ff)",
}

func TestGarbageFiltersNeverPanic(t *testing.T) {
	_, e := testEntry(t)
	for _, s := range garbageFilters {
		f, err := compileFilter(s)
		if err != nil {
			continue
		}
		_ = match(f, e, Identity{Role: RoleController})
	}
}

func FuzzFilter(f *testing.F) {
	for _, s := range garbageFilters {
		f.Add(s)
	}
	f.Add("(&(objectClass=computer)(uSNChanged>=42))")
	st := NewStore(StoreConfig{Seed: 1})
	dn, _ := st.AddComputer(Computer{Name: "PC1"})
	e := st.entries[normalizeDN(dn)]
	f.Fuzz(func(t *testing.T, s string) {
		p, err := compileFilter(s)
		if err != nil {
			return
		}
		_ = match(p, e, Identity{Role: RoleController})
	})
}

func TestMalformedRequestsDoNotStopTheServer(t *testing.T) {
	f := newFixture(t, 2, Config{})
	for _, junk := range [][]byte{
		{0x30, 0x84, 0xff, 0xff, 0xff, 0xff},
		{0x30, 0x05, 0x02, 0x01, 0x01, 0x63, 0x00},                                           // search request with no body
		{0x30, 0x0c, 0x02, 0x01, 0x02, 0x66, 0x07, 0x04, 0x00, 0x30, 0x03, 0x30, 0x01, 0x0a}, // truncated modify
		[]byte("GET / HTTP/1.1\r\n\r\n"),
	} {
		c, err := net.Dial("tcp", f.srv.URL()[len("ldap://"):])
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write(junk)
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, _ = c.Read(make([]byte, 64))
		_ = c.Close()
	}
	c := f.dial(t, RoleController)
	for _, s := range garbageFilters {
		_, _ = c.Search(ldap.NewSearchRequest(f.srv.Store().DomainDN(), 2, 0, 0, 0, false, s, nil, nil))
	}
	if _, err := c.Search(ldap.NewSearchRequest(f.dns[0], 0, 0, 0, 0, false, "(objectClass=*)", []string{"cn"}, nil)); err != nil {
		t.Fatalf("server unusable after garbage: %v", err)
	}
}

func TestMultiValuedModifyOverLDAP(t *testing.T) {
	f := newFixture(t, 1, Config{})
	dev := f.dial(t, RoleDevice)
	mod := func(fn func(*ldap.ModifyRequest)) error {
		r := ldap.NewModifyRequest(f.dns[0], nil)
		fn(r)
		return dev.Modify(r)
	}
	if err := mod(func(r *ldap.ModifyRequest) { r.Replace(AttrEncryptedPasswordHistory, []string{"a", "b", "c"}) }); err != nil {
		t.Fatal(err)
	}
	if err := mod(func(r *ldap.ModifyRequest) { r.Delete(AttrEncryptedPasswordHistory, []string{"b"}) }); err != nil {
		t.Fatal(err)
	}
	if err := mod(func(r *ldap.ModifyRequest) { r.Add(AttrEncryptedPasswordHistory, []string{"a"}) }); !ldap.IsErrorWithCode(err, ldap.LDAPResultAttributeOrValueExists) {
		t.Fatalf("duplicate add: %v", err)
	}
	if err := mod(func(r *ldap.ModifyRequest) { r.Add(AttrEncryptedPassword, []string{"x", "y"}) }); !ldap.IsErrorWithCode(err, ldap.LDAPResultConstraintViolation) {
		t.Fatalf("two values on a single-valued attribute: %v", err)
	}
	got, _ := f.srv.Store().Read(Identity{Role: RoleDevice}, f.dns[0], AttrEncryptedPasswordHistory)
	if v := got[AttrEncryptedPasswordHistory]; len(v) != 2 || v[0] != "a" || v[1] != "c" {
		t.Fatalf("history = %q", v)
	}
	if err := mod(func(r *ldap.ModifyRequest) { r.Delete(AttrEncryptedPasswordHistory, nil) }); err != nil {
		t.Fatal(err)
	}
	if err := mod(func(r *ldap.ModifyRequest) { r.Delete(AttrEncryptedPasswordHistory, nil) }); !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchAttribute) {
		t.Fatalf("delete of an absent attribute: %v", err)
	}
}
