package directory

import (
	"context"
	"time"
)

// Type is the kind of a configured directory connection.
type Type string

const (
	// TypeActiveDirectory is an AD domain reached over LDAP(S).
	TypeActiveDirectory Type = "activeDirectory"
	// TypeEntraID is a Microsoft Entra ID tenant reached over Microsoft Graph.
	TypeEntraID Type = "entraID"
)

// Directory is what reconcilers and the directory sync runnable need from one connection.
// Implementations must be safe for concurrent use.
type Directory interface {
	// Name is the connection name that LapsPolicy and ManagedDevice objects reference.
	Name() string
	// Type says which kind of directory this is.
	Type() Type
	// Snapshot reads the LAPS metadata of every device in one paged pass (or only what changed
	// since the previous call, where the backend can tell) and returns the merged view.
	Snapshot(ctx context.Context) (*Snapshot, error)
	// RequestRotation makes the device rotate at its next cycle. AD: writes
	// msLAPS-PasswordExpirationTime (legacy: ms-Mcs-AdmPwdExpirationTime) to at. Entra: the Intune
	// rotateLocalAdminPassword action. Idempotent: repeating it for the same device and time is safe.
	RequestRotation(ctx context.Context, device DeviceRef, at time.Time) error
	// ResolvePrincipal turns an adPasswordEncryptionPrincipal value (a SID, DOMAIN\name or
	// name@domain) into the SID of an existing user or group, or returns ErrNotFound.
	ResolvePrincipal(ctx context.Context, name string) (string, error)
	// CheckSchema reports which LAPS attributes the directory's schema has.
	CheckSchema(ctx context.Context) (SchemaReport, error)
	// Close releases connections.
	Close() error
}

// PolicyPublisher is implemented by directories that deliver policy themselves (Entra ID through
// an Intune settings-catalog policy). Active Directory policy is delivered by Group Policy or the
// agent, so the AD backend does not implement it.
type PolicyPublisher interface {
	// PublishPolicy creates or updates the directory-side policy object named name with the
	// rendered document and returns its id in the directory.
	PublishPolicy(ctx context.Context, name string, document []byte) (PublishedRef, error)
	// WithdrawPolicy deletes the directory-side object; a missing object is not an error.
	WithdrawPolicy(ctx context.Context, ref PublishedRef) error
}

// PublishedRef points at a directory-side policy object.
type PublishedRef struct {
	ID   string
	Hash string
}

// DeviceRef says which device a call is about.
type DeviceRef struct {
	// Key is the stable key of the device in its directory: the objectGUID (AD, canonical
	// lower-case string form) or the Entra deviceId.
	Key string
	// DistinguishedName is the AD object's DN (AD only).
	DistinguishedName string
	// ManagedDeviceID is the Intune managed device id (Entra only).
	ManagedDeviceID string
	// Legacy says the device is managed by legacy Microsoft LAPS (AD only): rotation then
	// writes ms-Mcs-AdmPwdExpirationTime.
	Legacy bool
}

// SchemaReport says which LAPS attributes exist in the directory schema.
type SchemaReport struct {
	// Present lists the LAPS attribute names found (msLAPS-* and the legacy ms-Mcs-AdmPwd* pair).
	Present []string
	// Missing lists the Windows LAPS attributes the controller needs that are absent.
	Missing []string
	// Legacy is true when the legacy LAPS expiration attribute exists.
	Legacy bool
}

// WindowsLAPSReady is true when every Windows LAPS attribute the controller reads is present.
func (r SchemaReport) WindowsLAPSReady() bool { return len(r.Missing) == 0 }

// AssigningPublisher is a PolicyPublisher whose policies are assigned to directory groups
// (Entra ID: spec.entra.assignToGroupIDs). PublishAssignedPolicy replaces the assignments.
type AssigningPublisher interface {
	PublishAssignedPolicy(ctx context.Context, name string, document []byte, groupIDs []string) (PublishedRef, error)
}

// TenantLAPSChecker is implemented by directories where LAPS is a tenant-wide switch (Entra ID's
// device registration policy): false means devices cannot back up passwords at all.
type TenantLAPSChecker interface {
	TenantLAPSEnabled(ctx context.Context) (bool, error)
}
