// Package evidence decides whether a directory record proves that a device rotated its password
// after a rotation was requested. A RotationRequest succeeds on evidence, never on a sent call.
package evidence

import (
	"strings"
	"time"

	"github.com/fleetlaps/fleetlaps/internal/directory"
)

// Request is what was recorded when the rotation was requested.
type Request struct {
	// RequestedAt is when the intent was recorded (the expiry the controller wrote).
	RequestedAt time.Time
	// PreviousPasswordVersion is msLAPS-CurrentPasswordVersion at that time ("" unknown).
	PreviousPasswordVersion string
}

// Rotated reports whether rec shows a new password since req, and from when. Two kinds of
// evidence count: an update time the directory itself states (replication metadata of the
// password attribute, Entra's lastBackupDateTime) later than the request, or a password version
// GUID different from the one recorded with the intent. A version change without a later update
// time is dated at the request (the device cannot have rotated for it earlier).
//
// Without a recorded version the stated update time is the only evidence, and one in the
// request's own second counts: requestedAt is stored to the second, and the rotation the write
// causes (the device acts on the expiry set to requestedAt) cannot be dated earlier.
func Rotated(rec directory.DeviceRecord, req Request) (time.Time, bool) {
	if UpdateTimeStated(rec) && (rec.PasswordUpdateTime.After(req.RequestedAt) ||
		(req.PreviousPasswordVersion == "" && rec.PasswordUpdateTime.Equal(req.RequestedAt))) {
		return rec.PasswordUpdateTime, true
	}
	if rec.CurrentPasswordVersion != "" && req.PreviousPasswordVersion != "" && !strings.EqualFold(rec.CurrentPasswordVersion, req.PreviousPasswordVersion) {
		at := rec.PasswordUpdateTime
		if !at.After(req.RequestedAt) {
			at = req.RequestedAt
		}
		return at, true
	}
	return time.Time{}, false
}

// UpdateTimeStated says whether the directory itself states when rec's password was last updated
// (replication metadata of the password attribute, Entra's lastBackupDateTime), rather than the
// time being derived (expiry minus the password age).
func UpdateTimeStated(rec directory.DeviceRecord) bool {
	return rec.UpdateTimeSource == directory.UpdateTimeReplicationMetadata || rec.UpdateTimeSource == directory.UpdateTimeDirectory
}
