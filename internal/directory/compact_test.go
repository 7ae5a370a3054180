package directory

import (
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"
)

func sameRecord(a, b DeviceRecord) bool {
	for _, p := range [][2]*time.Time{{&a.PasswordExpirationTime, &b.PasswordExpirationTime}, {&a.PasswordUpdateTime, &b.PasswordUpdateTime}, {&a.LegacyExpirationTime, &b.LegacyExpirationTime}} {
		if !p[0].Equal(*p[1]) || p[0].Location() != p[1].Location() {
			return false
		}
		*p[0], *p[1] = time.Time{}, time.Time{}
	}
	return reflect.DeepEqual(a, b)
}

func TestCompact_roundTrip(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 30, 0, 123456789, time.UTC)
	ad := DeviceRecord{
		Key: "3f2504e0-4f89-11d3-9a0c-0305e82c3301", ObjectGUID: "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
		Name: "PC-0001", DistinguishedName: "CN=PC-0001,OU=Berlin,OU=Workstations,DC=corp,DC=example",
		SAMAccountName: "PC-0001$", DNSHostName: "pc-0001.corp.example", ObjectSID: "S-1-5-21-1-2-3-1105",
		PasswordExpirationTime: t0.Add(720 * time.Hour), PasswordUpdateTime: t0, UpdateTimeSource: UpdateTimeReplicationMetadata,
		CurrentPasswordVersion: "11111111-0000-0000-0000-000000000001", Source: SourceEncrypted, USNChanged: 41234,
	}
	for name, change := range map[string]func(*DeviceRecord){
		"AD record":   func(*DeviceRecord) {},
		"local times": func(r *DeviceRecord) { r.PasswordUpdateTime = t0.Local() },
		"legacy never": func(r *DeviceRecord) {
			r.Source, r.LegacyNeverExpires, r.PasswordExpirationTime = SourceLegacy, true, time.Time{}
		},
		"legacy expiry":            func(r *DeviceRecord) { r.LegacyExpirationTime = t0.Add(time.Hour) },
		"never, domain controller": func(r *DeviceRecord) { r.PasswordNeverExpires, r.DomainController = true, true },
		"storage unknown": func(r *DeviceRecord) {
			r.StorageUnknown, r.Source, r.UpdateTimeSource = true, SourceNone, UpdateTimeUnknown
		},
		"escaped comma in the first RDN":  func(r *DeviceRecord) { r.DistinguishedName = `CN=Smith\, John,OU=Workstations,DC=corp` },
		"escaped comma only":              func(r *DeviceRecord) { r.DistinguishedName = `CN=a\,b` },
		"DN without parent":               func(r *DeviceRecord) { r.DistinguishedName = "DC=corp" },
		"DN ending in a comma":            func(r *DeviceRecord) { r.DistinguishedName = "CN=a," },
		"no DN":                           func(r *DeviceRecord) { r.DistinguishedName = "" },
		"upper-case GUIDs stay text":      func(r *DeviceRecord) { r.Key, r.ObjectGUID = strings.ToUpper(r.Key), strings.ToUpper(r.ObjectGUID) },
		"objectGUID differs from the key": func(r *DeviceRecord) { r.ObjectGUID = "00000000-0000-0000-0000-000000000002" },
		"braced version":                  func(r *DeviceRecord) { r.CurrentPasswordVersion = "{11111111-0000-0000-0000-000000000001}" },
		"bad data": func(r *DeviceRecord) {
			r.BadData = []string{"msLAPS-PasswordExpirationTime: not a number", "objectSid: short"}
		},
		"bad data, empty list": func(r *DeviceRecord) { r.BadData = []string{} },
		"Entra device": func(r *DeviceRecord) {
			*r = DeviceRecord{Key: "6c0b3d86-6a6d-4b1f-9d1e-4d3b5a1c2e7f", DeviceID: "6c0b3d86-6a6d-4b1f-9d1e-4d3b5a1c2e7f", ManagedDeviceID: "m-1",
				Name: "LAPTOP-1", Source: SourceEntraID, UpdateTimeSource: UpdateTimeDirectory, PasswordUpdateTime: t0}
		},
		"key that is not a GUID": func(r *DeviceRecord) { r.Key = "device-7" },
	} {
		r := ad
		change(&r)
		parents := NewParents()
		c, ok := Compact(r, parents)
		if !ok {
			t.Errorf("%s: not compacted", name)
			continue
		}
		if got := c.Expand(parents); !sameRecord(got, r) {
			t.Errorf("%s: round trip\n got %+v\nwant %+v", name, got, r)
		}
		if got := c.Key(); got != r.Key {
			t.Errorf("%s: Key() = %q, want %q", name, got, r.Key)
		}
		if got := c.DistinguishedName(parents); got != r.DistinguishedName {
			t.Errorf("%s: DistinguishedName() = %q, want %q", name, got, r.DistinguishedName)
		}
	}
}

func TestCompact_refusesWhatItCannotGiveBack(t *testing.T) {
	for name, r := range map[string]DeviceRecord{
		"year 3000":             {Key: "k", PasswordExpirationTime: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)},
		"fixed zone":            {Key: "k", PasswordUpdateTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("X", 3600))},
		"unknown source":        {Key: "k", Source: "Plaintext"},
		"unknown time source":   {Key: "k", UpdateTimeSource: "Guess"},
		"text over 64 KiB":      {Key: "k", Name: strings.Repeat("x", 70000)},
		"bad data with a NUL":   {Key: "k", BadData: []string{"a\x00b"}},
		"bad data, empty value": {Key: "k", BadData: []string{""}},
	} {
		if _, ok := Compact(r, NewParents()); ok {
			t.Errorf("%s: compacted a record it cannot give back", name)
		}
	}
}

func TestCompact_sharesParents(t *testing.T) {
	parents := NewParents()
	for _, n := range []string{"CN=A,OU=W,DC=corp", "CN=B,OU=W,DC=corp", "CN=C,OU=S,DC=corp"} {
		if _, ok := Compact(DeviceRecord{Key: n, DistinguishedName: n}, parents); !ok {
			t.Fatal(n)
		}
	}
	if len(parents.list) != 2 {
		t.Fatalf("parents %v, want the two OUs", parents.list)
	}
	if size := unsafe.Sizeof(CompactRecord{}); size > 112 {
		t.Fatalf("CompactRecord is %d bytes, more than its 112-byte size class", size)
	}
}

func FuzzCompact(f *testing.F) {
	f.Add("3f2504e0-4f89-11d3-9a0c-0305e82c3301", "CN=PC,OU=W,DC=corp", "11111111-0000-0000-0000-000000000001", "a\x00b", int64(1e18), true)
	f.Add("K", `CN=x\,y,DC=z`, "", "", int64(-5), false)
	f.Fuzz(func(t *testing.T, key, dn, version, bad string, ns int64, utc bool) {
		tm := time.Unix(0, ns)
		if utc {
			tm = tm.UTC()
		}
		r := DeviceRecord{Key: key, ObjectGUID: key, DistinguishedName: dn, CurrentPasswordVersion: version, PasswordUpdateTime: tm,
			Source: SourceEncrypted}
		if bad != "" {
			r.BadData = strings.Split(bad, "|")
		}
		parents := NewParents()
		c, ok := Compact(r, parents)
		if !ok {
			return
		}
		if got := c.Expand(parents); !sameRecord(got, r) {
			t.Fatalf("round trip\n got %+v\nwant %+v", got, r)
		}
	})
}
