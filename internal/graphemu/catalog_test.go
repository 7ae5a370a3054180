package graphemu

import (
	"encoding/json"
	"strings"
	"testing"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/policy"
	"github.com/fleetlaps/fleetlaps/internal/policy/policytest"
	"github.com/fleetlaps/fleetlaps/internal/render"
)

func renderedIntune(t *testing.T, spec lapsv1.LapsPolicySpec) map[string]any {
	t.Helper()
	data, err := render.Render(render.FormatIntune, policy.Effective(&spec))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// The renderer's settings-catalog bodies pass the emulator's check, and each kind of difference
// from the LAPS template is named.
func TestCheckSettingsCatalog(t *testing.T) {
	for name, spec := range map[string]lapsv1.LapsPolicySpec{
		"entra": policytest.SeedCSPExampleEntraID(), "hybrid": policytest.SeedCSPExampleActiveDirectory(),
	} {
		if problems := CheckSettingsCatalog(renderedIntune(t, spec)); len(problems) > 0 {
			t.Errorf("%s: rendered policy refused: %v", name, problems)
		}
	}
	cases := map[string]struct {
		mutate func(doc map[string]any)
		want   string
	}{
		"template id": {func(d map[string]any) { d["templateReference"] = map[string]any{"templateId": "other_1"} }, "templateReference.templateId"},
		"platform":    {func(d map[string]any) { d["platforms"] = "macOS" }, "platforms"},
		"setting id": {func(d map[string]any) {
			first(d)["settingDefinitionId"] = "device_vendor_msft_laps_policies_backupdirectoryx"
		}, "unknown setting id"},
		"instance template": {func(d map[string]any) {
			first(d)["settingInstanceTemplateReference"] = map[string]any{"settingInstanceTemplateId": "00000000-0000-0000-0000-000000000000"}
		}, "settingInstanceTemplateId"},
		"choice value": {func(d map[string]any) {
			first(d)["choiceSettingValue"].(map[string]any)["value"] = "device_vendor_msft_laps_policies_backupdirectory_9"
		}, "value"},
	}
	for name, c := range cases {
		doc := renderedIntune(t, policytest.SeedCSPExampleEntraID())
		c.mutate(doc)
		problems := CheckSettingsCatalog(doc)
		if len(problems) == 0 || !strings.Contains(strings.Join(problems, ";"), c.want) {
			t.Errorf("%s: problems %v, want one naming %q", name, problems, c.want)
		}
	}
}

func first(doc map[string]any) map[string]any {
	return doc["settings"].([]any)[0].(map[string]any)["settingInstance"].(map[string]any)
}
