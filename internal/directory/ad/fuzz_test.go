package ad

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/fleetlaps/fleetlaps/internal/adsyntax"
	"github.com/fleetlaps/fleetlaps/internal/directory"
)

// FuzzParseEntry turns arbitrary attribute values (as a directory could return them) into a
// device record: it never panics, every record has a key, and a value that could not be parsed
// is reported in BadData rather than half-set.
func FuzzParseEntry(f *testing.F) {
	guid := []byte{0x78, 0x56, 0x34, 0x12, 0x34, 0x12, 0x34, 0x12, 0x12, 0x34, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc}
	meta := replMetaBlob(attrMetadata{AttID: 0x81470001, Version: 1, Changed: time.Date(2026, 11, 25, 15, 30, 37, 0, time.UTC), USN: 7})
	f.Add("CN=pc1,OU=Workstations,DC=corp,DC=example", guid, []byte{1, 1, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0}, "4096", "1234", "134405569800000000", guid, "", meta)
	f.Add("CN=dc1,OU=Domain Controllers,DC=corp", []byte{1, 2, 3}, []byte{}, "532480", "x", "-5", []byte{9}, "9223372036854775807", []byte{1, 0, 0, 0})
	f.Add("", []byte{}, []byte{1}, "", "", "0", []byte{}, "-0", []byte{})
	d := &Directory{cfg: Config{Name: "corp"}, schema: &schemaInfo{present: map[string]bool{}, sourceByAttID: map[uint32]directory.PasswordSource{
		0x81470001: directory.SourceEncrypted, 0x81470002: directory.SourceCleartext,
	}}}
	f.Fuzz(func(t *testing.T, dn string, guid, sid []byte, uac, usn, expiry string, version []byte, legacy string, meta []byte) {
		e := &ldap.Entry{DN: dn}
		add := func(name string, v []byte) {
			if len(v) > 0 {
				e.Attributes = append(e.Attributes, &ldap.EntryAttribute{Name: name, Values: []string{string(v)}, ByteValues: [][]byte{v}})
			}
		}
		add(attrObjectGUID, guid)
		add(attrObjectSID, sid)
		add(attrUserAccountControl, []byte(uac))
		add(attrUSNChanged, []byte(usn))
		add(attrExpiration, []byte(expiry))
		add(attrPasswordVersion, version)
		add(attrLegacyExpiration, []byte(legacy))
		add(attrReplMetadata, meta)
		rec := d.parseEntry(e)
		if rec.Key == "" {
			t.Fatal("record without a key")
		}
		bad := strings.Join(rec.BadData, "\n")
		if _, err := adsyntax.ParseGUID(guid); err != nil {
			if rec.ObjectGUID != "" || !strings.Contains(bad, attrObjectGUID) {
				t.Fatalf("bad objectGUID not reported: %+v", rec)
			}
		} else if rec.ObjectGUID == "" || rec.Key != rec.ObjectGUID {
			t.Fatalf("good objectGUID not used: %+v", rec)
		}
		if expiry != "" {
			if _, err := adsyntax.ParseFiletime(expiry); err != nil && !strings.Contains(bad, attrExpiration) {
				t.Fatalf("bad expiry %q not reported: %+v", expiry, rec)
			}
		}
		if rec.PasswordNeverExpires && !rec.PasswordExpirationTime.IsZero() {
			t.Fatalf("never-expiring record with an expiry: %+v", rec)
		}
	})
}

// FuzzOpenFromSettings decodes arbitrary connection settings of the --directories file: no
// panic, and a connection that opens has a configuration that validates.
func FuzzOpenFromSettings(f *testing.F) {
	dir := f.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "password"), []byte("secret\n"), 0o600); err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"urls":["ldaps://dc1.corp.example:636"],"bindDN":"CN=svc,DC=corp"}`))
	f.Add([]byte(`{"urls":["ldap://dc1:389"],"startTLS":true,"bindDN":"CN=svc","timeout":"5s","pageSize":500}`))
	f.Add([]byte(`{"urls":["ldap://dc1:389","ldaps://dc2:636"],"insecureNoTLS":true,"bindDN":"x","fullResyncInterval":"-1h"}`))
	f.Add([]byte(`{"urls":[":::"],"bindPassword":"x"}`))
	f.Add([]byte(`{"urls":["ldaps://dc1"],"bindDN":"x","caPEM":"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		d, err := OpenFromSettings("corp", json.RawMessage(raw), dir)
		if err != nil {
			if d != nil {
				t.Fatal("a directory returned with an error")
			}
			if !strings.Contains(err.Error(), "corp") {
				t.Fatalf("error does not name the connection: %v", err)
			}
			return
		}
		ad := d.(*Directory)
		if verr := ad.cfg.Validate(); verr != nil {
			t.Fatalf("opened with an invalid configuration: %v", verr)
		}
		_ = d.Close()
	})
}
