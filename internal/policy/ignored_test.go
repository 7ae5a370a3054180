package policy_test

import (
	"strings"
	"testing"

	"k8s.io/utils/ptr"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/policy"
	"github.com/fleetlaps/fleetlaps/internal/policy/policytest"
)

func TestIgnored(t *testing.T) {
	ref := lapsv1.DirectoryReference{Name: "corp"}
	adSpec := func(m func(*lapsv1.LapsPolicySpec)) lapsv1.LapsPolicySpec {
		s := lapsv1.LapsPolicySpec{BackupDirectory: lapsv1.BackupDirectoryActiveDirectory, DirectoryRef: ref}
		m(&s)
		return s
	}
	cases := []struct {
		name string
		spec lapsv1.LapsPolicySpec
		want []string // "field: reason fragment"
	}{
		{name: "should report only the 21-character account name of seed 003's hybrid example", spec: policytest.SeedCSPExampleActiveDirectory(),
			want: []string{"longer than 20 characters (21)"}},
		{name: "should report nothing for CRD-defaulted fields at their defaults", spec: adSpec(func(s *lapsv1.LapsPolicySpec) {
			s.PasswordLength, s.PassphraseLength, s.PostAuthenticationResetDelay = ptr.To[int32](14), ptr.To[int32](6), ptr.To[int32](24)
			s.PasswordComplexity, s.PostAuthenticationActions = ptr.To(lapsv1.ComplexityLargeAndSmallLettersNumbersAndSpecials), ptr.To(lapsv1.PostAuthResetPasswordAndLogoff)
		})},
		{name: "should report the 21-character account name of seed 003's Azure example", spec: policytest.SeedCSPExampleEntraID(),
			want: []string{`administratorAccountName: "ContosoLocalLapsAdmin" is not a valid Windows local account name: longer than 20 characters (21)`}},
		{name: "should report passphraseLength with a character complexity", spec: adSpec(func(s *lapsv1.LapsPolicySpec) { s.PassphraseLength = ptr.To[int32](8) }),
			want: []string{"passphraseLength: ignored because passwordComplexity"}},
		{name: "should report passwordLength with a passphrase complexity", spec: adSpec(func(s *lapsv1.LapsPolicySpec) {
			s.PasswordComplexity, s.PasswordLength = ptr.To(lapsv1.ComplexityPassphraseLongWords), ptr.To[int32](20)
		}), want: []string{"passwordLength: ignored because passwordComplexity PassphraseLongWords"}},
		{name: "should report administratorAccountName with automatic account management", spec: adSpec(func(s *lapsv1.LapsPolicySpec) {
			s.AdministratorAccountName = ptr.To("Admin2")
			s.AutomaticAccountManagement = &lapsv1.AutomaticAccountManagement{Enabled: ptr.To(true)}
		}), want: []string{"administratorAccountName: ignored when automaticAccountManagement is enabled"}},
		{name: "should report everything beyond backupDirectory on a Disabled policy", spec: lapsv1.LapsPolicySpec{BackupDirectory: lapsv1.BackupDirectoryDisabled, DirectoryRef: ref,
			PasswordAgeDays: ptr.To[int32](10), AdministratorAccountName: ptr.To("x")},
			want: []string{"administratorAccountName: backupDirectory is Disabled", "passwordAgeDays: backupDirectory is Disabled"}},
		{name: "should report passwordExpirationProtectionEnabled on EntraID", spec: lapsv1.LapsPolicySpec{BackupDirectory: lapsv1.BackupDirectoryEntraID, DirectoryRef: ref,
			PasswordExpirationProtectionEnabled: ptr.To(true), ADPasswordEncryptionEnabled: ptr.To(false)},
			want: []string{"passwordExpirationProtectionEnabled: applies only to backupDirectory ActiveDirectory", "adPasswordEncryptionEnabled: applies only to backupDirectory ActiveDirectory"}},
		{name: "should report an account name with a forbidden character", spec: adSpec(func(s *lapsv1.LapsPolicySpec) { s.AdministratorAccountName = ptr.To("lab@admin") }),
			want: []string{`administratorAccountName: "lab@admin" is not a valid Windows local account name: contains "@"`}},
		{name: "should report an account name of only dots and spaces", spec: adSpec(func(s *lapsv1.LapsPolicySpec) { s.AdministratorAccountName = ptr.To(". .") }),
			want: []string{"administratorAccountName: \". .\" is not a valid Windows local account name: consists only of periods and spaces"}},
		{name: "should report a randomized nameOrPrefix longer than 14 characters as truncated", spec: adSpec(func(s *lapsv1.LapsPolicySpec) {
			s.AutomaticAccountManagement = &lapsv1.AutomaticAccountManagement{Enabled: ptr.To(true), RandomizeName: ptr.To(true), NameOrPrefix: ptr.To("FleetLocalAdmin1")}
		}), want: []string{`automaticAccountManagement.nameOrPrefix: "FleetLocalAdmin1" is longer than 14 characters and is truncated to "FleetLocalAdmi"`}},
		{name: "should not report a 16-character nameOrPrefix without randomizeName", spec: adSpec(func(s *lapsv1.LapsPolicySpec) {
			s.AutomaticAccountManagement = &lapsv1.AutomaticAccountManagement{Enabled: ptr.To(true), NameOrPrefix: ptr.To("FleetLocalAdmin1")}
		})},
		{name: "should report automatic account sub-settings when it is not enabled", spec: adSpec(func(s *lapsv1.LapsPolicySpec) {
			s.AutomaticAccountManagement = &lapsv1.AutomaticAccountManagement{NameOrPrefix: ptr.To("X"), RandomizeName: ptr.To(true)}
		}), want: []string{"automaticAccountManagement.nameOrPrefix: ignored unless", "automaticAccountManagement.randomizeName: ignored unless"}},
		{name: "should report the principal when encryption is off", spec: adSpec(func(s *lapsv1.LapsPolicySpec) {
			s.ADPasswordEncryptionEnabled, s.ADPasswordEncryptionPrincipal = ptr.To(false), ptr.To(`corp\laps`)
		}), want: []string{"adPasswordEncryptionPrincipal: ignored unless adPasswordEncryptionEnabled is true"}},
		{name: "should report post-authentication actions when the delay disables them", spec: adSpec(func(s *lapsv1.LapsPolicySpec) {
			s.PostAuthenticationResetDelay, s.PostAuthenticationActions = ptr.To[int32](0), ptr.To(lapsv1.PostAuthResetPasswordAndReboot)
		}), want: []string{"postAuthenticationActions: ignored because postAuthenticationResetDelay 0"}},
		{name: "should report Windows LAPS-only settings on the legacy root", spec: adSpec(func(s *lapsv1.LapsPolicySpec) {
			s.PolicyRoot = lapsv1.PolicyRootLegacyLAPS
			s.ADPasswordEncryptionEnabled = ptr.To(true)
			s.PostAuthenticationResetDelay = ptr.To[int32](1)
		}), want: []string{"adPasswordEncryptionEnabled: policyRoot LegacyLAPS has no such setting", "postAuthenticationResetDelay: policyRoot LegacyLAPS has no post-authentication actions"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := policy.Ignored(&tc.spec)
			if len(got) != len(tc.want) {
				t.Fatalf("Ignored = %v, want %d entries %v", got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(got[i].String(), w) && !strings.Contains(got[i].String(), w) {
					t.Errorf("entry %d = %q, want it to contain %q", i, got[i].String(), w)
				}
			}
			// Deterministic: the same spec gives the same list.
			if again := policy.Ignored(&tc.spec); len(again) != len(got) {
				t.Errorf("not deterministic")
			}
		})
	}
}

func TestCheckCompatibility(t *testing.T) {
	base := policy.Settings{BackupDirectory: lapsv1.BackupDirectoryEntraID, PolicyRoot: lapsv1.PolicyRootCSP, PasswordComplexity: lapsv1.ComplexityLargeAndSmallLettersNumbersAndSpecials, PostAuthenticationActions: lapsv1.PostAuthResetPasswordAndLogoff}
	passphrase := base
	passphrase.PasswordComplexity = lapsv1.ComplexityPassphraseLongWords
	readable := base
	readable.PasswordComplexity = lapsv1.ComplexityLargeAndSmallLettersNumbersAndSpecialsImprovedReadability
	terminate := base
	terminate.PostAuthenticationActions = lapsv1.PostAuthResetPasswordAndTerminateProcesses
	auto := base
	auto.AutomaticAccountManagement.Enabled = true
	legacy := policy.Settings{BackupDirectory: lapsv1.BackupDirectoryActiveDirectory, PolicyRoot: lapsv1.PolicyRootLegacyLAPS, PasswordComplexity: lapsv1.ComplexityLargeAndSmallLettersNumbersAndSpecials}

	cases := []struct {
		name       string
		s          policy.Settings
		build      string
		compatible bool
		unknown    bool
		reason     string
		msg        string
	}{
		{"should be unknown without an OS build", passphrase, "", true, true, policy.ReasonOSBuildUnknown, "not reported"},
		{"should refuse an unparseable build with a clear message", base, "Windows 11", false, false, policy.ReasonOSBuildInvalid, "expected MAJOR.MINOR.BUILD"},
		{"should refuse a build that is not 10.0", base, "6.3.9600", false, false, policy.ReasonOSBuildInvalid, "not Windows 10"},
		{"should accept character passwords on Windows 10 22H2 after April 2023", base, "10.0.19045.3803", true, false, policy.ReasonCompatible, ""},
		{"should refuse Windows 10 22H2 before the April 2023 update", base, "10.0.19045.2728", false, false, policy.ReasonWindowsLAPSUnavailable, "April 11 2023"},
		{"should refuse Windows Server 2016 for Windows LAPS", base, "10.0.14393.5000", false, false, policy.ReasonWindowsLAPSUnavailable, "no Windows LAPS"},
		{"should accept the legacy root on Windows Server 2016", legacy, "10.0.14393.5000", true, false, policy.ReasonCompatible, ""},
		{"should refuse passphrases before build 26100", passphrase, "10.0.22631.4460", false, false, policy.ReasonNeedsNewerBuild, "passwordComplexity PassphraseLongWords needs build 10.0.26100"},
		{"should accept passphrases on Windows 11 24H2", passphrase, "10.0.26100.2033", true, false, policy.ReasonCompatible, ""},
		{"should accept passphrases on a build without revision", passphrase, "10.0.26100", true, false, policy.ReasonCompatible, ""},
		{"should refuse improved readability before build 26100", readable, "10.0.22621.2000", false, false, policy.ReasonNeedsNewerBuild, "ImprovedReadability"},
		{"should refuse post-authentication action 11 on Server 2022", terminate, "10.0.20348.2000", false, false, policy.ReasonNeedsNewerBuild, "ResetPasswordAndTerminateProcesses (11)"},
		{"should refuse automatic account management before build 26100", auto, "10.0.22631.1", false, false, policy.ReasonNeedsNewerBuild, "automaticAccountManagement"},
		{"should accept automatic account management on Server 2025", auto, "10.0.26100.1742", true, false, policy.ReasonCompatible, ""},
		{"should accept anything for a Disabled policy", policy.Settings{BackupDirectory: lapsv1.BackupDirectoryDisabled}, "garbage", true, false, policy.ReasonCompatible, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := policy.CheckCompatibility(tc.s, tc.build)
			if got.Compatible != tc.compatible || got.Unknown != tc.unknown || got.Reason != tc.reason || !strings.Contains(got.Message, tc.msg) {
				t.Errorf("CheckCompatibility(%q) = %+v, want compatible=%v unknown=%v reason=%s message containing %q", tc.build, got, tc.compatible, tc.unknown, tc.reason, tc.msg)
			}
		})
	}
}
