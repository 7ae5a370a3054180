package v1_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/policy/policytest"
	"github.com/fleetlaps/fleetlaps/internal/testenv"
)

// These tests send manifests to a real kube-apiserver (envtest) with server-side dry-run and
// strict field validation, so they exercise exactly what `kubectl apply` meets: the generated
// OpenAPI bounds, enums and CEL rules.

var (
	k8s     client.Client
	restCfg *rest.Config // the admin's; admissionpolicy_test.go impersonates users with it
)

func TestMain(m *testing.M) {
	os.Exit(runWithAPIServer(m))
}

func runWithAPIServer(m *testing.M) int {
	cfg, stop, err := testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = stop() }()
	restCfg = cfg
	scheme := runtime.NewScheme()
	if err := lapsv1.AddToScheme(scheme); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// admissionCase is one manifest and what admission must say about it.
type admissionCase struct {
	name string
	// spec is the YAML body of .spec.
	spec string
	// reject, when set, is a substring the 422 message must contain (the field or setting name).
	reject string
}

func dryRunCreate(t *testing.T, kind, spec string) error {
	t.Helper()
	body := map[string]any{}
	if err := yaml.Unmarshal([]byte(spec), &body); err != nil {
		t.Fatalf("bad test YAML: %v", err)
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": lapsv1.GroupVersion.String(),
		"kind":       kind,
		"metadata":   map[string]any{"generateName": "case-", "namespace": "default"},
		"spec":       body,
	}}
	return k8s.Create(context.Background(), u, client.DryRunAll, client.FieldValidation("Strict"))
}

func runAdmissionCases(t *testing.T, kind string, cases []admissionCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := dryRunCreate(t, kind, c.spec)
			if c.reject == "" {
				if err != nil {
					t.Fatalf("valid %s rejected: %v", kind, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("invalid %s accepted; want a 422 naming %q", kind, c.reject)
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("want 422 Invalid, got %s: %v", apierrors.ReasonForError(err), err)
			}
			if !strings.Contains(err.Error(), c.reject) {
				t.Fatalf("message does not name %q: %v", c.reject, err)
			}
		})
	}
}

const ad = "backupDirectory: ActiveDirectory\ndirectoryRef: {name: corp-ad}\n"
const entra = "backupDirectory: EntraID\ndirectoryRef: {name: contoso-entra}\n"

func TestLapsPolicyAdmission_Bounds(t *testing.T) {
	var cases []admissionCase
	bounds := []struct {
		field    string
		min, max int
		base     string
	}{
		{"passwordAgeDays", 1, 365, ad},
		{"passwordLength", 8, 64, ad},
		{"passphraseLength", 3, 10, ad},
		{"postAuthenticationResetDelay", 0, 24, ad},
		{"adEncryptedPasswordHistorySize", 0, 12, ad},
		{"passwordLength", 8, 64, entra},
		{"postAuthenticationResetDelay", 0, 24, entra},
	}
	for _, b := range bounds {
		dir := strings.Fields(b.base)[1]
		cases = append(cases,
			admissionCase{name: fmt.Sprintf("%s %s at minimum %d", dir, b.field, b.min), spec: b.base + fmt.Sprintf("%s: %d\n", b.field, b.min)},
			admissionCase{name: fmt.Sprintf("%s %s at maximum %d", dir, b.field, b.max), spec: b.base + fmt.Sprintf("%s: %d\n", b.field, b.max)},
			admissionCase{name: fmt.Sprintf("%s %s below minimum", dir, b.field), spec: b.base + fmt.Sprintf("%s: %d\n", b.field, b.min-1), reject: "spec." + b.field},
			admissionCase{name: fmt.Sprintf("%s %s above maximum", dir, b.field), spec: b.base + fmt.Sprintf("%s: %d\n", b.field, b.max+1), reject: "spec." + b.field},
		)
	}
	cases = append(cases,
		admissionCase{name: "EntraID passwordAgeDays at its minimum 7", spec: entra + "passwordAgeDays: 7\n"},
		admissionCase{name: "EntraID passwordAgeDays at maximum 365", spec: entra + "passwordAgeDays: 365\n"},
		admissionCase{name: "EntraID passwordAgeDays 6 is below the Entra minimum", spec: entra + "passwordAgeDays: 6\n", reject: "passwordAgeDays must be between 7 and 365 when backupDirectory is EntraID"},
		admissionCase{name: "administratorAccountName of 64 characters", spec: ad + "administratorAccountName: " + strings.Repeat("a", 64) + "\n"},
		admissionCase{name: "empty administratorAccountName", spec: ad + "administratorAccountName: \"\"\n", reject: "spec.administratorAccountName"},
		admissionCase{name: "priority may be negative", spec: ad + "priority: -5\n"},
	)
	runAdmissionCases(t, "LapsPolicy", cases)
}

func TestLapsPolicyAdmission_EnumsAreExactNames(t *testing.T) {
	var cases []admissionCase
	for _, v := range []string{"Disabled", "EntraID", "ActiveDirectory"} {
		cases = append(cases, admissionCase{name: "backupDirectory " + v, spec: "backupDirectory: " + v + "\ndirectoryRef: {name: d}\n"})
	}
	for _, v := range []string{"LargeLetters", "LargeAndSmallLetters", "LargeAndSmallLettersAndNumbers", "LargeAndSmallLettersNumbersAndSpecials",
		"LargeAndSmallLettersNumbersAndSpecialsImprovedReadability", "PassphraseLongWords", "PassphraseShortWords", "PassphraseShortWordsWithUniquePrefix"} {
		cases = append(cases, admissionCase{name: "passwordComplexity " + v, spec: ad + "passwordComplexity: " + v + "\n"})
	}
	for _, v := range []string{"ResetPassword", "ResetPasswordAndLogoff", "ResetPasswordAndReboot", "ResetPasswordAndTerminateProcesses"} {
		cases = append(cases, admissionCase{name: "postAuthenticationActions " + v, spec: ad + "postAuthenticationActions: " + v + "\n"})
	}
	for _, v := range []string{"CSP", "GroupPolicy", "LocalConfiguration", "LegacyLAPS"} {
		cases = append(cases, admissionCase{name: "policyRoot " + v, spec: ad + "policyRoot: " + v + "\n"})
	}
	for _, v := range []string{"BuiltinAdministrator", "NewCustomAdministrator"} {
		cases = append(cases, admissionCase{name: "automaticAccountManagement.target " + v, spec: ad + "automaticAccountManagement: {enabled: true, target: " + v + "}\n"})
	}
	cases = append(cases,
		admissionCase{name: "backupDirectory AzureAD is not a name", spec: "backupDirectory: AzureAD\ndirectoryRef: {name: d}\n", reject: "spec.backupDirectory"},
		admissionCase{name: "backupDirectory as the Windows integer is not accepted", spec: "backupDirectory: \"2\"\ndirectoryRef: {name: d}\n", reject: "spec.backupDirectory"},
		admissionCase{name: "passwordComplexity in lower case is not a name", spec: ad + "passwordComplexity: largeletters\n", reject: "spec.passwordComplexity"},
		admissionCase{name: "passwordComplexity 4 as a number", spec: ad + "passwordComplexity: \"4\"\n", reject: "spec.passwordComplexity"},
		admissionCase{name: "postAuthenticationActions Reboot is not a name", spec: ad + "postAuthenticationActions: Reboot\n", reject: "spec.postAuthenticationActions"},
		admissionCase{name: "policyRoot Intune is not a name", spec: ad + "policyRoot: Intune\n", reject: "spec.policyRoot"},
		admissionCase{name: "automaticAccountManagement.target Custom is not a name", spec: ad + "automaticAccountManagement: {target: Custom}\n", reject: "spec.automaticAccountManagement.target"},
		admissionCase{name: "backupDirectory is required", spec: "directoryRef: {name: d}\n", reject: "spec.backupDirectory"},
		admissionCase{name: "directoryRef is required", spec: "backupDirectory: ActiveDirectory\n", reject: "spec.directoryRef"},
		admissionCase{name: "directoryRef.name must be a DNS label", spec: "backupDirectory: ActiveDirectory\ndirectoryRef: {name: Corp_AD}\n", reject: "spec.directoryRef.name"},
	)
	runAdmissionCases(t, "LapsPolicy", cases)
}

func TestLapsPolicyAdmission_CrossFieldRules(t *testing.T) {
	runAdmissionCases(t, "LapsPolicy", []admissionCase{
		{name: "EntraID with encryption explicitly false", spec: entra + "adPasswordEncryptionEnabled: false\n"},
		{name: "EntraID with history 0 and DSRM false", spec: entra + "adEncryptedPasswordHistorySize: 0\nadBackupDSRMPassword: false\n"},
		{name: "EntraID with passwordExpirationProtectionEnabled is merely ignored", spec: entra + "passwordExpirationProtectionEnabled: true\n"},
		{name: "EntraID rejects encryption true", spec: entra + "adPasswordEncryptionEnabled: true\n", reject: "adPasswordEncryptionEnabled applies only to backupDirectory ActiveDirectory"},
		{name: "EntraID rejects a principal", spec: entra + "adPasswordEncryptionPrincipal: contoso\\LAPSAdmins\n", reject: "adPasswordEncryptionPrincipal applies only to backupDirectory ActiveDirectory"},
		{name: "EntraID rejects history", spec: entra + "adEncryptedPasswordHistorySize: 1\n", reject: "adEncryptedPasswordHistorySize applies only to backupDirectory ActiveDirectory"},
		{name: "EntraID rejects DSRM backup", spec: entra + "adBackupDSRMPassword: true\n", reject: "adBackupDSRMPassword applies only to backupDirectory ActiveDirectory"},
		{name: "AD history with encryption unset (default true)", spec: ad + "adEncryptedPasswordHistorySize: 12\n"},
		{name: "AD history with encryption true", spec: ad + "adPasswordEncryptionEnabled: true\nadEncryptedPasswordHistorySize: 6\n"},
		{name: "AD history without encryption", spec: ad + "adPasswordEncryptionEnabled: false\nadEncryptedPasswordHistorySize: 1\n", reject: "adEncryptedPasswordHistorySize greater than 0 requires adPasswordEncryptionEnabled"},
		{name: "AD history 0 without encryption", spec: ad + "adPasswordEncryptionEnabled: false\nadEncryptedPasswordHistorySize: 0\n"},
		{name: "AD DSRM with encryption through Group Policy", spec: ad + "policyRoot: GroupPolicy\nadBackupDSRMPassword: true\n"},
		{name: "AD DSRM without encryption", spec: ad + "policyRoot: GroupPolicy\nadPasswordEncryptionEnabled: false\nadBackupDSRMPassword: true\n", reject: "adBackupDSRMPassword true requires adPasswordEncryptionEnabled"},
		{name: "DSRM cannot be delivered by the CSP", spec: ad + "policyRoot: CSP\nadBackupDSRMPassword: true\n", reject: "adBackupDSRMPassword cannot be delivered through policyRoot CSP"},
		{name: "principal as a SID", spec: ad + "adPasswordEncryptionPrincipal: S-1-5-21-2127521184-1604012920-1887927527-35197\n"},
		{name: "principal as DOMAIN\\name", spec: ad + "adPasswordEncryptionPrincipal: contoso\\LAPSAdmins\n"},
		{name: "principal as name@domain", spec: ad + "adPasswordEncryptionPrincipal: lapsadmins@contoso.com\n"},
		{name: "principal with enclosing quotes", spec: ad + "adPasswordEncryptionPrincipal: '\"contoso\\LAPSAdmins\"'\n", reject: "adPasswordEncryptionPrincipal must be a SID"},
		{name: "principal that is a bare name", spec: ad + "adPasswordEncryptionPrincipal: LAPSAdmins\n", reject: "adPasswordEncryptionPrincipal must be a SID"},
		{name: "principal SID without sub-authorities", spec: ad + "adPasswordEncryptionPrincipal: S-1-5\n", reject: "adPasswordEncryptionPrincipal must be a SID"},
		{name: "principal group with a space", spec: ad + "adPasswordEncryptionPrincipal: 'CORP\\Domain Admins'\n"},
		{name: "principal group with a trailing space", spec: ad + "adPasswordEncryptionPrincipal: 'CORP\\Domain Admins '\n", reject: "adPasswordEncryptionPrincipal must be a SID"},
		{name: "principal group with a comma", spec: ad + "adPasswordEncryptionPrincipal: 'CORP\\Admins,Tier0'\n", reject: "adPasswordEncryptionPrincipal must be a SID"},
		{name: "LegacyLAPS with complexity 4", spec: ad + "policyRoot: LegacyLAPS\npasswordComplexity: LargeAndSmallLettersNumbersAndSpecials\n"},
		{name: "LegacyLAPS with a passphrase", spec: ad + "policyRoot: LegacyLAPS\npasswordComplexity: PassphraseLongWords\n", reject: "passwordComplexity with policyRoot LegacyLAPS"},
		{name: "LegacyLAPS cannot back up to Entra", spec: entra + "policyRoot: LegacyLAPS\n", reject: "policyRoot LegacyLAPS backs up to Active Directory only"},
		{name: "passphraseLength with a character complexity is merely ignored", spec: ad + "passwordComplexity: LargeLetters\npassphraseLength: 10\n"},
		{name: "Disabled policy with every other setting is merely ignored", spec: "backupDirectory: Disabled\ndirectoryRef: {name: d}\npasswordAgeDays: 3\nadEncryptedPasswordHistorySize: 3\nautomaticAccountManagement: {enabled: true}\n"},
	})
}

func TestLapsPolicyAdmission_Rotation(t *testing.T) {
	win := func(w string) string {
		return ad + "rotation:\n  maxConcurrent: 10\n  ratePerMinute: 60\n  maintenanceWindows:\n  - " + w + "\n"
	}
	runAdmissionCases(t, "LapsPolicy", []admissionCase{
		{name: "window crossing midnight", spec: win("{days: [Saturday, Sunday], start: \"22:00\", durationMinutes: 240, timeZone: Europe/Berlin}")},
		{name: "window defaulting to UTC", spec: win("{days: [Monday], start: \"00:00\", durationMinutes: 1440}")},
		{name: "maxConcurrent 0", spec: ad + "rotation: {maxConcurrent: 0}\n", reject: "spec.rotation.maxConcurrent"},
		{name: "ratePerMinute 0", spec: ad + "rotation: {ratePerMinute: 0}\n", reject: "spec.rotation.ratePerMinute"},
		{name: "start 24:00", spec: win("{days: [Monday], start: \"24:00\", durationMinutes: 60}"), reject: "spec.rotation.maintenanceWindows[0].start"},
		{name: "duration 0", spec: win("{days: [Monday], start: \"01:00\", durationMinutes: 0}"), reject: "spec.rotation.maintenanceWindows[0].durationMinutes"},
		{name: "duration over a day", spec: win("{days: [Monday], start: \"01:00\", durationMinutes: 1441}"), reject: "spec.rotation.maintenanceWindows[0].durationMinutes"},
		{name: "no days", spec: win("{days: [], start: \"01:00\", durationMinutes: 60}"), reject: "spec.rotation.maintenanceWindows[0].days"},
		{name: "day that does not exist", spec: win("{days: [Funday], start: \"01:00\", durationMinutes: 60}"), reject: "spec.rotation.maintenanceWindows[0].days"},
		{name: "time zone with spaces", spec: win("{days: [Monday], start: \"01:00\", durationMinutes: 60, timeZone: \"Central Europe\"}"), reject: "spec.rotation.maintenanceWindows[0].timeZone"},
	})
}

// seed003Examples are the two SyncML examples at the end of seed 003, written as LapsPolicies.
var seed003Examples = map[string]string{
	"Entra-joined device backing up to Entra ID": `
backupDirectory: EntraID
directoryRef: {name: contoso-entra}
policyRoot: CSP
passwordAgeDays: 7
passwordComplexity: LargeAndSmallLettersNumbersAndSpecials
passwordLength: 32
administratorAccountName: ContosoLocalLapsAdmin
postAuthenticationResetDelay: 8
postAuthenticationActions: ResetPasswordAndLogoff
`,
	"hybrid device backing up to AD with encryption": `
backupDirectory: ActiveDirectory
directoryRef: {name: corp-ad}
policyRoot: CSP
passwordAgeDays: 20
passwordComplexity: LargeAndSmallLettersAndNumbers
passwordLength: 14
administratorAccountName: ContosoLocalLapsAdmin
passwordExpirationProtectionEnabled: true
adPasswordEncryptionEnabled: true
adPasswordEncryptionPrincipal: LAPSAdmins@contoso.com
adEncryptedPasswordHistorySize: 6
postAuthenticationResetDelay: 4
postAuthenticationActions: ResetPasswordAndReboot
`,
}

func TestLapsPolicyAdmission_Seed003ExamplesAccepted(t *testing.T) {
	var cases []admissionCase
	for name, spec := range seed003Examples {
		cases = append(cases, admissionCase{name: name, spec: spec})
	}
	runAdmissionCases(t, "LapsPolicy", cases)
}

func TestLapsPolicyAdmission_DefaultsFromSeed002(t *testing.T) {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": lapsv1.GroupVersion.String(), "kind": "LapsPolicy",
		"metadata": map[string]any{"name": "defaults", "namespace": "default"},
		"spec":     map[string]any{"backupDirectory": "EntraID", "directoryRef": map[string]any{"name": "e"}},
	}}
	if err := k8s.Create(context.Background(), u, client.DryRunAll); err != nil {
		t.Fatal(err)
	}
	spec := u.Object["spec"].(map[string]any)
	want := map[string]any{
		"passwordAgeDays": int64(30), "passwordLength": int64(14), "passphraseLength": int64(6),
		"postAuthenticationResetDelay": int64(24), "passwordComplexity": "LargeAndSmallLettersNumbersAndSpecials",
		"postAuthenticationActions": "ResetPasswordAndLogoff",
	}
	for k, v := range want {
		if spec[k] != v {
			t.Errorf("default %s = %v (%T), want %v", k, spec[k], spec[k], v)
		}
	}
	// AD-only settings have no schema default: has() must stay false on an EntraID policy. Nor
	// has policyRoot: its default depends on backupDirectory (EffectivePolicyRoot, and the CEL
	// rules), so a manifest never carries a root its author did not choose.
	for _, k := range []string{"policyRoot", "adPasswordEncryptionEnabled", "adPasswordEncryptionPrincipal", "adEncryptedPasswordHistorySize", "adBackupDSRMPassword", "passwordExpirationProtectionEnabled"} {
		if _, ok := spec[k]; ok {
			t.Errorf("%s was defaulted by the schema; the policy engine owns that default", k)
		}
	}
}

func TestAdmission_StrictFieldValidationRejectsUnknownFields(t *testing.T) {
	err := dryRunCreate(t, "LapsPolicy", ad+"passwordAge: 30\n")
	if err == nil || !strings.Contains(err.Error(), "passwordAge") {
		t.Fatalf("unknown field accepted or not named: %v", err)
	}
}

func TestManagedDeviceAdmission(t *testing.T) {
	const guid = "6f1d0a4e-3b2c-4d5e-8f90-a1b2c3d4e5f6"
	runAdmissionCases(t, "ManagedDevice", []admissionCase{
		{name: "AD identity", spec: "directoryRef: {name: corp-ad}\nidentity:\n  activeDirectory: {distinguishedName: 'CN=PC1,OU=Workstations,DC=corp,DC=example', objectGUID: " + guid + ", sAMAccountName: PC1$}\n"},
		{name: "AD domain controller", spec: "directoryRef: {name: corp-ad}\nidentity:\n  activeDirectory: {distinguishedName: 'CN=DC1,OU=Domain Controllers,DC=corp,DC=example', domainController: true}\n"},
		{name: "Entra identity", spec: "directoryRef: {name: contoso-entra}\nidentity:\n  entraID: {deviceId: " + guid + ", managedDeviceId: " + guid + "}\n"},
		{name: "two identities", spec: "directoryRef: {name: corp-ad}\nidentity:\n  activeDirectory: {distinguishedName: 'CN=PC1,DC=corp'}\n  entraID: {deviceId: " + guid + "}\n", reject: "identity must set exactly one of activeDirectory or entraID"},
		{name: "no identity", spec: "directoryRef: {name: corp-ad}\nidentity: {}\n", reject: "identity must set exactly one of activeDirectory or entraID"},
		{name: "objectGUID that is not a GUID", spec: "directoryRef: {name: corp-ad}\nidentity:\n  activeDirectory: {distinguishedName: 'CN=PC1,DC=corp', objectGUID: not-a-guid}\n", reject: "spec.identity.activeDirectory.objectGUID"},
		{name: "Entra deviceId that is not a GUID", spec: "directoryRef: {name: e}\nidentity:\n  entraID: {deviceId: PC1}\n", reject: "spec.identity.entraID.deviceId"},
		{name: "missing directoryRef", spec: "identity:\n  entraID: {deviceId: " + guid + "}\n", reject: "spec.directoryRef"},
	})
}

func TestRotationRequestAdmission(t *testing.T) {
	runAdmissionCases(t, "RotationRequest", []admissionCase{
		{name: "by device name", spec: "deviceName: pc1\nreason: helpdesk ticket 4711\n"},
		{name: "by selector with deadline and TTL", spec: "deviceSelector: {matchLabels: {tier: frontline}}\nreason: suspected compromise\ndeadline: '2026-12-01T00:00:00Z'\nttlSecondsAfterFinished: 3600\n"},
		{name: "both name and selector", spec: "deviceName: pc1\ndeviceSelector: {}\nreason: r\n", reject: "set exactly one of deviceName or deviceSelector"},
		{name: "neither name nor selector", spec: "reason: r\n", reject: "set exactly one of deviceName or deviceSelector"},
		{name: "empty reason", spec: "deviceName: pc1\nreason: \"\"\n", reject: "spec.reason"},
		{name: "missing reason", spec: "deviceName: pc1\n", reject: "spec.reason"},
		{name: "negative TTL", spec: "deviceName: pc1\nreason: r\nttlSecondsAfterFinished: -1\n", reject: "spec.ttlSecondsAfterFinished"},
	})
}

func TestRotationRequestAdmission_SpecIsImmutable(t *testing.T) {
	ctx := context.Background()
	rr := &lapsv1.RotationRequest{}
	rr.Name, rr.Namespace = "immutable", "default"
	rr.Spec = lapsv1.RotationRequestSpec{DeviceName: "pc1", Reason: "first reason"}
	if err := k8s.Create(ctx, rr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(ctx, rr) })
	rr.Spec.Reason = "rewritten reason"
	err := k8s.Update(ctx, rr)
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "RotationRequest spec is immutable") {
		t.Fatalf("spec update: want 422 naming immutability, got %v", err)
	}
}

func TestAdmission_StatusIsASubresource(t *testing.T) {
	ctx := context.Background()
	md := &lapsv1.ManagedDevice{}
	md.Name, md.Namespace = "status-sub", "default"
	md.Spec.DirectoryRef.Name = "corp-ad"
	md.Spec.Identity.ActiveDirectory = &lapsv1.ActiveDirectoryIdentity{DistinguishedName: "CN=PC9,DC=corp"}
	md.Status.Account = "ignored-on-create"
	if err := k8s.Create(ctx, md); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(ctx, md) })
	if md.Status.Account != "" {
		t.Fatalf("status written through the main resource: %q", md.Status.Account)
	}
	md.Status.Account = "Administrator"
	if err := k8s.Status().Update(ctx, md); err != nil {
		t.Fatalf("status subresource update: %v", err)
	}
}

// TestLapsPolicyAdmission_AgreesWithGoValidation sends the policy engine's shared table (the one
// policy.Validate and kubectl-laps are tested on) to the real apiserver: one set of rules, two
// implementations, same verdicts.
func TestLapsPolicyAdmission_AgreesWithGoValidation(t *testing.T) {
	for _, c := range policytest.AdmissionCases {
		t.Run(c.Name, func(t *testing.T) {
			p := &lapsv1.LapsPolicy{Spec: c.Spec}
			p.GenerateName, p.Namespace = "table-", "default"
			err := k8s.Create(context.Background(), p, client.DryRunAll, client.FieldValidation("Strict"))
			switch {
			case c.Valid || c.GoOnly:
				if err != nil {
					t.Fatalf("apiserver rejected a spec the table admits: %v", err)
				}
			case err == nil:
				t.Fatalf("apiserver admitted a spec the table rejects (want an error naming %q)", c.FieldContains)
			case !apierrors.IsInvalid(err):
				t.Fatalf("want 422 Invalid, got %s: %v", apierrors.ReasonForError(err), err)
			case !strings.Contains(err.Error(), c.FieldContains):
				t.Fatalf("apiserver message does not name %q: %v", c.FieldContains, err)
			}
		})
	}
}
