package policy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // Validate and schedule must agree on zone names on every host.
	"unicode/utf8"

	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

// The admission rules of api/v1/lapspolicy_types.go (OpenAPI bounds from kubebuilder markers and
// the spec-level CEL rules), implemented once in Go. policytest.AdmissionCases is the shared table
// that proves this function and the apiserver agree; keep both in step with the markers.

// CEL messages, verbatim from the XValidation markers on LapsPolicySpec.
const (
	msgEntraAge        = "passwordAgeDays must be between 7 and 365 when backupDirectory is EntraID (Windows LAPS: the Entra ID minimum is 7 days)"
	msgEntraEncryption = "adPasswordEncryptionEnabled applies only to backupDirectory ActiveDirectory; with EntraID it must be unset or false"
	msgEntraPrincipal  = "adPasswordEncryptionPrincipal applies only to backupDirectory ActiveDirectory; with EntraID it must be unset"
	msgEntraHistory    = "adEncryptedPasswordHistorySize applies only to backupDirectory ActiveDirectory; with EntraID it must be unset or 0"
	msgEntraDSRM       = "adBackupDSRMPassword applies only to backupDirectory ActiveDirectory; with EntraID it must be unset or false"
	msgHistoryNeedsEnc = "adEncryptedPasswordHistorySize greater than 0 requires adPasswordEncryptionEnabled true (or unset, which means true) on backupDirectory ActiveDirectory; Windows LAPS ignores history without encryption"
	msgDSRMNeedsEnc    = "adBackupDSRMPassword true requires adPasswordEncryptionEnabled true (or unset, which means true) on backupDirectory ActiveDirectory; Windows LAPS ignores DSRM backup without encryption"
	msgLegacyEntra     = "policyRoot LegacyLAPS backs up to Active Directory only; use backupDirectory ActiveDirectory or Disabled"
	msgLegacyComplex   = "passwordComplexity with policyRoot LegacyLAPS must be one of LargeLetters, LargeAndSmallLetters, LargeAndSmallLettersAndNumbers, LargeAndSmallLettersNumbersAndSpecials (legacy LAPS knows values 1..4)"
	msgGroupPolicyRoot = "groupPolicy applies only to policyRoot GroupPolicy or LegacyLAPS (an unset policyRoot means GroupPolicy with backupDirectory ActiveDirectory) and not to backupDirectory EntraID"
	msgGPODisplayName  = "groupPolicy.displayName must not contain control characters"
	msgGPOTarget       = "groupPolicy.links[].target must be the distinguished name of an organizational unit (OU=...) or of the domain (DC=...), without control characters"
	msgCSPDSRM         = "adBackupDSRMPassword cannot be delivered through policyRoot CSP (the LAPS CSP does not support it; domain controllers are never managed via CSP); use GroupPolicy or LocalConfiguration"
	msgPrincipal       = `adPasswordEncryptionPrincipal must be a SID (S-1-5-21-...), DOMAIN\name or name@domain.tld, entered as-is without quotes; a name may contain spaces but not / \ [ ] : ; | = , + * ? < > quotes or control characters, and may not start or end with a space or end with a period`
)

var (
	dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	hhmm     = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)
	zoneName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$`)
)

var (
	backupDirectories = []string{string(lapsv1.BackupDirectoryDisabled), string(lapsv1.BackupDirectoryEntraID), string(lapsv1.BackupDirectoryActiveDirectory)}
	policyRoots       = []string{string(lapsv1.PolicyRootCSP), string(lapsv1.PolicyRootGroupPolicy), string(lapsv1.PolicyRootLocalConfiguration), string(lapsv1.PolicyRootLegacyLAPS)}
	complexities      = []string{
		string(lapsv1.ComplexityLargeLetters), string(lapsv1.ComplexityLargeAndSmallLetters),
		string(lapsv1.ComplexityLargeAndSmallLettersAndNumbers), string(lapsv1.ComplexityLargeAndSmallLettersNumbersAndSpecials),
		string(lapsv1.ComplexityLargeAndSmallLettersNumbersAndSpecialsImprovedReadability), string(lapsv1.ComplexityPassphraseLongWords),
		string(lapsv1.ComplexityPassphraseShortWords), string(lapsv1.ComplexityPassphraseShortWordsWithUniquePrefix),
	}
	legacyComplexities = complexities[:4]
	postAuthActions    = []string{string(lapsv1.PostAuthResetPassword), string(lapsv1.PostAuthResetPasswordAndLogoff), string(lapsv1.PostAuthResetPasswordAndReboot), string(lapsv1.PostAuthResetPasswordAndTerminateProcesses)}
	accountTargets     = []string{string(lapsv1.AccountTargetBuiltinAdministrator), string(lapsv1.AccountTargetNewCustomAdministrator)}
	daysOfWeek         = []string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}
)

// Validate checks spec against the admission rules of the LapsPolicy CRD and returns one error per
// violation, each naming the field (under "spec") and the allowed values. Beyond the CRD it also
// rejects maintenance-window time zones that time.LoadLocation cannot load and label selectors
// that metav1.LabelSelectorAsSelector would refuse (the apiserver admits both;
// policytest.AdmissionCase.GoOnly marks those cases).
//
// Fields the CRD defaults may be unset here (a manifest before admission): unset is valid.
func Validate(spec *lapsv1.LapsPolicySpec) field.ErrorList {
	p := field.NewPath("spec")
	var errs field.ErrorList

	if spec.BackupDirectory == "" {
		errs = append(errs, field.Required(p.Child("backupDirectory"), "must be one of "+quoteJoin(backupDirectories)))
	} else {
		errs = append(errs, enum(p.Child("backupDirectory"), string(spec.BackupDirectory), backupDirectories)...)
	}
	errs = append(errs, validateDirectoryRef(p.Child("directoryRef"), spec.DirectoryRef)...)
	if spec.PolicyRoot != "" {
		errs = append(errs, enum(p.Child("policyRoot"), string(spec.PolicyRoot), policyRoots)...)
	}
	if spec.DeviceSelector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(spec.DeviceSelector,
			metav1validation.LabelSelectorValidationOptions{}, p.Child("deviceSelector"))...)
	}
	if spec.AdministratorAccountName != nil {
		v := *spec.AdministratorAccountName
		errs = append(errs, length(p.Child("administratorAccountName"), v, 1, 256)...)
		if !ValidAccountNameChars(v) {
			errs = append(errs, field.Invalid(p.Child("administratorAccountName"), v, msgAdministratorAccountName))
		}
	}
	// Seed 002: PasswordAgeDays 1..365, PasswordLength 8..64, PassphraseLength 3..10,
	// ADEncryptedPasswordHistorySize 0..12, PostAuthenticationResetDelay 0..24.
	errs = append(errs, bounds(p.Child("passwordAgeDays"), spec.PasswordAgeDays, 1, 365)...)
	errs = append(errs, bounds(p.Child("passwordLength"), spec.PasswordLength, 8, 64)...)
	errs = append(errs, bounds(p.Child("passphraseLength"), spec.PassphraseLength, 3, 10)...)
	if spec.PasswordComplexity != nil {
		errs = append(errs, enum(p.Child("passwordComplexity"), string(*spec.PasswordComplexity), complexities)...)
	}
	if spec.ADPasswordEncryptionPrincipal != nil {
		v := *spec.ADPasswordEncryptionPrincipal
		lerrs := length(p.Child("adPasswordEncryptionPrincipal"), v, 1, PrincipalMaxLength)
		errs = append(errs, lerrs...)
		if len(lerrs) == 0 && !ValidPrincipal(v) {
			errs = append(errs, field.Invalid(p.Child("adPasswordEncryptionPrincipal"), v, msgPrincipal))
		}
	}
	errs = append(errs, bounds(p.Child("adEncryptedPasswordHistorySize"), spec.ADEncryptedPasswordHistorySize, 0, 12)...)
	errs = append(errs, bounds(p.Child("postAuthenticationResetDelay"), spec.PostAuthenticationResetDelay, 0, 24)...)
	if spec.PostAuthenticationActions != nil {
		errs = append(errs, enum(p.Child("postAuthenticationActions"), string(*spec.PostAuthenticationActions), postAuthActions)...)
	}
	if a := spec.AutomaticAccountManagement; a != nil {
		ap := p.Child("automaticAccountManagement")
		if a.Target != nil {
			errs = append(errs, enum(ap.Child("target"), string(*a.Target), accountTargets)...)
		}
		if a.NameOrPrefix != nil {
			v := *a.NameOrPrefix
			errs = append(errs, length(ap.Child("nameOrPrefix"), v, 1, 256)...)
			if !ValidAccountNameChars(v) {
				errs = append(errs, field.Invalid(ap.Child("nameOrPrefix"), v, msgNameOrPrefix))
			}
		}
	}
	if g := spec.GroupPolicy; g != nil {
		errs = append(errs, validateGroupPolicy(p.Child("groupPolicy"), g)...)
	}
	if e := spec.Entra; e != nil {
		errs = append(errs, validateEntra(p.Child("entra"), spec.BackupDirectory, e)...)
	}
	if r := spec.Rotation; r != nil {
		errs = append(errs, validateRotation(p.Child("rotation"), r)...)
	}
	return append(errs, crossField(p, spec)...)
}

// crossField is the spec-level CEL rules, in marker order. Each error is reported on the field the
// rule is about, with the CEL rule's message.
func crossField(p *field.Path, spec *lapsv1.LapsPolicySpec) field.ErrorList {
	var errs field.ErrorList
	entra := spec.BackupDirectory == lapsv1.BackupDirectoryEntraID
	root := rootOf(spec) // the CEL rules derive an unset root from backupDirectory the same way
	encNotFalse := spec.ADPasswordEncryptionEnabled == nil || *spec.ADPasswordEncryptionEnabled
	isTrue := func(b *bool) bool { return b != nil && *b }

	if entra && spec.PasswordAgeDays != nil && *spec.PasswordAgeDays < 7 {
		errs = append(errs, field.Invalid(p.Child("passwordAgeDays"), *spec.PasswordAgeDays, msgEntraAge))
	}
	if entra && isTrue(spec.ADPasswordEncryptionEnabled) {
		errs = append(errs, field.Invalid(p.Child("adPasswordEncryptionEnabled"), true, msgEntraEncryption))
	}
	if entra && spec.ADPasswordEncryptionPrincipal != nil {
		errs = append(errs, field.Invalid(p.Child("adPasswordEncryptionPrincipal"), *spec.ADPasswordEncryptionPrincipal, msgEntraPrincipal))
	}
	if entra && spec.ADEncryptedPasswordHistorySize != nil && *spec.ADEncryptedPasswordHistorySize != 0 {
		errs = append(errs, field.Invalid(p.Child("adEncryptedPasswordHistorySize"), *spec.ADEncryptedPasswordHistorySize, msgEntraHistory))
	}
	if entra && isTrue(spec.ADBackupDSRMPassword) {
		errs = append(errs, field.Invalid(p.Child("adBackupDSRMPassword"), true, msgEntraDSRM))
	}
	if spec.ADEncryptedPasswordHistorySize != nil && *spec.ADEncryptedPasswordHistorySize != 0 && !encNotFalse {
		errs = append(errs, field.Invalid(p.Child("adEncryptedPasswordHistorySize"), *spec.ADEncryptedPasswordHistorySize, msgHistoryNeedsEnc))
	}
	if isTrue(spec.ADBackupDSRMPassword) && !encNotFalse {
		errs = append(errs, field.Invalid(p.Child("adBackupDSRMPassword"), true, msgDSRMNeedsEnc))
	}
	if root == lapsv1.PolicyRootLegacyLAPS && entra {
		errs = append(errs, field.Invalid(p.Child("policyRoot"), string(root), msgLegacyEntra))
	}
	if root == lapsv1.PolicyRootLegacyLAPS && spec.PasswordComplexity != nil && !slices.Contains(legacyComplexities, string(*spec.PasswordComplexity)) {
		errs = append(errs, field.Invalid(p.Child("passwordComplexity"), string(*spec.PasswordComplexity), msgLegacyComplex))
	}
	if root == lapsv1.PolicyRootCSP && isTrue(spec.ADBackupDSRMPassword) {
		errs = append(errs, field.Invalid(p.Child("adBackupDSRMPassword"), true, msgCSPDSRM))
	}
	if spec.GroupPolicy != nil && (entra || (root != lapsv1.PolicyRootGroupPolicy && root != lapsv1.PolicyRootLegacyLAPS)) {
		errs = append(errs, field.Invalid(p.Child("groupPolicy"), string(root), msgGroupPolicyRoot))
	}
	return errs
}

func validateDirectoryRef(p *field.Path, ref lapsv1.DirectoryReference) field.ErrorList {
	np := p.Child("name")
	if ref.Name == "" {
		return field.ErrorList{field.Required(np, "names a configured directory connection: 1..63 lowercase letters, digits and '-'")}
	}
	errs := length(np, ref.Name, 1, 63)
	if !dnsLabel.MatchString(ref.Name) {
		errs = append(errs, field.Invalid(np, ref.Name, "must match "+dnsLabel.String()+" (lowercase letters, digits and '-', starting and ending with a letter or digit)"))
	}
	return errs
}

func validateRotation(p *field.Path, r *lapsv1.RotationSettings) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, bounds(p.Child("maxConcurrent"), r.MaxConcurrent, 1, 100000)...)
	errs = append(errs, bounds(p.Child("ratePerMinute"), r.RatePerMinute, 1, 100000)...)
	wp := p.Child("maintenanceWindows")
	if len(r.MaintenanceWindows) > 32 {
		errs = append(errs, field.TooMany(wp, len(r.MaintenanceWindows), 32))
	}
	for i, w := range r.MaintenanceWindows {
		errs = append(errs, ValidateMaintenanceWindow(wp.Index(i), w)...)
	}
	return errs
}

// ValidateMaintenanceWindow checks one window as the CRD does, plus that its time zone loads.
func ValidateMaintenanceWindow(p *field.Path, w lapsv1.MaintenanceWindow) field.ErrorList {
	var errs field.ErrorList
	dp := p.Child("days")
	switch n := len(w.Days); {
	case n == 0:
		errs = append(errs, field.Required(dp, "at least one of "+quoteJoin(daysOfWeek)))
	case n > 7:
		errs = append(errs, field.TooMany(dp, n, 7))
	}
	seen := map[lapsv1.DayOfWeek]bool{}
	for i, d := range w.Days {
		errs = append(errs, enum(dp.Index(i), string(d), daysOfWeek)...)
		if seen[d] {
			errs = append(errs, field.Duplicate(dp.Index(i), string(d)))
		}
		seen[d] = true
	}
	if w.Start == "" {
		errs = append(errs, field.Required(p.Child("start"), "local start time HH:MM (00:00..23:59)"))
	} else if !hhmm.MatchString(w.Start) {
		errs = append(errs, field.Invalid(p.Child("start"), w.Start, "must be a 24-hour local time HH:MM, 00:00..23:59"))
	}
	if w.DurationMinutes < 1 || w.DurationMinutes > 1440 {
		errs = append(errs, field.Invalid(p.Child("durationMinutes"), w.DurationMinutes, "must be between 1 and 1440 minutes"))
	}
	if w.TimeZone != "" {
		tp := p.Child("timeZone")
		switch {
		case utf8.RuneCountInString(w.TimeZone) > 64:
			errs = append(errs, length(tp, w.TimeZone, 1, 64)...)
		case !zoneName.MatchString(w.TimeZone):
			errs = append(errs, field.Invalid(tp, w.TimeZone, "must be an IANA time zone name such as Europe/Berlin or UTC"))
		default:
			if _, err := time.LoadLocation(w.TimeZone); err != nil {
				errs = append(errs, field.Invalid(tp, w.TimeZone, "unknown IANA time zone; use a name such as Europe/Berlin or UTC"))
			}
		}
	}
	return errs
}

func bounds(p *field.Path, v *int32, lo, hi int32) field.ErrorList {
	if v == nil || (*v >= lo && *v <= hi) {
		return nil
	}
	return field.ErrorList{field.Invalid(p, *v, fmt.Sprintf("must be between %d and %d", lo, hi))}
}

func length(p *field.Path, v string, lo, hi int) field.ErrorList {
	n := utf8.RuneCountInString(v)
	if n >= lo && n <= hi {
		return nil
	}
	shown := v
	if n > 24 {
		shown = string([]rune(v)[:24]) + "..."
	}
	return field.ErrorList{field.Invalid(p, shown, fmt.Sprintf("must be between %d and %d characters long (is %d)", lo, hi, n))}
}

func enum(p *field.Path, v string, allowed []string) field.ErrorList {
	if slices.Contains(allowed, v) {
		return nil
	}
	return field.ErrorList{field.NotSupported(p, v, allowed)}
}

func quoteJoin(list []string) string {
	s := ""
	for i, v := range list {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%q", v)
	}
	return s
}

const msgEntraOnly = "entra applies only to backupDirectory EntraID (the policy is published to Intune)"

var groupIDRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// validateEntra checks spec.entra as the CRD schema does: EntraID only, at most 100 group ids,
// each a GUID, no duplicates (case-insensitive, as Entra compares object ids).
func validateEntra(p *field.Path, bd lapsv1.BackupDirectory, e *lapsv1.EntraPolicySettings) field.ErrorList {
	var errs field.ErrorList
	if bd != lapsv1.BackupDirectoryEntraID {
		errs = append(errs, field.Invalid(p, string(bd), msgEntraOnly))
	}
	gp := p.Child("assignToGroupIDs")
	if len(e.AssignToGroupIDs) > 100 {
		errs = append(errs, field.TooMany(gp, len(e.AssignToGroupIDs), 100))
	}
	seen := map[string]bool{}
	for i, g := range e.AssignToGroupIDs {
		switch {
		case !groupIDRE.MatchString(g):
			errs = append(errs, field.Invalid(gp.Index(i), g, "must be an Entra group object id (a GUID)"))
		case seen[strings.ToLower(g)]:
			errs = append(errs, field.Duplicate(gp.Index(i), g))
		}
		seen[strings.ToLower(g)] = true
	}
	return errs
}
