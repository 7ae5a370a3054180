package dirsync

import (
	"errors"
	"fmt"
	"strings"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/dn"
)

// Errors of Resolve; test with errors.Is. Each is also the condition reason.
var (
	// ErrNoSnapshot: the connection has no snapshot yet; wait for the first sync pass.
	ErrNoSnapshot = errors.New("WaitingForSnapshot")
	// ErrNotInDirectory: the connection's snapshot (its search bases) has no such device.
	ErrNotInDirectory = errors.New("NotInDirectory")
	// ErrIdentityMismatch: the snapshot's record for the device's objectGUID (or deviceId)
	// disagrees with the spec's distinguished name (or managed device id).
	ErrIdentityMismatch = errors.New("IdentityMismatch")
)

// Resolve returns the write target of a device: the record the connection's own latest snapshot
// holds for the identity's objectGUID (Entra: deviceId), or for its DN when the spec names no
// GUID. A ManagedDevice's identity is namespace input; the snapshot holds only objects the
// connection's search bases contain, so writing to the record's DN (never the spec's) keeps a
// namespace from steering writes to any other object the service account may write.
func (s *Store) Resolve(dir string, id lapsv1.DeviceIdentity) (directory.DeviceRecord, error) {
	if s.recordsOf(dir) == nil {
		return directory.DeviceRecord{}, fmt.Errorf("%w: directory %q has not been read yet", ErrNoSnapshot, dir)
	}
	switch {
	case id.ActiveDirectory != nil:
		ad := id.ActiveDirectory
		rec, found := s.Lookup(dir, id)
		if !found {
			what := "distinguished name " + ad.DistinguishedName
			if ad.ObjectGUID != "" {
				what = "objectGUID " + strings.ToLower(ad.ObjectGUID)
			}
			return directory.DeviceRecord{}, fmt.Errorf("%w: directory %q has no computer with %s under its search bases", ErrNotInDirectory, dir, what)
		}
		if !dn.Equal(rec.DistinguishedName, ad.DistinguishedName) {
			return directory.DeviceRecord{}, fmt.Errorf("%w: the computer with objectGUID %s is %q in directory %q, not %q as spec.identity.activeDirectory.distinguishedName says; correct the spec (a moved or renamed computer keeps its objectGUID)",
				ErrIdentityMismatch, rec.Key, rec.DistinguishedName, dir, ad.DistinguishedName)
		}
		return rec, nil
	case id.EntraID != nil:
		rec, found := s.Lookup(dir, id)
		if !found {
			return directory.DeviceRecord{}, fmt.Errorf("%w: directory %q has no device with deviceId %s", ErrNotInDirectory, dir, strings.ToLower(id.EntraID.DeviceID))
		}
		if m := id.EntraID.ManagedDeviceID; m != "" && rec.ManagedDeviceID != "" && !strings.EqualFold(m, rec.ManagedDeviceID) {
			return directory.DeviceRecord{}, fmt.Errorf("%w: the device with deviceId %s has managed device id %s in directory %q, not %s as the spec says",
				ErrIdentityMismatch, rec.Key, rec.ManagedDeviceID, dir, m)
		}
		return rec, nil
	}
	return directory.DeviceRecord{}, fmt.Errorf("%w: the device names no identity", ErrNotInDirectory)
}

// ResolveReason maps a Resolve error to its condition reason ("" for nil).
func ResolveReason(err error) string {
	for _, e := range []error{ErrNoSnapshot, ErrNotInDirectory, ErrIdentityMismatch} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return ""
}

// TargetOf is the DeviceRef of a resolved record: every field comes from the directory.
func TargetOf(rec directory.DeviceRecord) directory.DeviceRef {
	return directory.DeviceRef{
		Key: rec.Key, DistinguishedName: rec.DistinguishedName, ManagedDeviceID: rec.ManagedDeviceID,
		Legacy: rec.Legacy(),
	}
}
