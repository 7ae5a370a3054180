package ad

import "github.com/fleetlaps/fleetlaps/internal/directory"

// passwordAttribute is one attribute that holds (or held) a password. The controller holds only
// the outer permission ring and never asks for these values; it only reads, from replication
// metadata, WHEN they last changed.
type passwordAttribute struct {
	// Name is the lDAPDisplayName.
	Name string
	// Source is what the attribute holding the current password says about where it is kept;
	// empty for history attributes. A domain controller's current password is its DSRM
	// password, always encrypted.
	Source directory.PasswordSource
}

// deniedAttributes is the deny-list: every attribute that carries a password. It is the ONLY
// place in non-test code that names them (a hook greps for the names). searchAttributes must
// never contain any of these, nor a prefix wildcard, "*" or "+"; New refuses to start otherwise
// and a unit test asserts it.
var deniedAttributes = []passwordAttribute{
	{Name: "msLAPS-Password", Source: directory.SourceCleartext},
	{Name: "msLAPS-EncryptedPassword", Source: directory.SourceEncrypted},
	{Name: "msLAPS-EncryptedPasswordHistory"},
	{Name: "msLAPS-EncryptedDSRMPassword", Source: directory.SourceEncrypted},
	{Name: "msLAPS-EncryptedDSRMPasswordHistory"},
	{Name: "ms-Mcs-AdmPwd", Source: directory.SourceLegacy},
}

// deniedPrefixes catch attributes that may be added to the schema later (msLAPS-EncryptedDSRM*).
var deniedPrefixes = []string{"msLAPS-EncryptedPassword", "msLAPS-EncryptedDSRM"}
