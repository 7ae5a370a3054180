package ad

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetlaps/fleetlaps/internal/directory"
)

func TestSearchAttributesExcludePasswordAttributes(t *testing.T) {
	if err := checkAllowList(searchAttributes); err != nil {
		t.Fatal(err)
	}
	lower := strings.ToLower(strings.Join(searchAttributes, " "))
	for _, a := range deniedAttributes {
		for _, s := range searchAttributes {
			if strings.EqualFold(s, a.Name) {
				t.Errorf("allow-list contains %s", a.Name)
			}
		}
		for _, variant := range []string{a.Name, strings.ToUpper(a.Name), a.Name + ";binary", " " + a.Name} {
			if checkAllowList([]string{variant}) == nil {
				t.Errorf("checkAllowList accepts %q", variant)
			}
		}
	}
	for _, bad := range []string{"*", "+", "msLAPS-*", "msLAPS-EncryptedDSRMPasswordHistoryNext", "msLAPS-EncryptedPasswordX"} {
		if checkAllowList([]string{bad}) == nil {
			t.Errorf("checkAllowList accepts %q", bad)
		}
	}
	if strings.Contains(lower, "admpwd ") || strings.HasSuffix(lower, "admpwd") {
		t.Errorf("allow-list names the legacy password: %v", searchAttributes)
	}
	// The deny-list covers every password attribute of LAPS-REFERENCE.md §1.
	want := []string{"msLAPS-Password", "msLAPS-EncryptedPassword", "msLAPS-EncryptedPasswordHistory",
		"msLAPS-EncryptedDSRMPassword", "msLAPS-EncryptedDSRMPasswordHistory", "ms-Mcs-AdmPwd"}
	for _, w := range want {
		if checkAllowList([]string{w}) == nil {
			t.Errorf("deny-list misses %s", w)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	_ = os.WriteFile(pw, []byte("secret\n"), 0o600)
	ca := filepath.Join(dir, "ca.pem")
	_ = os.WriteFile(ca, []byte("not a cert"), 0o600)
	good := Config{Name: "corp", URLs: []string{"ldaps://dc1.corp.example:636"}, BindDN: "CN=svc,DC=corp", PasswordFile: pw}
	cases := map[string]struct {
		mut       func(*Config)
		wantField string
	}{
		"should accept ldaps":                          {mut: func(*Config) {}},
		"should accept ldap with StartTLS":             {mut: func(c *Config) { c.URLs, c.StartTLS = []string{"ldap://dc1:389"}, true }},
		"should accept plain ldap marked insecure":     {mut: func(c *Config) { c.URLs, c.InsecureNoTLS = []string{"ldap://dc1:389"}, true }},
		"should reject plain ldap without TLS":         {mut: func(c *Config) { c.URLs = []string{"ldap://dc1:389"} }, wantField: "urls[0]"},
		"should reject no URL":                         {mut: func(c *Config) { c.URLs = nil }, wantField: "urls"},
		"should reject another scheme":                 {mut: func(c *Config) { c.URLs = []string{"https://dc1"} }, wantField: "urls[0]"},
		"should reject StartTLS on ldaps":              {mut: func(c *Config) { c.StartTLS = true }, wantField: "startTLS"},
		"should reject insecureNoTLS with StartTLS":    {mut: func(c *Config) { c.URLs, c.StartTLS, c.InsecureNoTLS = []string{"ldap://dc1"}, true, true }, wantField: "insecureNoTLS"},
		"should reject a missing bind DN":              {mut: func(c *Config) { c.BindDN = "" }, wantField: "bindDN"},
		"should reject a missing password file":        {mut: func(c *Config) { c.PasswordFile = filepath.Join(dir, "nope") }, wantField: "passwordFile"},
		"should reject an unset password file":         {mut: func(c *Config) { c.PasswordFile = "" }, wantField: "passwordFile"},
		"should reject a CA file without certificates": {mut: func(c *Config) { c.CAFile = ca }, wantField: "caFile"},
		"should reject caPEM without certificates":     {mut: func(c *Config) { c.CAPEM = "x" }, wantField: "caPEM"},
		"should reject a negative page size":           {mut: func(c *Config) { c.PageSize = -1 }, wantField: "pageSize"},
		"should reject an empty search base":           {mut: func(c *Config) { c.SearchBases = []string{""} }, wantField: "searchBases[0]"},
		"should reject a missing name":                 {mut: func(c *Config) { c.Name = "" }, wantField: "name"},
		"should reject a negative timeout":             {mut: func(c *Config) { c.Timeout = Duration{-time.Second} }, wantField: "timeout"},
		"should reject ldaps and ldap URLs mixed": {mut: func(c *Config) {
			c.URLs, c.InsecureNoTLS = []string{"ldaps://dc1:636", "ldap://dc2:389"}, true
		}, wantField: "urls"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := good
			tc.mut(&c)
			err := c.Validate()
			if tc.wantField == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantField+":") {
				t.Fatalf("error %v should name %s", err, tc.wantField)
			}
			if _, nerr := New(c, Options{}); directory.KindOf(nerr) != directory.ErrInvalidConfig {
				t.Fatalf("New: %v, want ErrInvalidConfig", nerr)
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ad.yaml")
	_ = os.WriteFile(p, []byte(`name: corp
urls: [ldaps://dc1.corp.example:636, ldaps://dc2.corp.example:636]
caFile: /etc/fleetlaps/ca.pem
bindDN: CN=fleetlaps,OU=Service,DC=corp,DC=example
passwordFile: /var/run/secrets/fleetlaps/ad/password
searchBases: ["OU=Workstations,DC=corp,DC=example"]
pageSize: 500
timeout: 45s
`), 0o600)
	c, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "corp" || len(c.URLs) != 2 || c.PageSize != 500 || c.Timeout.Duration != 45*time.Second || c.SearchBases[0] != "OU=Workstations,DC=corp,DC=example" {
		t.Fatalf("%+v", c)
	}
	if d := (Config{}).WithDefaults(); d.PageSize != DefaultPageSize || d.Timeout.Duration != DefaultTimeout {
		t.Fatalf("defaults: %+v", d)
	}
	_ = os.WriteFile(p, []byte("name: x\nbindPassword: nope\n"), 0o600)
	if _, err := LoadConfig(p); err == nil {
		t.Fatal("unknown fields (a bind password in the config file) must be rejected")
	}
}

func TestSameRecordIgnoresUSN(t *testing.T) {
	a := directory.DeviceRecord{Key: "k", USNChanged: 1, BadData: []string{"x"}}
	b := a
	b.USNChanged = 2
	if !sameRecord(a, b) {
		t.Fatal("a USN change alone is not a change")
	}
	b.CurrentPasswordVersion = "v"
	if sameRecord(a, b) {
		t.Fatal("a version change is a change")
	}
}

func TestApplyMetadataPicksTheLatestPasswordAttribute(t *testing.T) {
	const cleartext, encrypted, legacy, other = 0x80000001, 0x80000002, 0x80000003, 0x80000009
	d := &Directory{schema: &schemaInfo{sourceByAttID: map[uint32]directory.PasswordSource{
		cleartext: directory.SourceCleartext, encrypted: directory.SourceEncrypted, legacy: directory.SourceLegacy,
	}}}
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	cases := map[string]struct {
		md       []attrMetadata
		want     directory.PasswordSource
		wantTime time.Time
	}{
		"should take the only password attribute": {md: []attrMetadata{{AttID: cleartext, Changed: t0}}, want: directory.SourceCleartext, wantTime: t0},
		"should take the most recently changed one": {md: []attrMetadata{
			{AttID: encrypted, Changed: t0}, {AttID: cleartext, Changed: t0.Add(time.Hour)},
		}, want: directory.SourceCleartext, wantTime: t0.Add(time.Hour)},
		"should prefer encrypted when changed in the same second": {md: []attrMetadata{
			{AttID: cleartext, Changed: t0}, {AttID: encrypted, Changed: t0}, {AttID: legacy, Changed: t0},
		}, want: directory.SourceEncrypted, wantTime: t0},
		"should ignore other attributes":                            {md: []attrMetadata{{AttID: other, Changed: t0.Add(time.Hour)}, {AttID: legacy, Changed: t0}}, want: directory.SourceLegacy, wantTime: t0},
		"should leave the source unknown without password metadata": {md: []attrMetadata{{AttID: other, Changed: t0}}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var rec directory.DeviceRecord
			d.applyMetadata(&rec, tc.md)
			if rec.Source != tc.want || !rec.PasswordUpdateTime.Equal(tc.wantTime) {
				t.Fatalf("got %q at %v, want %q at %v", rec.Source, rec.PasswordUpdateTime, tc.want, tc.wantTime)
			}
			if tc.want != "" && rec.UpdateTimeSource != directory.UpdateTimeReplicationMetadata {
				t.Fatalf("update time source %q", rec.UpdateTimeSource)
			}
		})
	}
}
