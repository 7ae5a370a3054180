package policy

import (
	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

// Seed 002 "Windows LAPS default policy values" and the per-setting sections.
const (
	DefaultPasswordAgeDays              int32 = 30
	DefaultPasswordLength               int32 = 14
	DefaultPassphraseLength             int32 = 6
	DefaultPasswordComplexity                 = lapsv1.ComplexityLargeAndSmallLettersNumbersAndSpecials // 4
	DefaultPostAuthenticationResetDelay int32 = 24
	DefaultPostAuthenticationActions          = lapsv1.PostAuthResetPasswordAndLogoff // 3
	DefaultADEncryptedPasswordHistory   int32 = 0
	DefaultAccountTarget                      = lapsv1.AccountTargetNewCustomAdministrator // 1
	DefaultAccountNameOrPrefix                = "WLapsAdmin"
)

// Settings is what Windows acts on for one policy: every seed 002 setting with its default filled
// in where the spec leaves it unset.
//
// A zero value means "not applicable, not rendered": with BackupDirectory Disabled every other
// setting is ignored (seed 002 "If BackupDirectory is set to Disabled, all other settings are
// ignored"), the AD-only settings (seed 002 applicability table: ADPassword*,
// ADEncryptedPasswordHistorySize, ADBackupDSRMPassword, PasswordExpirationProtectionEnabled) are
// only filled for ActiveDirectory, PasswordLength only for character complexities and
// PassphraseLength only for passphrases, AdministratorAccountName is dropped when automatic
// account management is enabled, and the automatic-account sub-settings are only filled when it
// is enabled. Ignored explains each of these to the user. Because a Settings holds exactly what
// the renderers write, Hash(Settings) changes iff a rendered artefact changes.
//
// ADPasswordEncryptionPrincipal "" means the seed 002 default (Domain Admins of the device's
// domain); it is never rendered as a literal name because an unresolvable name fails policy
// processing (seed 002, "ADPasswordEncryptionPrincipal is an exception to the misconfigured
// setting rule").
type Settings struct {
	BackupDirectory          lapsv1.BackupDirectory `json:"backupDirectory"`
	PolicyRoot               lapsv1.PolicyRoot      `json:"policyRoot"`
	AdministratorAccountName string                 `json:"administratorAccountName,omitempty"`

	PasswordAgeDays    int32                     `json:"passwordAgeDays,omitempty"`
	PasswordLength     int32                     `json:"passwordLength,omitempty"`
	PassphraseLength   int32                     `json:"passphraseLength,omitempty"`
	PasswordComplexity lapsv1.PasswordComplexity `json:"passwordComplexity,omitempty"`

	PasswordExpirationProtectionEnabled bool   `json:"passwordExpirationProtectionEnabled"`
	ADPasswordEncryptionEnabled         bool   `json:"adPasswordEncryptionEnabled"`
	ADPasswordEncryptionPrincipal       string `json:"adPasswordEncryptionPrincipal,omitempty"`
	ADEncryptedPasswordHistorySize      int32  `json:"adEncryptedPasswordHistorySize"`
	ADBackupDSRMPassword                bool   `json:"adBackupDSRMPassword"`

	PostAuthenticationResetDelay int32                            `json:"postAuthenticationResetDelay"`
	PostAuthenticationActions    lapsv1.PostAuthenticationActions `json:"postAuthenticationActions,omitempty"`

	AutomaticAccountManagement AccountManagement `json:"automaticAccountManagement"`
}

// AccountManagement is seed 002's AutomaticAccountManagement* group. When Enabled is false the
// other fields are zero (seed 002: each is "ignored unless AutomaticAccountManagementEnabled is
// enabled").
type AccountManagement struct {
	Enabled       bool                                    `json:"enabled"`
	Target        lapsv1.AutomaticAccountManagementTarget `json:"target,omitempty"`
	NameOrPrefix  string                                  `json:"nameOrPrefix,omitempty"`
	EnableAccount bool                                    `json:"enableAccount"`
	RandomizeName bool                                    `json:"randomizeName"`
}

// IsActiveDirectory says whether the AD-only settings apply.
func (s Settings) IsActiveDirectory() bool {
	return s.BackupDirectory == lapsv1.BackupDirectoryActiveDirectory
}

// Effective returns the settings Windows acts on for spec. It does not validate: call Validate
// first; out-of-range values are copied as they are.
func Effective(spec *lapsv1.LapsPolicySpec) Settings {
	s := Settings{
		BackupDirectory: spec.BackupDirectory,
		PolicyRoot:      rootOf(spec),
	}
	if s.BackupDirectory == "" {
		// Seed 002: "If not specified, this setting defaults to 0 (Disabled)."
		s.BackupDirectory = lapsv1.BackupDirectoryDisabled
	}
	if s.BackupDirectory == lapsv1.BackupDirectoryDisabled {
		return s
	}
	legacy := s.PolicyRoot == lapsv1.PolicyRootLegacyLAPS

	s.PasswordAgeDays = i32(spec.PasswordAgeDays, DefaultPasswordAgeDays)
	s.PasswordComplexity = DefaultPasswordComplexity
	if spec.PasswordComplexity != nil && *spec.PasswordComplexity != "" {
		s.PasswordComplexity = *spec.PasswordComplexity
	}
	if s.PasswordComplexity.IsPassphrase() {
		// Seed 002: PasswordLength "is ignored unless PasswordComplexity is configured to one of
		// the password options"; PassphraseLength the reverse.
		s.PassphraseLength = i32(spec.PassphraseLength, DefaultPassphraseLength)
	} else {
		s.PasswordLength = i32(spec.PasswordLength, DefaultPasswordLength)
	}

	aam := spec.AutomaticAccountManagement
	if !legacy && aam != nil && aam.Enabled != nil && *aam.Enabled {
		s.AutomaticAccountManagement = AccountManagement{
			Enabled:       true,
			Target:        DefaultAccountTarget,
			NameOrPrefix:  str(aam.NameOrPrefix, DefaultAccountNameOrPrefix),
			EnableAccount: boolean(aam.EnableAccount, false),
			RandomizeName: boolean(aam.RandomizeName, false),
		}
		if aam.Target != nil && *aam.Target != "" {
			s.AutomaticAccountManagement.Target = *aam.Target
		}
	} else {
		// Seed 002 AdministratorAccountName: "This setting is ignored when
		// AutomaticAccountManagementEnabled is enabled."
		s.AdministratorAccountName = str(spec.AdministratorAccountName, "")
	}

	if s.IsActiveDirectory() {
		// Seed 002: PasswordExpirationProtectionEnabled defaults to 1 (True); "In legacy Microsoft
		// LAPS mode, this setting defaults to False for backward compatibility."
		s.PasswordExpirationProtectionEnabled = boolean(spec.PasswordExpirationProtectionEnabled, !legacy)
		if !legacy {
			// ADPasswordEncryptionEnabled unset means True: seed 002's default-value table says
			// True (and LAPS-REFERENCE §2: the settings catalog defaults it to true). Seed 003, the
			// older CSP page, says "If not specified, this setting defaults to False"; we follow
			// seed 002, the newer and more specific document, and the CRD says the same.
			s.ADPasswordEncryptionEnabled = boolean(spec.ADPasswordEncryptionEnabled, true)
			if s.ADPasswordEncryptionEnabled {
				// Seed 002: principal, history size and DSRM backup are "ignored unless
				// ADPasswordEncryptionEnabled is configured to True".
				s.ADPasswordEncryptionPrincipal = str(spec.ADPasswordEncryptionPrincipal, "")
				s.ADEncryptedPasswordHistorySize = i32(spec.ADEncryptedPasswordHistorySize, DefaultADEncryptedPasswordHistory)
				if s.PolicyRoot != lapsv1.PolicyRootCSP {
					// Seed 002: the LAPS CSP does not support ADBackupDSRMPassword.
					s.ADBackupDSRMPassword = boolean(spec.ADBackupDSRMPassword, false)
				}
			}
		}
	}

	if !legacy {
		// Legacy Microsoft LAPS has no post-authentication actions (LAPS-REFERENCE §2 lists its
		// six values); Windows LAPS in legacy mode does not read them.
		s.PostAuthenticationResetDelay = i32(spec.PostAuthenticationResetDelay, DefaultPostAuthenticationResetDelay)
		s.PostAuthenticationActions = DefaultPostAuthenticationActions
		if spec.PostAuthenticationActions != nil && *spec.PostAuthenticationActions != "" {
			s.PostAuthenticationActions = *spec.PostAuthenticationActions
		}
	}
	return s
}

// rootOf is spec.policyRoot, or the root derived from backupDirectory when it is unset.
func rootOf(spec *lapsv1.LapsPolicySpec) lapsv1.PolicyRoot { return spec.EffectivePolicyRoot() }

func i32(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

func str(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}

func boolean(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}
