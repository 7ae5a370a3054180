package render_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/policy"
	"github.com/fleetlaps/fleetlaps/internal/policy/policytest"
	"github.com/fleetlaps/fleetlaps/internal/render"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

func lapsPolicy(name string, spec lapsv1.LapsPolicySpec) *lapsv1.LapsPolicy {
	return &lapsv1.LapsPolicy{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "fleet"}, Spec: spec}
}

// goldenPolicies covers every root, both directories, Disabled, passphrases, DSRM and automatic
// account management.
func goldenPolicies() map[string]*lapsv1.LapsPolicy {
	ad := func(root lapsv1.PolicyRoot) lapsv1.LapsPolicySpec {
		return lapsv1.LapsPolicySpec{BackupDirectory: lapsv1.BackupDirectoryActiveDirectory, DirectoryRef: lapsv1.DirectoryReference{Name: "corp"}, PolicyRoot: root}
	}
	gpo := ad(lapsv1.PolicyRootGroupPolicy)
	gpo.ADBackupDSRMPassword = ptr.To(true)
	gpo.ADEncryptedPasswordHistorySize = ptr.To[int32](12)
	gpo.ADPasswordEncryptionPrincipal = ptr.To(`CONTOSO\LAPS-Décrypteurs`)
	gpo.AdministratorAccountName = ptr.To("LapsAdmin")
	local := ad(lapsv1.PolicyRootLocalConfiguration)
	local.PasswordComplexity = ptr.To(lapsv1.ComplexityPassphraseShortWordsWithUniquePrefix)
	local.PassphraseLength = ptr.To[int32](10)
	legacy := ad(lapsv1.PolicyRootLegacyLAPS)
	legacy.AdministratorAccountName = ptr.To("LegacyAdmin")
	legacy.PasswordLength = ptr.To[int32](20)
	legacy.PasswordAgeDays = ptr.To[int32](60)
	entraAAM := lapsv1.LapsPolicySpec{BackupDirectory: lapsv1.BackupDirectoryEntraID, DirectoryRef: lapsv1.DirectoryReference{Name: "tenant"},
		PasswordComplexity: ptr.To(lapsv1.ComplexityPassphraseLongWords), PassphraseLength: ptr.To[int32](5),
		PostAuthenticationActions: ptr.To(lapsv1.PostAuthResetPasswordAndTerminateProcesses),
		AutomaticAccountManagement: &lapsv1.AutomaticAccountManagement{Enabled: ptr.To(true), Target: ptr.To(lapsv1.AccountTargetNewCustomAdministrator),
			NameOrPrefix: ptr.To("FleetAdmin"), EnableAccount: ptr.To(true), RandomizeName: ptr.To(true)}}
	disabled := ad(lapsv1.PolicyRootGroupPolicy)
	disabled.BackupDirectory = lapsv1.BackupDirectoryDisabled
	return map[string]*lapsv1.LapsPolicy{
		"seed003-entra":    lapsPolicy("seed003-entra", policytest.SeedCSPExampleEntraID()),
		"seed003-hybrid":   lapsPolicy("seed003-hybrid", policytest.SeedCSPExampleActiveDirectory()),
		"gpo-dsrm":         lapsPolicy("gpo-dsrm", gpo),
		"local-passphrase": lapsPolicy("local-passphrase", local),
		"legacy":           lapsPolicy("legacy", legacy),
		"entra-aam":        lapsPolicy("entra-aam", entraAAM),
		"disabled":         lapsPolicy("disabled", disabled),
	}
}

var extension = map[string]string{
	render.FormatSyncML: "xml", render.FormatIntune: "intune.json", render.FormatRegistryPol: "pol",
	render.FormatRegistryText: "txt", render.FormatAgent: "agent.json",
}

func TestRender_Golden(t *testing.T) {
	for name, p := range goldenPolicies() {
		s := policy.Effective(&p.Spec)
		if errs := policy.Validate(&p.Spec); len(errs) > 0 {
			t.Fatalf("%s: invalid test policy: %v", name, errs)
		}
		for _, format := range render.Formats {
			t.Run(name+"/"+format, func(t *testing.T) {
				got, err := render.Render(format, s, render.WithName("fleetlaps fleet/"+name))
				if err != nil {
					t.Fatal(err)
				}
				again, _ := render.Render(format, s, render.WithName("fleetlaps fleet/"+name))
				if !bytes.Equal(got, again) {
					t.Fatal("not deterministic")
				}
				path := filepath.Join("testdata", "golden", name+"."+extension[format])
				if *update {
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, got, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test ./internal/render -update to create it)", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s differs from %s:\n%s", format, path, got)
				}
			})
		}
	}
}

// syncItem is one command of a SyncML document.
type syncItem struct {
	LocURI, Format, Data string
}

type syncCmd struct {
	CmdID string `xml:"CmdID"`
	CmdId string `xml:"CmdId"` // seed 003's spelling
	Item  struct {
		LocURI string `xml:"Target>LocURI"`
		Format string `xml:"Meta>Format"`
		Type   string `xml:"Meta>Type"`
		Data   string `xml:"Data"`
	} `xml:"Item"`
}

type syncDoc struct {
	Adds   []syncCmd `xml:"SyncBody>Add"`
	Atomic struct {
		CmdID    string    `xml:"CmdID"`
		Replaces []syncCmd `xml:"Replace"`
	} `xml:"SyncBody>Atomic"`
}

func parseSyncML(t *testing.T, data []byte) (items []syncItem, cmdIDs []string) {
	t.Helper()
	var d syncDoc
	if err := xml.Unmarshal(data, &d); err != nil {
		t.Fatalf("parse SyncML: %v", err)
	}
	if d.Atomic.CmdID != "" {
		cmdIDs = append(cmdIDs, d.Atomic.CmdID)
	}
	for _, c := range append(d.Adds, d.Atomic.Replaces...) {
		if c.Item.Type != "text/plain" {
			t.Errorf("%s: Meta/Type %q, want text/plain", c.Item.LocURI, c.Item.Type)
		}
		items = append(items, syncItem{c.Item.LocURI, c.Item.Format, c.Item.Data})
		cmdIDs = append(cmdIDs, c.CmdID+c.CmdId)
	}
	return items, cmdIDs
}

// TestSyncML_SeedExamples renders seed 003's two SyncML examples, written as LapsPolicies, and
// compares them item by item (LocURI, format, value) with the seed's XML, parsed.
func TestSyncML_SeedExamples(t *testing.T) {
	for name, spec := range map[string]lapsv1.LapsPolicySpec{
		"seed003-entra":  policytest.SeedCSPExampleEntraID(),
		"seed003-hybrid": policytest.SeedCSPExampleActiveDirectory(),
	} {
		t.Run("should reproduce seed 003's "+name+" example setting by setting", func(t *testing.T) {
			seed, err := os.ReadFile(filepath.Join("testdata", name+".xml"))
			if err != nil {
				t.Fatal(err)
			}
			want, _ := parseSyncML(t, seed)
			if len(want) < 7 {
				t.Fatalf("parsed only %d items from the seed", len(want))
			}
			arts, err := render.ForPolicy(lapsPolicy(name, spec))
			if err != nil {
				t.Fatal(err)
			}
			if arts[0].Format != render.FormatSyncML {
				t.Fatalf("first artefact of a CSP policy is %s", arts[0].Format)
			}
			got, ids := parseSyncML(t, arts[0].Data)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("rendered items differ from the seed:\n got %v\nwant %v", got, want)
			}
			seen := map[string]bool{}
			for _, id := range ids {
				if id == "" || seen[id] {
					t.Errorf("CmdID %q empty or repeated in %v", id, ids)
				}
				seen[id] = true
			}
		})
	}
}

func TestSyncML_NeverEmitsSettingsOutsideTheBackupDirectory(t *testing.T) {
	entra := policytest.SeedCSPExampleEntraID()
	entra.PasswordExpirationProtectionEnabled = ptr.To(true)
	entra.ADPasswordEncryptionEnabled = ptr.To(false)
	data, err := render.Render(render.FormatSyncML, policy.Effective(&entra))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"PasswordExpirationProtection", "ADPassword", "ADEncrypted", "DSRM", "PassphraseLength"} {
		if bytes.Contains(data, []byte(s)) {
			t.Errorf("EntraID SyncML contains %s", s)
		}
	}
	gp := policytest.SeedCSPExampleActiveDirectory()
	gp.PolicyRoot = lapsv1.PolicyRootGroupPolicy
	gp.ADBackupDSRMPassword = ptr.To(true)
	s := policy.Effective(&gp)
	s.PolicyRoot = lapsv1.PolicyRootCSP // as if delivered by CSP
	data, _ = render.Render(render.FormatSyncML, s)
	if bytes.Contains(data, []byte("DSRM")) {
		t.Error("CSP SyncML contains the DSRM setting, which the CSP does not have (seed 002)")
	}
}

func TestIntune_TemplateReferences(t *testing.T) {
	arts, err := render.ForPolicy(lapsPolicy("hybrid", policytest.SeedCSPExampleActiveDirectory()))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(arts[1].Data, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["templateReference"].(map[string]any)["templateId"] != "adc46e5a-f4aa-4ff6-aeff-4f27bc525796_1" || doc["platforms"] != "windows10" || doc["technologies"] != "mdm" {
		t.Fatalf("policy header wrong: %v", doc)
	}
	want := map[string][2]string{ // LAPS-REFERENCE.md §2
		"device_vendor_msft_laps_policies_backupdirectory":              {"a3270f64-e493-499d-8900-90290f61ed8a", "4d90f03d-e14c-43c4-86da-681da96a2f92"},
		"device_vendor_msft_laps_policies_passwordcomplexity":           {"8a7459e8-1d1c-458a-8906-7b27d216de52", "aa883ab5-625e-4e3b-b830-a37a4bb8ce01"},
		"device_vendor_msft_laps_policies_passwordlength":               {"da7a1dbd-caf7-4341-ab63-ece6f994ff02", "d08f1266-5345-4f53-8ae1-4c20e6cb5ec9"},
		"device_vendor_msft_laps_policies_postauthenticationresetdelay": {"a9e21166-4055-4042-9372-efaf3ef41868", "0deb6aee-8dac-40c4-a9dd-c3718e5c1d52"},
		"device_vendor_msft_laps_policies_postauthenticationactions":    {"d9282eb1-d187-42ae-b366-7081f32dcfff", "68ff4f78-baa8-4b32-bf3d-5ad5566d8142"},
		"device_vendor_msft_laps_policies_administratoraccountname":     {"d3d7d492-0019-4f56-96f8-1967f7deabeb", "992c7fce-f9e4-46ab-ac11-e167398859ea"},
	}
	got := map[string][2]string{}
	values := map[string]any{}
	var walk func(in map[string]any, top bool)
	walk = func(in map[string]any, top bool) {
		id := in["settingDefinitionId"].(string)
		ref, hasRef := in["settingInstanceTemplateReference"].(map[string]any)
		if hasRef != top {
			t.Errorf("%s: template reference present=%v at top level=%v", id, hasRef, top)
		}
		var val map[string]any
		if c, ok := in["choiceSettingValue"].(map[string]any); ok {
			val = c
			values[id] = c["value"]
			for _, ch := range c["children"].([]any) {
				walk(ch.(map[string]any), false)
			}
		} else {
			val = in["simpleSettingValue"].(map[string]any)
			values[id] = val["value"]
		}
		if top {
			vref := val["settingValueTemplateReference"].(map[string]any)
			if vref["useTemplateDefault"] != false {
				t.Errorf("%s: useTemplateDefault must be false", id)
			}
			got[id] = [2]string{ref["settingInstanceTemplateId"].(string), vref["settingValueTemplateId"].(string)}
		}
	}
	for _, s := range doc["settings"].([]any) {
		w := s.(map[string]any)
		if w["@odata.type"] != "#microsoft.graph.deviceManagementConfigurationSetting" {
			t.Errorf("settings[] element type %v", w["@odata.type"])
		}
		walk(w["settingInstance"].(map[string]any), true)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("template references:\n got %v\nwant %v", got, want)
	}
	p := "device_vendor_msft_laps_policies_"
	wantValues := map[string]any{
		p + "backupdirectory": p + "backupdirectory_2", p + "passwordagedays": float64(20),
		p + "passwordexpirationprotectionenabled": p + "passwordexpirationprotectionenabled_true",
		p + "adpasswordencryptionenabled":         p + "adpasswordencryptionenabled_true",
		p + "adpasswordencryptionprincipal":       "LAPSAdmins@contoso.com", p + "adencryptedpasswordhistorysize": float64(6),
		p + "passwordcomplexity": p + "passwordcomplexity_3", p + "passwordlength": float64(14),
		p + "administratoraccountname": "ContosoLocalLapsAdmin", p + "postauthenticationresetdelay": float64(4),
		p + "postauthenticationactions": p + "postauthenticationactions_5",
	}
	if !reflect.DeepEqual(values, wantValues) {
		t.Errorf("values:\n got %v\nwant %v", values, wantValues)
	}
}

func TestForPolicy_ArtefactsPerRoot(t *testing.T) {
	cases := map[lapsv1.PolicyRoot][]string{
		lapsv1.PolicyRootCSP:                {render.FormatSyncML, render.FormatIntune},
		"":                                  {render.FormatRegistryPol, render.FormatRegistryText}, // ActiveDirectory: derived root GroupPolicy
		lapsv1.PolicyRootGroupPolicy:        {render.FormatRegistryPol, render.FormatRegistryText},
		lapsv1.PolicyRootLocalConfiguration: {render.FormatAgent},
		lapsv1.PolicyRootLegacyLAPS:         {render.FormatRegistryPol, render.FormatRegistryText},
	}
	for root, want := range cases {
		t.Run("should render "+strings.Join(want, "+")+" for root "+string(root), func(t *testing.T) {
			spec := policytest.SeedCSPExampleActiveDirectory()
			spec.PolicyRoot = root
			arts, err := render.ForPolicy(lapsPolicy("p", spec))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range arts {
				got = append(got, a.Format)
				if a.Name == "" || a.ContentType == "" || len(a.Data) == 0 {
					t.Errorf("incomplete artefact %+v", a)
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("formats %v, want %v", got, want)
			}
		})
	}
}

func TestRender_RejectsInvalidInput(t *testing.T) {
	bad := policytest.SeedCSPExampleEntraID()
	bad.PasswordAgeDays = ptr.To[int32](3)
	if arts, err := render.ForPolicy(lapsPolicy("short", bad)); err == nil || arts != nil || !strings.Contains(err.Error(), "passwordAgeDays") {
		t.Errorf("ForPolicy = %v, %v; want no artefacts and an error naming passwordAgeDays", arts, err)
	}
	s := policy.Effective(ptr.To(policytest.SeedCSPExampleActiveDirectory()))
	s.PasswordLength = 100
	for _, f := range render.Formats {
		if data, err := render.Render(f, s); err == nil || data != nil || !strings.Contains(err.Error(), "passwordLength") || !strings.Contains(err.Error(), "between 8 and 64") {
			t.Errorf("%s: Render = %d bytes, %v; want an error naming passwordLength and its range", f, len(data), err)
		}
	}
	s = policy.Effective(ptr.To(policytest.SeedCSPExampleActiveDirectory()))
	s.PasswordComplexity = "Strong"
	if _, err := render.Render(render.FormatIntune, s); err == nil || !strings.Contains(err.Error(), "passwordComplexity") {
		t.Errorf("unknown complexity: %v", err)
	}
	if _, err := render.Render("pdf", s); err == nil || !strings.Contains(err.Error(), "syncml") {
		t.Errorf("unknown format: %v", err)
	}
}

// BenchmarkRender: µs per policy for each format (seed 003's hybrid example).
func BenchmarkRender(b *testing.B) {
	s := policy.Effective(ptr.To(policytest.SeedCSPExampleActiveDirectory()))
	for _, f := range render.Formats {
		b.Run(f, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := render.Render(f, s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("ForPolicy-CSP", func(b *testing.B) {
		p := lapsPolicy("hybrid", policytest.SeedCSPExampleActiveDirectory())
		b.ReportAllocs()
		for b.Loop() {
			if _, err := render.ForPolicy(p); err != nil {
				b.Fatal(err)
			}
		}
	})
}
