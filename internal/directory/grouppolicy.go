package directory

import "context"

// GroupPolicyPublisher is implemented by directories that deliver policy as Group Policy objects
// (Active Directory): a container in the domain, a template in SYSVOL, and links on
// organizational units or the domain. Every call finds the object by its ownership mark (Owner),
// never by a name or id taken from outside, so an object the controller did not create is never
// read back as its own, changed or deleted.
type GroupPolicyPublisher interface {
	// PublishGroupPolicy makes the object of gpo.Owner exactly as declared (creating it when
	// missing) and writes nothing when it already is. Link targets outside the connection's search
	// bases are refused with ErrOutOfScope before any write. A missing right of the publishing
	// account is ErrPermissionDenied with a message naming the right and the object.
	PublishGroupPolicy(ctx context.Context, gpo GroupPolicyObject) (GroupPolicyResult, error)
	// WithdrawGroupPolicy unlinks and deletes the object of owner; none is not an error.
	WithdrawGroupPolicy(ctx context.Context, owner string) error
}

// GroupPolicyObject is what a LapsPolicy declares for its Group Policy object.
type GroupPolicyObject struct {
	// Owner identifies the LapsPolicy ("namespace/name"); it is written into the object as the
	// ownership mark.
	Owner       string
	DisplayName string
	// RegistryPol is the rendered Machine\Registry.pol.
	RegistryPol []byte
	// MachineExtensions is the gPCMachineExtensionNames value.
	MachineExtensions string
	Links             []GroupPolicyLink
}

// GroupPolicyLink links the object to an organizational unit or the domain.
type GroupPolicyLink struct {
	Target   string
	Enforced bool
}

// GroupPolicyResult says what a publish found and did.
type GroupPolicyResult struct {
	// GUID is the object's {GUID} (upper case, braces).
	GUID string
	// Version is its versionNumber after the call.
	Version uint32
	// Created is true when this call created the object.
	Created bool
	// Differences name what differed from the declaration before this call wrote; empty means
	// nothing was written.
	Differences []string
}
