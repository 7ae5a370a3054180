package dirsync

import (
	"errors"
	"testing"
	"time"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/directory"
)

func TestResolve(t *testing.T) {
	const (
		guid  = "0b7a7e55-1111-4222-8333-444455556666"
		other = "0b7a7e55-9999-4222-8333-444455556666"
		pcDN  = "CN=PC1,OU=Workstations,DC=corp,DC=example"
	)
	s := NewStore()
	ad := func(dn, g string) lapsv1.DeviceIdentity {
		return lapsv1.DeviceIdentity{ActiveDirectory: &lapsv1.ActiveDirectoryIdentity{DistinguishedName: dn, ObjectGUID: g}}
	}
	if _, err := s.Resolve("corp", ad(pcDN, guid)); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("before the first snapshot: %v", err)
	}
	s.Put("corp", &directory.Snapshot{Taken: time.Unix(1, 0), Devices: map[string]directory.DeviceRecord{
		guid: {Key: guid, ObjectGUID: guid, DistinguishedName: pcDN, Source: directory.SourceLegacy},
	}})
	cases := map[string]struct {
		id     lapsv1.DeviceIdentity
		reason string
	}{
		"GUID and DN agree":                  {id: ad(pcDN, guid)},
		"DN differs only in case and spaces": {id: ad("cn=pc1, ou=WORKSTATIONS, dc=corp, dc=example", guid)},
		"DN only, found in the snapshot":     {id: ad(pcDN, "")},
		"the spec's DN points elsewhere":     {id: ad("CN=DC1,OU=Domain Controllers,DC=corp,DC=example", guid), reason: "IdentityMismatch"},
		"a look-alike OU is another DN":      {id: ad("CN=PC1,OU=Old-OU=Workstations,DC=corp,DC=example", guid), reason: "IdentityMismatch"},
		"GUID not in the snapshot":           {id: ad(pcDN, other), reason: "NotInDirectory"},
		"DN-only outside the search bases":   {id: ad("CN=DC1,OU=Domain Controllers,DC=corp,DC=example", ""), reason: "NotInDirectory"},
		"no identity":                        {id: lapsv1.DeviceIdentity{}, reason: "NotInDirectory"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			rec, err := s.Resolve("corp", tc.id)
			if got := ResolveReason(err); got != tc.reason {
				t.Fatalf("reason %q (%v), want %q", got, err, tc.reason)
			}
			if tc.reason != "" {
				return
			}
			ref := TargetOf(rec)
			if ref.DistinguishedName != pcDN || ref.Key != guid || !ref.Legacy {
				t.Fatalf("target %+v: must be the snapshot's record", ref)
			}
		})
	}
	if _, err := s.Resolve("other", ad(pcDN, guid)); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("another connection's snapshot must not resolve: %v", err)
	}
}

func TestResolve_entra(t *testing.T) {
	const id, md = "11111111-2222-4333-8444-555566667777", "aaaaaaaa-2222-4333-8444-555566667777"
	s := NewStore()
	s.Put("cloud", &directory.Snapshot{Devices: map[string]directory.DeviceRecord{id: {Key: id, DeviceID: id, ManagedDeviceID: md}}})
	ok := lapsv1.DeviceIdentity{EntraID: &lapsv1.EntraIDIdentity{DeviceID: id}}
	if rec, err := s.Resolve("cloud", ok); err != nil || TargetOf(rec).ManagedDeviceID != md {
		t.Fatalf("%+v %v", rec, err)
	}
	bad := lapsv1.DeviceIdentity{EntraID: &lapsv1.EntraIDIdentity{DeviceID: id, ManagedDeviceID: "bbbbbbbb-2222-4333-8444-555566667777"}}
	if _, err := s.Resolve("cloud", bad); !errors.Is(err, ErrIdentityMismatch) {
		t.Fatalf("%v", err)
	}
}

func TestInSearchBase_isStructural(t *testing.T) {
	if InSearchBase("CN=PC1,OU=Old-OU=Workstations,DC=corp", "OU=Workstations,DC=corp") {
		t.Fatal("a string suffix is not a parent OU")
	}
	if !InSearchBase("CN=PC1,ou=workstations,DC=corp", "OU=Workstations,DC=corp") || !InSearchBase("x", "") {
		t.Fatal("case-folded ancestor / empty base")
	}
}
