package fleetsim

// BackupDirectory is where a device backs its password up (seed 002 BackupDirectory).
type BackupDirectory string

const (
	BackupDisabled        BackupDirectory = "Disabled"
	BackupEntraID         BackupDirectory = "EntraID"
	BackupActiveDirectory BackupDirectory = "ActiveDirectory"
)

// BootMode is how the device booted. Windows LAPS is disabled in every non-normal mode.
type BootMode string

const (
	BootNormal   BootMode = "Normal"
	BootSafeMode BootMode = "SafeMode"
	// BootDSRM is Directory Services Repair Mode (domain controllers).
	BootDSRM BootMode = "DSRM"
)

// Policy is the effective Windows LAPS policy of one device: the seed-002 settings the
// simulator acts on, plus the policy root it came from (reported as ActivePolicyRoot).
type Policy struct {
	BackupDirectory BackupDirectory
	// PolicyRoot: CSP, GroupPolicy, LocalConfiguration or LegacyLAPS.
	PolicyRoot                          string
	AdministratorAccountName            string
	PasswordAgeDays                     int
	PasswordLength                      int
	PasswordComplexity                  int
	PasswordExpirationProtectionEnabled bool
	ADPasswordEncryptionEnabled         bool
	ADEncryptedPasswordHistorySize      int
	ADBackupDSRMPassword                bool
	// PostAuthenticationResetDelay is in hours; 0 disables post-authentication actions.
	PostAuthenticationResetDelay int
	PostAuthenticationActions    int
}

// DefaultPolicy is seed 002's defaults with BackupDirectory set to Active Directory (its
// default, Disabled, would make the device do nothing).
func DefaultPolicy() Policy {
	return Policy{
		BackupDirectory:                     BackupActiveDirectory,
		PolicyRoot:                          "GroupPolicy",
		PasswordAgeDays:                     30,
		PasswordLength:                      14,
		PasswordComplexity:                  4,
		PasswordExpirationProtectionEnabled: true,
		ADPasswordEncryptionEnabled:         true,
		PostAuthenticationResetDelay:        24,
		PostAuthenticationActions:           3,
	}
}

// accountName is the managed account: the built-in Administrator unless the policy names one.
func (p Policy) accountName() string {
	if p.AdministratorAccountName != "" {
		return p.AdministratorAccountName
	}
	return "Administrator"
}
