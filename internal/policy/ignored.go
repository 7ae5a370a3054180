package policy

import (
	"fmt"
	"strings"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

// IgnoredSetting is a setting present in a spec that Windows will not act on.
type IgnoredSetting struct {
	// Field is the spec field, e.g. "passphraseLength" or "automaticAccountManagement.nameOrPrefix".
	Field string `json:"field"`
	// Reason says why, citing the seed rule.
	Reason string `json:"reason"`
}

// String is "field: reason", the form kept in LapsPolicy status.ignoredSettings.
func (i IgnoredSetting) String() string { return i.Field + ": " + i.Reason }

// maxLocalAccountName is the longest Windows local account name (seed 002,
// AutomaticAccountManagementRandomizeName: "Windows local account names have a maximum length of
// 20 characters").
const maxLocalAccountName = 20

// maxRandomizedPrefix: seed 002 "the name component must be 14 characters long at most to have
// sufficient space for the random suffix ... longer than 14 characters are truncated".
const maxRandomizedPrefix = 14

// invalidAccountNameChars are the characters Windows refuses in local user names.
const invalidAccountNameChars = `"/\[]:;|=,+*?<>@` // admission refuses them too (AccountNamePattern)

// Ignored lists the settings of spec that Windows will ignore, in a fixed order (the order of the
// spec's fields). The admission rules (Validate) already reject what Windows would replace by a
// default; what is left here is legal but has no effect, or names an account Windows cannot
// create.
//
// Fields that the CRD defaults (passwordAgeDays, passwordLength, passphraseLength,
// passwordComplexity, postAuthenticationResetDelay, postAuthenticationActions) are reported only
// when they differ from their default, since after admission they are always present; every other
// field is reported whenever it is set.
func Ignored(spec *lapsv1.LapsPolicySpec) []IgnoredSetting {
	var out []IgnoredSetting
	add := func(field, format string, args ...any) {
		out = append(out, IgnoredSetting{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	root := rootOf(spec)
	legacy := root == lapsv1.PolicyRootLegacyLAPS
	aam := spec.AutomaticAccountManagement
	aamEnabled := aam != nil && aam.Enabled != nil && *aam.Enabled

	if spec.BackupDirectory == lapsv1.BackupDirectoryDisabled || spec.BackupDirectory == "" {
		const why = "backupDirectory is Disabled, so Windows LAPS ignores all other settings"
		for _, f := range setFields(spec) {
			add(f, why)
		}
		return out
	}
	entra := spec.BackupDirectory == lapsv1.BackupDirectoryEntraID
	complexity := DefaultPasswordComplexity
	if spec.PasswordComplexity != nil && *spec.PasswordComplexity != "" {
		complexity = *spec.PasswordComplexity
	}

	if n := spec.AdministratorAccountName; n != nil {
		switch {
		case aamEnabled && !legacy:
			add("administratorAccountName", "ignored when automaticAccountManagement is enabled (Windows LAPS AdministratorAccountName)")
		default:
			if why := accountNameProblem(*n, maxLocalAccountName); why != "" {
				add("administratorAccountName", "%q is not a valid Windows local account name: %s; Windows LAPS does not create this account and cannot manage it", *n, why)
			}
		}
	}
	if p := spec.PasswordLength; p != nil && *p != DefaultPasswordLength && complexity.IsPassphrase() {
		add("passwordLength", "ignored because passwordComplexity %s makes a passphrase; passphraseLength applies (Windows LAPS PasswordLength)", complexity)
	}
	if p := spec.PassphraseLength; p != nil && *p != DefaultPassphraseLength && !complexity.IsPassphrase() {
		add("passphraseLength", "ignored because passwordComplexity %s is a character password; passwordLength applies (Windows LAPS PassphraseLength)", complexity)
	}
	if spec.PasswordExpirationProtectionEnabled != nil && entra {
		add("passwordExpirationProtectionEnabled", "applies only to backupDirectory ActiveDirectory (Windows LAPS policy settings; LAPS CSP)")
	}
	encryption := spec.ADPasswordEncryptionEnabled == nil || *spec.ADPasswordEncryptionEnabled
	adOnly := func(field string, set bool) {
		if !set {
			return
		}
		switch {
		case entra:
			add(field, "applies only to backupDirectory ActiveDirectory (Windows LAPS policy settings)")
		case legacy:
			add(field, "policyRoot LegacyLAPS has no such setting (legacy Microsoft LAPS stores the password in clear text)")
		}
	}
	adOnly("adPasswordEncryptionEnabled", spec.ADPasswordEncryptionEnabled != nil)
	adOnly("adPasswordEncryptionPrincipal", spec.ADPasswordEncryptionPrincipal != nil)
	adOnly("adEncryptedPasswordHistorySize", spec.ADEncryptedPasswordHistorySize != nil)
	adOnly("adBackupDSRMPassword", spec.ADBackupDSRMPassword != nil)
	if !entra && !legacy && !encryption {
		if spec.ADPasswordEncryptionPrincipal != nil {
			add("adPasswordEncryptionPrincipal", "ignored unless adPasswordEncryptionEnabled is true (Windows LAPS policy settings)")
		}
		if spec.ADEncryptedPasswordHistorySize != nil {
			add("adEncryptedPasswordHistorySize", "ignored unless adPasswordEncryptionEnabled is true (Windows LAPS policy settings)")
		}
		if spec.ADBackupDSRMPassword != nil {
			add("adBackupDSRMPassword", "ignored unless adPasswordEncryptionEnabled is true (Windows LAPS policy settings)")
		}
	}
	if !entra && !legacy && encryption && root == lapsv1.PolicyRootCSP && spec.ADBackupDSRMPassword != nil {
		add("adBackupDSRMPassword", "the LAPS CSP does not support it; it is not sent")
	}
	if legacy {
		if p := spec.PostAuthenticationResetDelay; p != nil && *p != DefaultPostAuthenticationResetDelay {
			add("postAuthenticationResetDelay", "policyRoot LegacyLAPS has no post-authentication actions")
		}
		if p := spec.PostAuthenticationActions; p != nil && *p != DefaultPostAuthenticationActions {
			add("postAuthenticationActions", "policyRoot LegacyLAPS has no post-authentication actions")
		}
		if aam != nil {
			add("automaticAccountManagement", "policyRoot LegacyLAPS has no automatic account management")
		}
		return out
	}
	if p := spec.PostAuthenticationActions; p != nil && *p != DefaultPostAuthenticationActions &&
		spec.PostAuthenticationResetDelay != nil && *spec.PostAuthenticationResetDelay == 0 {
		add("postAuthenticationActions", "ignored because postAuthenticationResetDelay 0 disables all post-authentication actions")
	}
	if aam == nil {
		return out
	}
	if !aamEnabled {
		const why = "ignored unless automaticAccountManagement.enabled is true (Windows LAPS policy settings)"
		if aam.Target != nil {
			add("automaticAccountManagement.target", why)
		}
		if aam.NameOrPrefix != nil {
			add("automaticAccountManagement.nameOrPrefix", why)
		}
		if aam.EnableAccount != nil {
			add("automaticAccountManagement.enableAccount", why)
		}
		if aam.RandomizeName != nil {
			add("automaticAccountManagement.randomizeName", why)
		}
		return out
	}
	if n := aam.NameOrPrefix; n != nil {
		randomize := aam.RandomizeName != nil && *aam.RandomizeName
		name := *n
		if randomize && len([]rune(name)) > maxRandomizedPrefix {
			add("automaticAccountManagement.nameOrPrefix", "%q is longer than %d characters and is truncated to %q with randomizeName (Windows LAPS AutomaticAccountManagementRandomizeName)",
				name, maxRandomizedPrefix, string([]rune(name)[:maxRandomizedPrefix]))
			name = string([]rune(name)[:maxRandomizedPrefix])
		}
		if why := accountNameProblem(name, maxLocalAccountName); why != "" {
			add("automaticAccountManagement.nameOrPrefix", "%q is not a valid Windows local account name: %s", name, why)
		}
	}
	return out
}

// accountNameProblem says why Windows cannot create a local account called name, or "".
func accountNameProblem(name string, maxLen int) string {
	if n := len([]rune(name)); n > maxLen {
		return fmt.Sprintf("longer than %d characters (%d)", maxLen, n)
	}
	if i := strings.IndexAny(name, invalidAccountNameChars); i >= 0 {
		return fmt.Sprintf("contains %q; none of %s are allowed", name[i:i+1], invalidAccountNameChars)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return "contains a control character"
		}
	}
	if strings.Trim(name, ". ") == "" {
		return "consists only of periods and spaces"
	}
	return ""
}

// setFields lists the device settings present in spec beyond backupDirectory (CRD-defaulted ones
// only when they differ from their default), in spec order.
func setFields(spec *lapsv1.LapsPolicySpec) []string {
	var f []string
	neq := func(p *int32, def int32) bool { return p != nil && *p != def }
	if spec.AdministratorAccountName != nil {
		f = append(f, "administratorAccountName")
	}
	if neq(spec.PasswordAgeDays, DefaultPasswordAgeDays) {
		f = append(f, "passwordAgeDays")
	}
	if neq(spec.PasswordLength, DefaultPasswordLength) {
		f = append(f, "passwordLength")
	}
	if neq(spec.PassphraseLength, DefaultPassphraseLength) {
		f = append(f, "passphraseLength")
	}
	if spec.PasswordComplexity != nil && *spec.PasswordComplexity != DefaultPasswordComplexity {
		f = append(f, "passwordComplexity")
	}
	if spec.PasswordExpirationProtectionEnabled != nil {
		f = append(f, "passwordExpirationProtectionEnabled")
	}
	if spec.ADPasswordEncryptionEnabled != nil {
		f = append(f, "adPasswordEncryptionEnabled")
	}
	if spec.ADPasswordEncryptionPrincipal != nil {
		f = append(f, "adPasswordEncryptionPrincipal")
	}
	if spec.ADEncryptedPasswordHistorySize != nil {
		f = append(f, "adEncryptedPasswordHistorySize")
	}
	if spec.ADBackupDSRMPassword != nil {
		f = append(f, "adBackupDSRMPassword")
	}
	if neq(spec.PostAuthenticationResetDelay, DefaultPostAuthenticationResetDelay) {
		f = append(f, "postAuthenticationResetDelay")
	}
	if spec.PostAuthenticationActions != nil && *spec.PostAuthenticationActions != DefaultPostAuthenticationActions {
		f = append(f, "postAuthenticationActions")
	}
	if spec.AutomaticAccountManagement != nil {
		f = append(f, "automaticAccountManagement")
	}
	return f
}
