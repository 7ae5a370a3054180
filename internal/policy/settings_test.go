package policy_test

import (
	"reflect"
	"testing"

	"k8s.io/utils/ptr"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/policy"
	"github.com/fleetlaps/fleetlaps/internal/policy/policytest"
)

func TestEffective(t *testing.T) {
	ref := lapsv1.DirectoryReference{Name: "corp"}
	cases := map[string]struct {
		spec lapsv1.LapsPolicySpec
		want policy.Settings
	}{
		"should fill every seed 002 default for an ActiveDirectory policy": {
			spec: lapsv1.LapsPolicySpec{BackupDirectory: lapsv1.BackupDirectoryActiveDirectory, DirectoryRef: ref},
			want: policy.Settings{
				BackupDirectory: lapsv1.BackupDirectoryActiveDirectory, PolicyRoot: lapsv1.PolicyRootGroupPolicy,
				PasswordAgeDays: 30, PasswordLength: 14, PasswordComplexity: lapsv1.ComplexityLargeAndSmallLettersNumbersAndSpecials,
				PasswordExpirationProtectionEnabled: true, ADPasswordEncryptionEnabled: true,
				PostAuthenticationResetDelay: 24, PostAuthenticationActions: lapsv1.PostAuthResetPasswordAndLogoff,
			},
		},
		"should leave the AD-only settings out of an EntraID policy": {
			spec: lapsv1.LapsPolicySpec{BackupDirectory: lapsv1.BackupDirectoryEntraID, DirectoryRef: ref,
				PasswordExpirationProtectionEnabled: ptr.To(true), ADPasswordEncryptionEnabled: ptr.To(false)},
			want: policy.Settings{
				BackupDirectory: lapsv1.BackupDirectoryEntraID, PolicyRoot: lapsv1.PolicyRootCSP,
				PasswordAgeDays: 30, PasswordLength: 14, PasswordComplexity: lapsv1.ComplexityLargeAndSmallLettersNumbersAndSpecials,
				PostAuthenticationResetDelay: 24, PostAuthenticationActions: lapsv1.PostAuthResetPasswordAndLogoff,
			},
		},
		"should keep only backupDirectory and root of a Disabled policy": {
			spec: lapsv1.LapsPolicySpec{BackupDirectory: lapsv1.BackupDirectoryDisabled, DirectoryRef: ref, PolicyRoot: lapsv1.PolicyRootGroupPolicy, PasswordAgeDays: ptr.To[int32](9)},
			want: policy.Settings{BackupDirectory: lapsv1.BackupDirectoryDisabled, PolicyRoot: lapsv1.PolicyRootGroupPolicy},
		},
		"should default passwordExpirationProtectionEnabled to false on the legacy LAPS root": {
			spec: lapsv1.LapsPolicySpec{BackupDirectory: lapsv1.BackupDirectoryActiveDirectory, DirectoryRef: ref, PolicyRoot: lapsv1.PolicyRootLegacyLAPS,
				AdministratorAccountName: ptr.To("LapsAdmin"), PostAuthenticationResetDelay: ptr.To[int32](2)},
			want: policy.Settings{
				BackupDirectory: lapsv1.BackupDirectoryActiveDirectory, PolicyRoot: lapsv1.PolicyRootLegacyLAPS, AdministratorAccountName: "LapsAdmin",
				PasswordAgeDays: 30, PasswordLength: 14, PasswordComplexity: lapsv1.ComplexityLargeAndSmallLettersNumbersAndSpecials,
			},
		},
		"should use passphraseLength and drop passwordLength with a passphrase complexity": {
			spec: lapsv1.LapsPolicySpec{BackupDirectory: lapsv1.BackupDirectoryEntraID, DirectoryRef: ref,
				PasswordComplexity: ptr.To(lapsv1.ComplexityPassphraseShortWords), PasswordLength: ptr.To[int32](40), PassphraseLength: ptr.To[int32](8)},
			want: policy.Settings{
				BackupDirectory: lapsv1.BackupDirectoryEntraID, PolicyRoot: lapsv1.PolicyRootCSP,
				PasswordAgeDays: 30, PassphraseLength: 8, PasswordComplexity: lapsv1.ComplexityPassphraseShortWords,
				PostAuthenticationResetDelay: 24, PostAuthenticationActions: lapsv1.PostAuthResetPasswordAndLogoff,
			},
		},
		"should fill the automatic account defaults and drop administratorAccountName when enabled": {
			spec: lapsv1.LapsPolicySpec{BackupDirectory: lapsv1.BackupDirectoryEntraID, DirectoryRef: ref, AdministratorAccountName: ptr.To("Ignored"),
				AutomaticAccountManagement: &lapsv1.AutomaticAccountManagement{Enabled: ptr.To(true)}},
			want: policy.Settings{
				BackupDirectory: lapsv1.BackupDirectoryEntraID, PolicyRoot: lapsv1.PolicyRootCSP,
				PasswordAgeDays: 30, PasswordLength: 14, PasswordComplexity: lapsv1.ComplexityLargeAndSmallLettersNumbersAndSpecials,
				PostAuthenticationResetDelay: 24, PostAuthenticationActions: lapsv1.PostAuthResetPasswordAndLogoff,
				AutomaticAccountManagement: policy.AccountManagement{Enabled: true, Target: lapsv1.AccountTargetNewCustomAdministrator, NameOrPrefix: "WLapsAdmin"},
			},
		},
		"should drop principal and history when encryption is off": {
			spec: lapsv1.LapsPolicySpec{BackupDirectory: lapsv1.BackupDirectoryActiveDirectory, DirectoryRef: ref, PolicyRoot: lapsv1.PolicyRootGroupPolicy,
				ADPasswordEncryptionEnabled: ptr.To(false), ADPasswordEncryptionPrincipal: ptr.To(`corp\laps`)},
			want: policy.Settings{
				BackupDirectory: lapsv1.BackupDirectoryActiveDirectory, PolicyRoot: lapsv1.PolicyRootGroupPolicy,
				PasswordAgeDays: 30, PasswordLength: 14, PasswordComplexity: lapsv1.ComplexityLargeAndSmallLettersNumbersAndSpecials,
				PasswordExpirationProtectionEnabled: true,
				PostAuthenticationResetDelay:        24, PostAuthenticationActions: lapsv1.PostAuthResetPasswordAndLogoff,
			},
		},
		"should keep DSRM backup on the GroupPolicy root with encryption": {
			spec: lapsv1.LapsPolicySpec{BackupDirectory: lapsv1.BackupDirectoryActiveDirectory, DirectoryRef: ref, PolicyRoot: lapsv1.PolicyRootGroupPolicy,
				ADBackupDSRMPassword: ptr.To(true), ADEncryptedPasswordHistorySize: ptr.To[int32](12)},
			want: policy.Settings{
				BackupDirectory: lapsv1.BackupDirectoryActiveDirectory, PolicyRoot: lapsv1.PolicyRootGroupPolicy,
				PasswordAgeDays: 30, PasswordLength: 14, PasswordComplexity: lapsv1.ComplexityLargeAndSmallLettersNumbersAndSpecials,
				PasswordExpirationProtectionEnabled: true, ADPasswordEncryptionEnabled: true, ADEncryptedPasswordHistorySize: 12, ADBackupDSRMPassword: true,
				PostAuthenticationResetDelay: 24, PostAuthenticationActions: lapsv1.PostAuthResetPasswordAndLogoff,
			},
		},
		"should carry seed 003's hybrid example value for value": {
			spec: policytest.SeedCSPExampleActiveDirectory(),
			want: policy.Settings{
				BackupDirectory: lapsv1.BackupDirectoryActiveDirectory, PolicyRoot: lapsv1.PolicyRootCSP, AdministratorAccountName: "ContosoLocalLapsAdmin",
				PasswordAgeDays: 20, PasswordLength: 14, PasswordComplexity: lapsv1.ComplexityLargeAndSmallLettersAndNumbers,
				PasswordExpirationProtectionEnabled: true, ADPasswordEncryptionEnabled: true, ADPasswordEncryptionPrincipal: "LAPSAdmins@contoso.com",
				ADEncryptedPasswordHistorySize: 6, PostAuthenticationResetDelay: 4, PostAuthenticationActions: lapsv1.PostAuthResetPasswordAndReboot,
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := policy.Effective(&tc.spec); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Effective:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestHash(t *testing.T) {
	a := policytest.SeedCSPExampleActiveDirectory()
	base := policy.Hash(policy.Effective(&a))
	if len(base) != 16 {
		t.Fatalf("hash %q: want 16 hex characters", base)
	}
	if again := policy.Hash(policy.Effective(&a)); again != base {
		t.Errorf("hash not stable: %s then %s", base, again)
	}
	// A setting Windows ignores is not rendered, so the hash must not move.
	b := a
	b.PassphraseLength = ptr.To[int32](9)
	b.Rotation = &lapsv1.RotationSettings{MaxConcurrent: ptr.To[int32](3)}
	b.Priority = 7
	if h := policy.Hash(policy.Effective(&b)); h != base {
		t.Errorf("hash changed for an ignored setting: %s -> %s", base, h)
	}
	c := a
	c.PasswordAgeDays = ptr.To[int32](21)
	if h := policy.Hash(policy.Effective(&c)); h == base {
		t.Errorf("hash did not change with passwordAgeDays")
	}
	// Explicit defaults and unset fields render the same.
	d := lapsv1.LapsPolicySpec{BackupDirectory: lapsv1.BackupDirectoryActiveDirectory}
	e := lapsv1.LapsPolicySpec{BackupDirectory: lapsv1.BackupDirectoryActiveDirectory, PolicyRoot: lapsv1.PolicyRootGroupPolicy, PasswordAgeDays: ptr.To[int32](30), ADPasswordEncryptionEnabled: ptr.To(true)}
	if policy.Hash(policy.Effective(&d)) != policy.Hash(policy.Effective(&e)) {
		t.Errorf("explicit defaults hash differently from unset fields")
	}
}
