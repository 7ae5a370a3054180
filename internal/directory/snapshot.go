package directory

import "time"

// PasswordSource says where the directory keeps the device's current password, as
// Get-LapsADPassword's Source column does. The controller only learns which attribute holds a
// value (or when it changed), never the value.
type PasswordSource string

const (
	SourceNone      PasswordSource = ""
	SourceCleartext PasswordSource = "Cleartext"
	SourceEncrypted PasswordSource = "Encrypted"
	SourceLegacy    PasswordSource = "Legacy"
	SourceEntraID   PasswordSource = "EntraID"
)

// UpdateTimeSource records how PasswordUpdateTime was obtained, because the outer permission
// ring cannot read the password attributes that carry it.
type UpdateTimeSource string

const (
	// UpdateTimeUnknown: no update time could be derived.
	UpdateTimeUnknown UpdateTimeSource = ""
	// UpdateTimeReplicationMetadata: the originating-change time of the password attribute in
	// msDS-ReplAttributeMetaData.
	UpdateTimeReplicationMetadata UpdateTimeSource = "ReplicationMetadata"
	// UpdateTimeDirectory: the directory states it directly (Entra lastBackupDateTime).
	UpdateTimeDirectory UpdateTimeSource = "Directory"
)

// DeviceRecord is the LAPS metadata of one device as its directory shows it.
type DeviceRecord struct {
	// Key is the stable key (see DeviceRef.Key).
	Key string
	// Name is the computer name (AD cn / Entra deviceName).
	Name              string
	DistinguishedName string
	ObjectGUID        string
	SAMAccountName    string
	DNSHostName       string
	ObjectSID         string
	DomainController  bool
	// DeviceID and ManagedDeviceID identify Entra devices.
	DeviceID        string
	ManagedDeviceID string

	// PasswordExpirationTime is msLAPS-PasswordExpirationTime (Entra: refreshDateTime). Zero
	// when not set.
	PasswordExpirationTime time.Time
	// PasswordNeverExpires is set when the directory holds AD's "never" value
	// (0x7FFFFFFFFFFFFFFF).
	PasswordNeverExpires bool
	PasswordUpdateTime   time.Time
	UpdateTimeSource     UpdateTimeSource
	// CurrentPasswordVersion is msLAPS-CurrentPasswordVersion as a GUID string (.NET byte order).
	CurrentPasswordVersion string
	Source                 PasswordSource
	// LegacyExpirationTime is ms-Mcs-AdmPwdExpirationTime for legacy LAPS devices.
	LegacyExpirationTime time.Time
	// LegacyNeverExpires is set when ms-Mcs-AdmPwdExpirationTime holds AD's "never" value.
	LegacyNeverExpires bool
	// StorageUnknown says the backend could not tell which password attributes hold a value
	// (AD: no replication metadata readable, or no attribute ids in the schema): Source and
	// PasswordUpdateTime are then unknown rather than absent.
	StorageUnknown bool
	// USNChanged is the AD update sequence number of the object's last change on the DC read.
	USNChanged int64

	// BadData lists malformed attribute values ("attribute: problem"). The other fields are
	// filled as far as they could be parsed; one device's bad data never fails a snapshot.
	BadData []string
}

// Managed says whether Windows LAPS or legacy LAPS has touched the device: a password or an
// expiry (a "never" expiry included) is in the directory.
func (r *DeviceRecord) Managed() bool {
	return r.Source != SourceNone || !r.PasswordExpirationTime.IsZero() || r.PasswordNeverExpires ||
		!r.LegacyExpirationTime.IsZero() || r.LegacyNeverExpires
}

// Legacy says the device is managed by legacy Microsoft LAPS: its password is in ms-Mcs-AdmPwd,
// or nothing is known about the password and only the legacy expiry is set.
func (r *DeviceRecord) Legacy() bool {
	if r.Source == SourceLegacy {
		return true
	}
	return r.Source == SourceNone && r.PasswordExpirationTime.IsZero() && !r.PasswordNeverExpires &&
		(!r.LegacyExpirationTime.IsZero() || r.LegacyNeverExpires)
}

// Expiry is the expiry that applies to the device's password: the legacy attribute for a legacy
// device that has one, otherwise msLAPS-PasswordExpirationTime. never reports AD's "never"
// value; a zero time without never means the directory holds no expiry.
func (r *DeviceRecord) Expiry() (at time.Time, never bool) {
	if r.Legacy() && (!r.LegacyExpirationTime.IsZero() || r.LegacyNeverExpires) {
		return r.LegacyExpirationTime, r.LegacyNeverExpires
	}
	return r.PasswordExpirationTime, r.PasswordNeverExpires
}

// Snapshot is the merged view of every device in one directory after one sync pass.
type Snapshot struct {
	// Directory is the connection name.
	Directory string
	// Taken is when the pass finished.
	Taken time.Time
	// Full is true when the pass read every device rather than only changes.
	Full bool
	// Devices holds every known device by Key.
	Devices map[string]DeviceRecord
	// Changed lists the keys whose record is new or differs from the previous snapshot.
	Changed []string
	// Removed lists keys that were in the previous snapshot and are gone (known only on full passes).
	Removed []string
	// RoundTrips counts the directory requests the pass needed (LDAP pages, Graph pages).
	RoundTrips int
}
