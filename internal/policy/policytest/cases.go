// Package policytest holds test data shared by the policy unit tests, the renderers' tests and
// the envtest API tests: one table of admission cases that both policy.Validate and the real
// apiserver (CRD OpenAPI schema + CEL rules) must agree on, and seed 003's two SyncML examples
// written as LapsPolicy specs.
package policytest

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

// AdmissionCase is one LapsPolicy spec and the admission verdict.
type AdmissionCase struct {
	Name string
	Spec lapsv1.LapsPolicySpec
	// Valid is the verdict of policy.Validate and, unless GoOnly, of the apiserver.
	Valid bool
	// FieldContains is a substring of some error (field path or message) of an invalid case,
	// both from policy.Validate and from the apiserver: usually the field name.
	FieldContains string
	// GoOnly marks cases the apiserver admits but policy.Validate rejects (time zones that
	// time.LoadLocation cannot load, label selectors that cannot be parsed): run them against
	// the apiserver expecting success.
	GoOnly bool
}

// Directory is the directoryRef name used by every case.
const Directory = "corp"

// SeedCSPExampleEntraID is seed 003's first SyncML example ("Azure-joined device backing password
// up to Azure AD") as a LapsPolicy spec: BackupDirectory 1, PasswordAgeDays 7, PasswordComplexity
// 4, PasswordLength 32, AdministratorAccountName ContosoLocalLapsAdmin,
// PostAuthenticationResetDelay 8, PostAuthenticationActions 3.
func SeedCSPExampleEntraID() lapsv1.LapsPolicySpec {
	return lapsv1.LapsPolicySpec{
		BackupDirectory:              lapsv1.BackupDirectoryEntraID,
		DirectoryRef:                 lapsv1.DirectoryReference{Name: Directory},
		PolicyRoot:                   lapsv1.PolicyRootCSP,
		PasswordAgeDays:              ptr.To[int32](7),
		PasswordComplexity:           ptr.To(lapsv1.ComplexityLargeAndSmallLettersNumbersAndSpecials),
		PasswordLength:               ptr.To[int32](32),
		AdministratorAccountName:     ptr.To("ContosoLocalLapsAdmin"),
		PostAuthenticationResetDelay: ptr.To[int32](8),
		PostAuthenticationActions:    ptr.To(lapsv1.PostAuthResetPasswordAndLogoff),
	}
}

// SeedCSPExampleActiveDirectory is seed 003's second SyncML example ("Hybrid-joined device backing
// password up to Active Directory"): BackupDirectory 2, PasswordAgeDays 20, PasswordComplexity 3,
// PasswordLength 14, AdministratorAccountName ContosoLocalLapsAdmin,
// PasswordExpirationProtectionEnabled True, ADPasswordEncryptionEnabled True,
// ADPasswordEncryptionPrincipal LAPSAdmins@contoso.com, ADEncryptedPasswordHistorySize 6,
// PostAuthenticationResetDelay 4, PostAuthenticationActions 5.
func SeedCSPExampleActiveDirectory() lapsv1.LapsPolicySpec {
	return lapsv1.LapsPolicySpec{
		BackupDirectory:                     lapsv1.BackupDirectoryActiveDirectory,
		DirectoryRef:                        lapsv1.DirectoryReference{Name: Directory},
		PolicyRoot:                          lapsv1.PolicyRootCSP,
		PasswordAgeDays:                     ptr.To[int32](20),
		PasswordComplexity:                  ptr.To(lapsv1.ComplexityLargeAndSmallLettersAndNumbers),
		PasswordLength:                      ptr.To[int32](14),
		AdministratorAccountName:            ptr.To("ContosoLocalLapsAdmin"),
		PasswordExpirationProtectionEnabled: ptr.To(true),
		ADPasswordEncryptionEnabled:         ptr.To(true),
		ADPasswordEncryptionPrincipal:       ptr.To("LAPSAdmins@contoso.com"),
		ADEncryptedPasswordHistorySize:      ptr.To[int32](6),
		PostAuthenticationResetDelay:        ptr.To[int32](4),
		PostAuthenticationActions:           ptr.To(lapsv1.PostAuthResetPasswordAndReboot),
	}
}

// spec builds a minimal valid spec for backup directory b and applies the mutations.
func spec(b lapsv1.BackupDirectory, muts ...func(*lapsv1.LapsPolicySpec)) lapsv1.LapsPolicySpec {
	s := lapsv1.LapsPolicySpec{BackupDirectory: b, DirectoryRef: lapsv1.DirectoryReference{Name: Directory}}
	for _, m := range muts {
		m(&s)
	}
	return s
}

func ad(muts ...func(*lapsv1.LapsPolicySpec)) lapsv1.LapsPolicySpec {
	return spec(lapsv1.BackupDirectoryActiveDirectory, muts...)
}

func entra(muts ...func(*lapsv1.LapsPolicySpec)) lapsv1.LapsPolicySpec {
	return spec(lapsv1.BackupDirectoryEntraID, muts...)
}

func root(r lapsv1.PolicyRoot) func(*lapsv1.LapsPolicySpec) {
	return func(s *lapsv1.LapsPolicySpec) { s.PolicyRoot = r }
}

func gpo(displayName string, muts ...func(*lapsv1.GroupPolicySettings)) func(*lapsv1.LapsPolicySpec) {
	return func(s *lapsv1.LapsPolicySpec) {
		g := &lapsv1.GroupPolicySettings{DisplayName: displayName}
		for _, m := range muts {
			m(g)
		}
		s.GroupPolicy = g
	}
}

func link(target string, enforced bool) func(*lapsv1.GroupPolicySettings) {
	return func(g *lapsv1.GroupPolicySettings) {
		g.Links = append(g.Links, lapsv1.GroupPolicyLink{Target: target, Enforced: enforced})
	}
}

func nLinks(n int) []func(*lapsv1.GroupPolicySettings) {
	out := make([]func(*lapsv1.GroupPolicySettings), n)
	for i := range out {
		out[i] = link(fmt.Sprintf("OU=Site%03d,DC=corp,DC=example", i), false)
	}
	return out
}

func age(v int32) func(*lapsv1.LapsPolicySpec) {
	return func(s *lapsv1.LapsPolicySpec) { s.PasswordAgeDays = &v }
}

func length(v int32) func(*lapsv1.LapsPolicySpec) {
	return func(s *lapsv1.LapsPolicySpec) { s.PasswordLength = &v }
}

func words(v int32) func(*lapsv1.LapsPolicySpec) {
	return func(s *lapsv1.LapsPolicySpec) { s.PassphraseLength = &v }
}

func complexity(c lapsv1.PasswordComplexity) func(*lapsv1.LapsPolicySpec) {
	return func(s *lapsv1.LapsPolicySpec) { s.PasswordComplexity = &c }
}

func encryption(v bool) func(*lapsv1.LapsPolicySpec) {
	return func(s *lapsv1.LapsPolicySpec) { s.ADPasswordEncryptionEnabled = &v }
}

func principal(v string) func(*lapsv1.LapsPolicySpec) {
	return func(s *lapsv1.LapsPolicySpec) { s.ADPasswordEncryptionPrincipal = &v }
}

func history(v int32) func(*lapsv1.LapsPolicySpec) {
	return func(s *lapsv1.LapsPolicySpec) { s.ADEncryptedPasswordHistorySize = &v }
}

func dsrm(v bool) func(*lapsv1.LapsPolicySpec) {
	return func(s *lapsv1.LapsPolicySpec) { s.ADBackupDSRMPassword = &v }
}

func delay(v int32) func(*lapsv1.LapsPolicySpec) {
	return func(s *lapsv1.LapsPolicySpec) { s.PostAuthenticationResetDelay = &v }
}

func actions(v lapsv1.PostAuthenticationActions) func(*lapsv1.LapsPolicySpec) {
	return func(s *lapsv1.LapsPolicySpec) { s.PostAuthenticationActions = &v }
}

func account(v string) func(*lapsv1.LapsPolicySpec) {
	return func(s *lapsv1.LapsPolicySpec) { s.AdministratorAccountName = &v }
}

func aam(a lapsv1.AutomaticAccountManagement) func(*lapsv1.LapsPolicySpec) {
	return func(s *lapsv1.LapsPolicySpec) { s.AutomaticAccountManagement = &a }
}

func rotation(r lapsv1.RotationSettings) func(*lapsv1.LapsPolicySpec) {
	return func(s *lapsv1.LapsPolicySpec) { s.Rotation = &r }
}

func windows(w ...lapsv1.MaintenanceWindow) func(*lapsv1.LapsPolicySpec) {
	return rotation(lapsv1.RotationSettings{MaintenanceWindows: w})
}

func window(days []lapsv1.DayOfWeek, start string, minutes int32, tz string) lapsv1.MaintenanceWindow {
	return lapsv1.MaintenanceWindow{Days: days, Start: start, DurationMinutes: minutes, TimeZone: tz}
}

var weekend = []lapsv1.DayOfWeek{"Saturday", "Sunday"}

func nWindows(n int) []lapsv1.MaintenanceWindow {
	w := make([]lapsv1.MaintenanceWindow, n)
	for i := range w {
		w[i] = window(weekend, "22:00", 60, "UTC")
	}
	return w
}

func selector(s metav1.LabelSelector) func(*lapsv1.LapsPolicySpec) {
	return func(p *lapsv1.LapsPolicySpec) { p.DeviceSelector = &s }
}

// AdmissionCases is the shared admission table: every OpenAPI bound at its minimum and maximum and
// one step outside, every enum, every CEL rule passing and failing, and seed 003's two SyncML
// examples.
var AdmissionCases = []AdmissionCase{
	{Name: "should admit the LAPS CSP documentation's Azure-joined SyncML example", Spec: SeedCSPExampleEntraID(), Valid: true},
	{Name: "should admit the LAPS CSP documentation's hybrid-joined SyncML example", Spec: SeedCSPExampleActiveDirectory(), Valid: true},
	{Name: "should admit a minimal ActiveDirectory policy", Spec: ad(), Valid: true},
	{Name: "should admit a minimal EntraID policy", Spec: entra(), Valid: true},
	{Name: "should admit a minimal Disabled policy", Spec: spec(lapsv1.BackupDirectoryDisabled), Valid: true},
	{Name: "should reject a missing backupDirectory", Spec: spec(""), FieldContains: "backupDirectory"},
	{Name: "should reject an unknown backupDirectory", Spec: spec("AzureAD"), FieldContains: "backupDirectory"},

	{Name: "should reject an empty directoryRef name", Spec: ad(func(s *lapsv1.LapsPolicySpec) { s.DirectoryRef.Name = "" }), FieldContains: "directoryRef.name"},
	{Name: "should admit a 63-character directoryRef name", Spec: ad(func(s *lapsv1.LapsPolicySpec) { s.DirectoryRef.Name = strings.Repeat("a", 63) }), Valid: true},
	{Name: "should admit a 1-character directoryRef name", Spec: ad(func(s *lapsv1.LapsPolicySpec) { s.DirectoryRef.Name = "a" }), Valid: true},
	{Name: "should reject a 64-character directoryRef name", Spec: ad(func(s *lapsv1.LapsPolicySpec) { s.DirectoryRef.Name = strings.Repeat("a", 64) }), FieldContains: "directoryRef.name"},
	{Name: "should reject a directoryRef name with capitals and underscores", Spec: ad(func(s *lapsv1.LapsPolicySpec) { s.DirectoryRef.Name = "Corp_AD" }), FieldContains: "directoryRef.name"},

	{Name: "should admit every policyRoot: GroupPolicy", Spec: ad(root(lapsv1.PolicyRootGroupPolicy)), Valid: true},
	{Name: "should admit every policyRoot: LocalConfiguration", Spec: ad(root(lapsv1.PolicyRootLocalConfiguration)), Valid: true},
	{Name: "should admit every policyRoot: LegacyLAPS", Spec: ad(root(lapsv1.PolicyRootLegacyLAPS)), Valid: true},
	{Name: "should reject an unknown policyRoot", Spec: ad(root("Registry")), FieldContains: "policyRoot"},

	{Name: "should admit entra.assignToGroupIDs on EntraID", Spec: entra(groups("11111111-2222-3333-4444-555555555555", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")), Valid: true},
	{Name: "should admit an empty entra on EntraID (published unassigned)", Spec: entra(groups()), Valid: true},
	{Name: "CEL: should reject entra on ActiveDirectory", Spec: ad(groups("11111111-2222-3333-4444-555555555555")), FieldContains: "entra applies only to backupDirectory EntraID"},
	{Name: "should reject a group id that is not a GUID", Spec: entra(groups("workstations")), FieldContains: "assignToGroupIDs"},
	{Name: "should reject a duplicate group id", Spec: entra(groups("11111111-2222-3333-4444-555555555555", "11111111-2222-3333-4444-555555555555")), FieldContains: "assignToGroupIDs"},
	{Name: "should reject more than 100 group ids", Spec: entra(groups(manyGroups(101)...)), FieldContains: "assignToGroupIDs"},

	{Name: "should admit groupPolicy on ActiveDirectory without a root (derived root GroupPolicy)", Spec: ad(gpo("", link("OU=Workstations,DC=corp,DC=example", true))), Valid: true},
	{Name: "should admit groupPolicy with policyRoot LegacyLAPS", Spec: ad(root(lapsv1.PolicyRootLegacyLAPS), gpo("Legacy LAPS", link("DC=corp,DC=example", false))), Valid: true},
	{Name: "should admit groupPolicy on a Disabled policy with policyRoot GroupPolicy", Spec: spec(lapsv1.BackupDirectoryDisabled, root(lapsv1.PolicyRootGroupPolicy), gpo("")), Valid: true},
	{Name: "should admit groupPolicy with a display name and no links", Spec: ad(gpo("LAPS for workstations")), Valid: true},
	{Name: "CEL: should reject groupPolicy with policyRoot CSP", Spec: ad(root(lapsv1.PolicyRootCSP), gpo("")), FieldContains: "groupPolicy applies only to policyRoot GroupPolicy or LegacyLAPS"},
	{Name: "CEL: should reject groupPolicy with policyRoot LocalConfiguration", Spec: ad(root(lapsv1.PolicyRootLocalConfiguration), gpo("")), FieldContains: "groupPolicy applies only to policyRoot GroupPolicy or LegacyLAPS"},
	{Name: "CEL: should reject groupPolicy on EntraID (derived root CSP)", Spec: entra(gpo("")), FieldContains: "groupPolicy applies only to policyRoot GroupPolicy or LegacyLAPS"},
	{Name: "CEL: should reject groupPolicy on EntraID with policyRoot GroupPolicy", Spec: entra(root(lapsv1.PolicyRootGroupPolicy), gpo("")), FieldContains: "groupPolicy applies only to policyRoot GroupPolicy or LegacyLAPS"},
	{Name: "should reject a groupPolicy link target that is a container, not an OU or the domain", Spec: ad(gpo("", link("CN=Computers,DC=corp,DC=example", false))), FieldContains: "groupPolicy.links[].target must be the distinguished name"},
	{Name: "should reject a groupPolicy link target with a line break", Spec: ad(gpo("", link("OU=A,\nDC=corp", false))), FieldContains: "groupPolicy.links[].target must be the distinguished name"},
	{Name: "should reject a groupPolicy link target shorter than 4 characters", Spec: ad(gpo("", link("OU=", false))), FieldContains: "groupPolicy.links[0].target"},
	{Name: "should reject two groupPolicy links to the same target", Spec: ad(gpo("", link("OU=A,DC=corp", false), link("OU=A,DC=corp", true))), FieldContains: "groupPolicy.links[1]"},
	{Name: "should admit groupPolicy without displayName (derived from namespace/name)", Spec: ad(gpo("")), Valid: true},
	{Name: "should reject a 201-character groupPolicy displayName", Spec: ad(gpo(strings.Repeat("d", 201))), FieldContains: "groupPolicy.displayName"},
	{Name: "should admit a 200-character groupPolicy displayName", Spec: ad(gpo(strings.Repeat("d", 200))), Valid: true},
	{Name: "should reject a groupPolicy displayName with a tab", Spec: ad(gpo("LAPS\tpolicy")), FieldContains: "groupPolicy.displayName must not contain control characters"},
	{Name: "should reject 65 groupPolicy links", Spec: ad(gpo("", nLinks(65)...)), FieldContains: "groupPolicy.links"},
	{Name: "should admit 64 groupPolicy links", Spec: ad(gpo("", nLinks(64)...)), Valid: true},
	{Name: "should reject a groupPolicy link target that is no distinguished name", Spec: ad(gpo("", link("OU=a,b", false))), FieldContains: "groupPolicy.links[0].target", GoOnly: true},
	{Name: "should reject two groupPolicy links to one OU spelled differently", Spec: ad(gpo("", link("OU=A,DC=corp", false), link("ou=a, dc=CORP", false))), FieldContains: "groupPolicy.links[1]", GoOnly: true},

	{Name: "should reject an empty administratorAccountName", Spec: ad(account("")), FieldContains: "administratorAccountName"},
	{Name: "should admit a 1-character administratorAccountName", Spec: ad(account("a")), Valid: true},
	{Name: "should admit a 256-character administratorAccountName", Spec: ad(account(strings.Repeat("a", 256))), Valid: true},
	{Name: "should reject a 257-character administratorAccountName", Spec: ad(account(strings.Repeat("a", 257))), FieldContains: "administratorAccountName"},
	{Name: "should admit an administratorAccountName with spaces, periods, dashes and accents", Spec: ad(account("Lokaler Admin-Zugang.é")), Valid: true},
	{Name: "should admit a CJK administratorAccountName", Spec: ad(account("管理者")), Valid: true},
	{Name: "should reject an administratorAccountName with a line break", Spec: ad(account("admin\nDWORD:0")), FieldContains: "administratorAccountName must be a Windows account name"},
	{Name: "should reject an administratorAccountName with a tab", Spec: ad(account("ad\tmin")), FieldContains: "administratorAccountName must be a Windows account name"},
	{Name: "should reject an administratorAccountName with DEL", Spec: ad(account("ad\x7fmin")), FieldContains: "administratorAccountName must be a Windows account name"},
	{Name: "should reject an administratorAccountName with a C1 control", Spec: ad(account("ad\u0085min")), FieldContains: "administratorAccountName must be a Windows account name"},
	{Name: "should reject an administratorAccountName with a backslash", Spec: ad(account(`CORP\admin`)), FieldContains: "administratorAccountName must be a Windows account name"},
	{Name: "should reject an administratorAccountName with <>", Spec: ad(account("<admin>")), FieldContains: "administratorAccountName must be a Windows account name"},
	{Name: "should reject an administratorAccountName with @", Spec: ad(account("admin@corp")), FieldContains: "administratorAccountName must be a Windows account name"},
	{Name: "should reject an administratorAccountName with a quote", Spec: ad(account(`ad"min`)), FieldContains: "administratorAccountName must be a Windows account name"},
	{Name: "should reject an administratorAccountName with U+FFFF", Spec: ad(account("admin\uffff")), FieldContains: "administratorAccountName must be a Windows account name"},

	{Name: "should admit passwordAgeDays 1 for ActiveDirectory", Spec: ad(age(1)), Valid: true},
	{Name: "should admit passwordAgeDays 365", Spec: ad(age(365)), Valid: true},
	{Name: "should reject passwordAgeDays 0", Spec: ad(age(0)), FieldContains: "passwordAgeDays"},
	{Name: "should reject passwordAgeDays 366", Spec: ad(age(366)), FieldContains: "passwordAgeDays"},
	{Name: "should admit passwordAgeDays 7 for EntraID", Spec: entra(age(7)), Valid: true},
	{Name: "should admit passwordAgeDays 365 for EntraID", Spec: entra(age(365)), Valid: true},
	{Name: "should reject passwordAgeDays 6 for EntraID (CEL: Entra minimum 7)", Spec: entra(age(6)), FieldContains: "passwordAgeDays"},
	{Name: "should admit passwordAgeDays 6 for a Disabled policy", Spec: spec(lapsv1.BackupDirectoryDisabled, age(6)), Valid: true},

	{Name: "should admit passwordLength 8", Spec: ad(length(8)), Valid: true},
	{Name: "should admit passwordLength 64", Spec: ad(length(64)), Valid: true},
	{Name: "should reject passwordLength 7", Spec: ad(length(7)), FieldContains: "passwordLength"},
	{Name: "should reject passwordLength 65", Spec: ad(length(65)), FieldContains: "passwordLength"},

	{Name: "should admit passphraseLength 3", Spec: ad(complexity(lapsv1.ComplexityPassphraseLongWords), words(3)), Valid: true},
	{Name: "should admit passphraseLength 10", Spec: ad(complexity(lapsv1.ComplexityPassphraseShortWords), words(10)), Valid: true},
	{Name: "should reject passphraseLength 2", Spec: ad(words(2)), FieldContains: "passphraseLength"},
	{Name: "should reject passphraseLength 11", Spec: ad(words(11)), FieldContains: "passphraseLength"},

	{Name: "should admit passwordComplexity LargeLetters", Spec: ad(complexity(lapsv1.ComplexityLargeLetters)), Valid: true},
	{Name: "should admit passwordComplexity ImprovedReadability", Spec: ad(complexity(lapsv1.ComplexityLargeAndSmallLettersNumbersAndSpecialsImprovedReadability)), Valid: true},
	{Name: "should admit passwordComplexity PassphraseShortWordsWithUniquePrefix", Spec: entra(complexity(lapsv1.ComplexityPassphraseShortWordsWithUniquePrefix)), Valid: true},
	{Name: "should reject an unknown passwordComplexity", Spec: ad(complexity("4")), FieldContains: "passwordComplexity"},

	{Name: "should admit passwordExpirationProtectionEnabled false", Spec: ad(func(s *lapsv1.LapsPolicySpec) { s.PasswordExpirationProtectionEnabled = ptr.To(false) }), Valid: true},

	{Name: "should admit a SID principal", Spec: ad(principal("S-1-5-21-2127521184-1604012920-1887927527-35197")), Valid: true},
	{Name: `should admit a DOMAIN\name principal`, Spec: ad(principal(`contoso\LAPSAdmins`)), Valid: true},
	{Name: "should admit a name@domain principal", Spec: ad(principal("lapsadmins@contoso.com")), Valid: true},
	{Name: "should reject a quoted principal (Windows LAPS: enter it as-is)", Spec: ad(principal(`"contoso\LAPSAdmins"`)), FieldContains: "adPasswordEncryptionPrincipal"},
	{Name: "should reject a bare group name principal", Spec: ad(principal("Domain Admins")), FieldContains: "adPasswordEncryptionPrincipal"},
	{Name: "should reject an empty principal", Spec: ad(principal("")), FieldContains: "adPasswordEncryptionPrincipal"},
	{Name: "should reject a 513-character principal", Spec: ad(principal("S-1-5" + strings.Repeat("-1", 254))), FieldContains: "adPasswordEncryptionPrincipal"},
	{Name: `should admit DOMAIN\name with spaces (CORP\Domain Admins, the Windows LAPS default group)`, Spec: ad(principal(`CORP\Domain Admins`)), Valid: true},
	{Name: "should admit name@domain with spaces", Spec: ad(principal("Domain Admins@corp.example.com")), Valid: true},
	{Name: `should admit a DNS domain and punctuation AD allows (CORP.example.com\LAPS-Readers (Tier 0) & co.x)`, Spec: ad(principal(`corp.example.com\LAPS-Readers (Tier 0) & co.x`)), Valid: true},
	{Name: "should admit a 300-character group name", Spec: ad(principal(`CORP\` + strings.Repeat("g", 300))), Valid: true},
	{Name: "should reject a name with a trailing space", Spec: ad(principal(`CORP\Domain Admins `)), FieldContains: "adPasswordEncryptionPrincipal"},
	{Name: "should reject a name with a leading space", Spec: ad(principal(`CORP\ Domain Admins`)), FieldContains: "adPasswordEncryptionPrincipal"},
	{Name: "should reject a name with a trailing period", Spec: ad(principal(`CORP\admins.`)), FieldContains: "adPasswordEncryptionPrincipal"},
	{Name: "should reject a name with a control character", Spec: ad(principal("CORP\\Domain\tAdmins")), FieldContains: "adPasswordEncryptionPrincipal"},
	{Name: "should reject a name with a comma", Spec: ad(principal(`CORP\Admins,Tier0`)), FieldContains: "adPasswordEncryptionPrincipal"},
	{Name: "should reject a name with brackets", Spec: ad(principal(`CORP\[Admins]`)), FieldContains: "adPasswordEncryptionPrincipal"},
	{Name: "should reject a name with = + ; |", Spec: ad(principal(`CORP\a=b+c;d|e`)), FieldContains: "adPasswordEncryptionPrincipal"},
	{Name: "should reject a name with * ? < >", Spec: ad(principal(`CORP\a*b?<c>`)), FieldContains: "adPasswordEncryptionPrincipal"},
	{Name: "should reject a second backslash", Spec: ad(principal(`CORP\sub\admins`)), FieldContains: "adPasswordEncryptionPrincipal"},
	{Name: "should reject a domain with a colon", Spec: ad(principal(`CO:RP\admins`)), FieldContains: "adPasswordEncryptionPrincipal"},
	{Name: "should reject name@domain with a trailing space in the name", Spec: ad(principal("admins @contoso.com")), FieldContains: "adPasswordEncryptionPrincipal"},

	{Name: "should admit adEncryptedPasswordHistorySize 0", Spec: ad(history(0)), Valid: true},
	{Name: "should admit adEncryptedPasswordHistorySize 12", Spec: ad(history(12)), Valid: true},
	{Name: "should reject adEncryptedPasswordHistorySize -1", Spec: ad(history(-1)), FieldContains: "adEncryptedPasswordHistorySize"},
	{Name: "should reject adEncryptedPasswordHistorySize 13", Spec: ad(history(13)), FieldContains: "adEncryptedPasswordHistorySize"},

	{Name: "should admit postAuthenticationResetDelay 0", Spec: ad(delay(0)), Valid: true},
	{Name: "should admit postAuthenticationResetDelay 24", Spec: ad(delay(24)), Valid: true},
	{Name: "should reject postAuthenticationResetDelay -1", Spec: ad(delay(-1)), FieldContains: "postAuthenticationResetDelay"},
	{Name: "should reject postAuthenticationResetDelay 25", Spec: ad(delay(25)), FieldContains: "postAuthenticationResetDelay"},
	{Name: "should admit postAuthenticationActions ResetPasswordAndTerminateProcesses", Spec: entra(actions(lapsv1.PostAuthResetPasswordAndTerminateProcesses)), Valid: true},
	{Name: "should reject an unknown postAuthenticationActions", Spec: ad(actions("Reboot")), FieldContains: "postAuthenticationActions"},

	{Name: "should admit full automatic account management", Spec: entra(aam(lapsv1.AutomaticAccountManagement{Enabled: ptr.To(true), Target: ptr.To(lapsv1.AccountTargetBuiltinAdministrator), NameOrPrefix: ptr.To("Helpdesk"), EnableAccount: ptr.To(true), RandomizeName: ptr.To(true)})), Valid: true},
	{Name: "should reject an unknown automaticAccountManagement target", Spec: ad(aam(lapsv1.AutomaticAccountManagement{Target: ptr.To(lapsv1.AutomaticAccountManagementTarget("Guest"))})), FieldContains: "automaticAccountManagement.target"},
	{Name: "should reject an empty nameOrPrefix", Spec: ad(aam(lapsv1.AutomaticAccountManagement{NameOrPrefix: ptr.To("")})), FieldContains: "automaticAccountManagement.nameOrPrefix"},
	{Name: "should admit a 1-character nameOrPrefix", Spec: ad(aam(lapsv1.AutomaticAccountManagement{NameOrPrefix: ptr.To("n")})), Valid: true},
	{Name: "should admit a 256-character nameOrPrefix", Spec: ad(aam(lapsv1.AutomaticAccountManagement{NameOrPrefix: ptr.To(strings.Repeat("n", 256))})), Valid: true},
	{Name: "should reject a 257-character nameOrPrefix", Spec: ad(aam(lapsv1.AutomaticAccountManagement{NameOrPrefix: ptr.To(strings.Repeat("n", 257))})), FieldContains: "automaticAccountManagement.nameOrPrefix"},
	{Name: "should admit a nameOrPrefix with spaces and accents", Spec: ad(aam(lapsv1.AutomaticAccountManagement{NameOrPrefix: ptr.To("Gérant LAPS")})), Valid: true},
	{Name: "should reject a nameOrPrefix with a line break", Spec: ad(aam(lapsv1.AutomaticAccountManagement{NameOrPrefix: ptr.To("WLaps\r\nAdmin")})), FieldContains: "nameOrPrefix must be a Windows account name"},
	{Name: "should reject a nameOrPrefix with NUL", Spec: ad(aam(lapsv1.AutomaticAccountManagement{NameOrPrefix: ptr.To("WLaps\x00Admin")})), FieldContains: "nameOrPrefix must be a Windows account name"},
	{Name: "should reject a nameOrPrefix with a slash", Spec: ad(aam(lapsv1.AutomaticAccountManagement{NameOrPrefix: ptr.To("WLaps/Admin")})), FieldContains: "nameOrPrefix must be a Windows account name"},
	{Name: "should reject a nameOrPrefix with ; and =", Spec: ad(aam(lapsv1.AutomaticAccountManagement{NameOrPrefix: ptr.To("a;b=c")})), FieldContains: "nameOrPrefix must be a Windows account name"},

	{Name: "should admit rotation maxConcurrent 1 and ratePerMinute 1", Spec: ad(rotation(lapsv1.RotationSettings{MaxConcurrent: ptr.To[int32](1), RatePerMinute: ptr.To[int32](1)})), Valid: true},
	{Name: "should admit rotation maxConcurrent and ratePerMinute 100000", Spec: ad(rotation(lapsv1.RotationSettings{MaxConcurrent: ptr.To[int32](100000), RatePerMinute: ptr.To[int32](100000)})), Valid: true},
	{Name: "should reject rotation maxConcurrent 0", Spec: ad(rotation(lapsv1.RotationSettings{MaxConcurrent: ptr.To[int32](0)})), FieldContains: "rotation.maxConcurrent"},
	{Name: "should reject rotation maxConcurrent 100001", Spec: ad(rotation(lapsv1.RotationSettings{MaxConcurrent: ptr.To[int32](100001)})), FieldContains: "rotation.maxConcurrent"},
	{Name: "should reject rotation ratePerMinute 0", Spec: ad(rotation(lapsv1.RotationSettings{RatePerMinute: ptr.To[int32](0)})), FieldContains: "rotation.ratePerMinute"},
	{Name: "should reject rotation ratePerMinute 100001", Spec: ad(rotation(lapsv1.RotationSettings{RatePerMinute: ptr.To[int32](100001)})), FieldContains: "rotation.ratePerMinute"},

	{Name: "should admit a weekend window in Europe/Berlin", Spec: ad(windows(window(weekend, "22:00", 240, "Europe/Berlin"))), Valid: true},
	{Name: "should admit a window without a time zone (UTC)", Spec: ad(windows(window(weekend, "00:00", 1, ""))), Valid: true},
	{Name: "should admit a 1440-minute window at 23:59", Spec: ad(windows(window([]lapsv1.DayOfWeek{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}, "23:59", 1440, "UTC"))), Valid: true},
	{Name: "should admit 32 windows", Spec: ad(windows(nWindows(32)...)), Valid: true},
	{Name: "should admit all seven days in one window", Spec: ad(windows(window([]lapsv1.DayOfWeek{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}, "01:00", 60, "Asia/Kolkata"))), Valid: true},
	{Name: "should reject 33 windows", Spec: ad(windows(nWindows(33)...)), FieldContains: "maintenanceWindows"},
	{Name: "should reject a window without days", Spec: ad(windows(window(nil, "22:00", 60, "UTC"))), FieldContains: "maintenanceWindows[0].days"},
	{Name: "should reject an unknown day", Spec: ad(windows(window([]lapsv1.DayOfWeek{"Funday"}, "22:00", 60, "UTC"))), FieldContains: "maintenanceWindows[0].days[0]"},
	{Name: "should reject a repeated day", Spec: ad(windows(window([]lapsv1.DayOfWeek{"Monday", "Monday"}, "22:00", 60, "UTC"))), FieldContains: "maintenanceWindows[0].days[1]"},
	{Name: "should reject start 24:00", Spec: ad(windows(window(weekend, "24:00", 60, "UTC"))), FieldContains: "maintenanceWindows[0].start"},
	{Name: "should reject start 7:00 without a leading zero", Spec: ad(windows(window(weekend, "7:00", 60, "UTC"))), FieldContains: "maintenanceWindows[0].start"},
	{Name: "should reject durationMinutes 0", Spec: ad(windows(window(weekend, "22:00", 0, "UTC"))), FieldContains: "maintenanceWindows[0].durationMinutes"},
	{Name: "should reject durationMinutes 1441", Spec: ad(windows(window(weekend, "22:00", 1441, "UTC"))), FieldContains: "maintenanceWindows[0].durationMinutes"},
	{Name: "should reject a time zone with a space", Spec: ad(windows(window(weekend, "22:00", 60, "Europe/New York"))), FieldContains: "maintenanceWindows[0].timeZone"},
	{Name: "should admit a 64-character time zone in the CRD but not in Go (no such zone)", Spec: ad(windows(window(weekend, "22:00", 60, strings.Repeat("A", 64)))), FieldContains: "maintenanceWindows[0].timeZone", GoOnly: true},
	{Name: "should reject a 65-character time zone", Spec: ad(windows(window(weekend, "22:00", 60, strings.Repeat("A", 65)))), FieldContains: "maintenanceWindows[0].timeZone"},
	{Name: "should reject a well-formed but unknown time zone (Go only)", Spec: ad(windows(window(weekend, "22:00", 60, "Mars/Olympus_Mons"))), FieldContains: "maintenanceWindows[0].timeZone", GoOnly: true},

	{Name: "should admit a matchLabels and matchExpressions selector", Spec: ad(selector(metav1.LabelSelector{MatchLabels: map[string]string{"site": "berlin"}, MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"a", "b"}}}})), Valid: true},
	{Name: "should reject a selector with an unknown operator (Go only)", Spec: ad(selector(metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Near", Values: []string{"a"}}}})), FieldContains: "deviceSelector", GoOnly: true},

	// CEL rules, in marker order, each failing and passing.
	{Name: "CEL: should reject adPasswordEncryptionEnabled true on EntraID", Spec: entra(encryption(true)), FieldContains: "adPasswordEncryptionEnabled"},
	{Name: "CEL: should admit adPasswordEncryptionEnabled false on EntraID", Spec: entra(encryption(false)), Valid: true},
	{Name: "CEL: should reject a principal on EntraID", Spec: entra(principal("lapsadmins@contoso.com")), FieldContains: "adPasswordEncryptionPrincipal"},
	{Name: "CEL: should reject history 3 on EntraID", Spec: entra(history(3)), FieldContains: "adEncryptedPasswordHistorySize"},
	{Name: "CEL: should admit history 0 on EntraID", Spec: entra(history(0)), Valid: true},
	{Name: "CEL: should reject DSRM backup on EntraID", Spec: entra(root(lapsv1.PolicyRootGroupPolicy), dsrm(true)), FieldContains: "adBackupDSRMPassword"},
	{Name: "CEL: should admit DSRM backup false on EntraID", Spec: entra(dsrm(false)), Valid: true},
	{Name: "CEL: should reject history without encryption", Spec: ad(encryption(false), history(3)), FieldContains: "adEncryptedPasswordHistorySize"},
	{Name: "CEL: should admit history with encryption unset (true)", Spec: ad(history(3)), Valid: true},
	{Name: "CEL: should admit history 0 without encryption", Spec: ad(encryption(false), history(0)), Valid: true},
	{Name: "CEL: should reject DSRM backup without encryption", Spec: ad(root(lapsv1.PolicyRootGroupPolicy), encryption(false), dsrm(true)), FieldContains: "adBackupDSRMPassword"},
	{Name: "CEL: should admit DSRM backup through GroupPolicy with encryption", Spec: ad(root(lapsv1.PolicyRootGroupPolicy), encryption(true), dsrm(true)), Valid: true},
	{Name: "CEL: should reject LegacyLAPS with EntraID", Spec: entra(root(lapsv1.PolicyRootLegacyLAPS)), FieldContains: "policyRoot"},
	{Name: "CEL: should admit LegacyLAPS with a Disabled backup", Spec: spec(lapsv1.BackupDirectoryDisabled, root(lapsv1.PolicyRootLegacyLAPS)), Valid: true},
	{Name: "CEL: should reject a passphrase on LegacyLAPS", Spec: ad(root(lapsv1.PolicyRootLegacyLAPS), complexity(lapsv1.ComplexityPassphraseLongWords)), FieldContains: "passwordComplexity"},
	{Name: "CEL: should reject improved readability on LegacyLAPS", Spec: ad(root(lapsv1.PolicyRootLegacyLAPS), complexity(lapsv1.ComplexityLargeAndSmallLettersNumbersAndSpecialsImprovedReadability)), FieldContains: "passwordComplexity"},
	{Name: "CEL: should admit complexity LargeAndSmallLettersNumbersAndSpecials on LegacyLAPS", Spec: ad(root(lapsv1.PolicyRootLegacyLAPS), complexity(lapsv1.ComplexityLargeAndSmallLettersNumbersAndSpecials)), Valid: true},
	{Name: "CEL: should reject DSRM backup through CSP", Spec: ad(root(lapsv1.PolicyRootCSP), dsrm(true)), FieldContains: "adBackupDSRMPassword"},
	{Name: "CEL: should admit DSRM backup on ActiveDirectory without a root (derived root GroupPolicy)", Spec: ad(dsrm(true)), Valid: true},
	{Name: "CEL: should reject DSRM backup on Disabled without a root (derived root CSP)", Spec: spec(lapsv1.BackupDirectoryDisabled, dsrm(true)), FieldContains: "adBackupDSRMPassword"},
	{Name: "CEL: should admit DSRM backup false through CSP", Spec: ad(root(lapsv1.PolicyRootCSP), dsrm(false)), Valid: true},
}

func groups(ids ...string) func(*lapsv1.LapsPolicySpec) {
	return func(s *lapsv1.LapsPolicySpec) { s.Entra = &lapsv1.EntraPolicySettings{AssignToGroupIDs: ids} }
}

func manyGroups(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
	}
	return out
}
