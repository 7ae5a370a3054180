package dirsync

import (
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/directory"
)

// TestStore_packedLookups puts a snapshot with every kind of record the store packs or keeps
// whole, then finds each by GUID (any case), by DN (any case) and by key, as it was put.
func TestStore_packedLookups(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	devices := map[string]directory.DeviceRecord{}
	for i := range 1000 {
		g := fmt.Sprintf("%08x-0000-4000-8000-%012x", i*7919, i)
		devices[g] = directory.DeviceRecord{
			Key: g, ObjectGUID: g, Name: fmt.Sprintf("PC%04d", i),
			DistinguishedName:      fmt.Sprintf("CN=PC%04d,OU=Site%d,DC=corp,DC=example", i, i%3),
			PasswordUpdateTime:     t0.Add(time.Duration(i) * time.Minute),
			PasswordExpirationTime: t0.Add(720 * time.Hour), Source: directory.SourceEncrypted, USNChanged: int64(i),
		}
	}
	odd := map[string]directory.DeviceRecord{
		// A key that is not a canonical GUID, and a record Compact refuses (year 3000).
		"legacy-key": {Key: "legacy-key", Name: "OLD", DistinguishedName: "CN=OLD,OU=Site0,DC=corp,DC=example"},
		"ffffffff-0000-4000-8000-000000000000": {Key: "ffffffff-0000-4000-8000-000000000000", ObjectGUID: "ffffffff-0000-4000-8000-000000000000",
			DistinguishedName: "CN=FAR,OU=Site1,DC=corp,DC=example", PasswordExpirationTime: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)},
		// Two records with one DN (a rename race inside one pass): either answers.
		"eeeeeeee-0000-4000-8000-000000000001": {Key: "eeeeeeee-0000-4000-8000-000000000001", DistinguishedName: "CN=TWIN,DC=corp,DC=example"},
		"eeeeeeee-0000-4000-8000-000000000002": {Key: "eeeeeeee-0000-4000-8000-000000000002", DistinguishedName: "CN=TWIN,DC=corp,DC=example"},
	}
	for k, r := range odd {
		devices[k] = r
	}
	s := NewStore()
	s.Put("corp", &directory.Snapshot{Directory: "corp", Taken: t0, Full: true, Devices: devices})
	if st, _ := s.State("corp"); !st.Loaded || st.Devices != len(devices) || !st.LastSuccess.Equal(t0) {
		t.Fatalf("state %+v", st)
	}
	for k, want := range devices {
		got, ok := s.Record("corp", k)
		if !ok || !reflect.DeepEqual(got, want) {
			t.Fatalf("Record(%s) = %+v %v, want %+v", k, got, ok, want)
		}
		if want.DistinguishedName == "CN=TWIN,DC=corp,DC=example" {
			continue
		}
		byGUID, ok := s.Lookup("corp", lapsv1.DeviceIdentity{ActiveDirectory: &lapsv1.ActiveDirectoryIdentity{ObjectGUID: strings.ToUpper(k)}})
		if !ok || !reflect.DeepEqual(byGUID, want) {
			t.Fatalf("Lookup by GUID %s = %+v %v", k, byGUID, ok)
		}
		byDN, ok := s.Lookup("corp", lapsv1.DeviceIdentity{ActiveDirectory: &lapsv1.ActiveDirectoryIdentity{DistinguishedName: strings.ToLower(want.DistinguishedName)}})
		if !ok || !reflect.DeepEqual(byDN, want) {
			t.Fatalf("Lookup by DN %s = %+v %v", want.DistinguishedName, byDN, ok)
		}
	}
	twin, ok := s.Lookup("corp", lapsv1.DeviceIdentity{ActiveDirectory: &lapsv1.ActiveDirectoryIdentity{DistinguishedName: "cn=twin,dc=corp,dc=example"}})
	if !ok || !strings.HasPrefix(twin.Key, "eeeeeeee-") {
		t.Fatalf("Lookup of a DN two records share = %+v %v", twin, ok)
	}
	for _, id := range []lapsv1.DeviceIdentity{
		{ActiveDirectory: &lapsv1.ActiveDirectoryIdentity{ObjectGUID: "00000000-0000-4000-8000-999999999999"}},
		{ActiveDirectory: &lapsv1.ActiveDirectoryIdentity{DistinguishedName: "CN=NOPE,OU=Site0,DC=corp,DC=example"}},
		{EntraID: &lapsv1.EntraIDIdentity{DeviceID: "legacy-key2"}},
		{},
	} {
		if r, ok := s.Lookup("corp", id); ok {
			t.Fatalf("Lookup(%+v) found %+v", id, r)
		}
	}
	if _, ok := s.Lookup("other", lapsv1.DeviceIdentity{EntraID: &lapsv1.EntraIDIdentity{DeviceID: "legacy-key"}}); ok {
		t.Fatal("a directory without a snapshot answered")
	}
	if r, ok := s.Lookup("corp", lapsv1.DeviceIdentity{EntraID: &lapsv1.EntraIDIdentity{DeviceID: "LEGACY-KEY"}}); !ok || r.Name != "OLD" {
		t.Fatalf("Lookup by device id = %+v %v", r, ok)
	}
}

// BenchmarkStorePut100k packs a snapshot of 100,000 devices and reports what the store keeps.
func BenchmarkStorePut100k(b *testing.B) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	devices := make(map[string]directory.DeviceRecord, 100_000)
	for i := range 100_000 {
		g := fmt.Sprintf("%08x-0000-4000-8000-%012x", i*7919, i)
		devices[g] = directory.DeviceRecord{
			Key: g, ObjectGUID: g, Name: fmt.Sprintf("PC-%06d", i), SAMAccountName: fmt.Sprintf("PC-%06d$", i),
			DNSHostName:            fmt.Sprintf("pc-%06d.corp.example", i),
			ObjectSID:              fmt.Sprintf("S-1-5-21-3623811015-3361044348-30300820-%d", 1100+i),
			DistinguishedName:      fmt.Sprintf("CN=PC-%06d,OU=Site%d,OU=Workstations,DC=corp,DC=example", i, i%50),
			PasswordUpdateTime:     t0.Add(time.Duration(i) * time.Second),
			PasswordExpirationTime: t0.Add(720 * time.Hour), UpdateTimeSource: directory.UpdateTimeReplicationMetadata,
			CurrentPasswordVersion: g, Source: directory.SourceEncrypted, USNChanged: int64(i),
		}
	}
	snap := &directory.Snapshot{Directory: "corp", Taken: t0, Full: true, Devices: devices}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		before := heapInUse()
		b.StartTimer()
		s := NewStore()
		s.Put("corp", snap)
		b.StopTimer()
		b.ReportMetric((float64(heapInUse())-float64(before))/100_000, "storeB/device")
		runtime.KeepAlive(s)
		b.StartTimer()
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}
