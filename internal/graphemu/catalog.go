package graphemu

import (
	"fmt"
	"strings"
)

// The LAPS settings catalog as LAPS-REFERENCE.md §2 gives it: template id, setting ids, where each
// may sit, and the template references of top-level settings.
const (
	LAPSTemplateID = "adc46e5a-f4aa-4ff6-aeff-4f27bc525796_1"
	settingPrefix  = "device_vendor_msft_laps_policies_"
	typePrefix     = "#microsoft.graph.deviceManagementConfiguration"
)

type catalogEntry struct {
	// parents are the choice values (without prefix) the setting may sit under; nil: top level.
	parents []string
	// kind is choice, integer or string.
	kind string
	// choices are the allowed value suffixes of a choice setting.
	choices  []string
	min, max int
	// instanceTemplate, valueTemplate are the top-level template references.
	instanceTemplate, valueTemplate string
}

var bools = []string{"true", "false"}

var lapsCatalog = map[string]catalogEntry{
	"backupdirectory":                   {kind: "choice", choices: []string{"0", "1", "2"}, instanceTemplate: "a3270f64-e493-499d-8900-90290f61ed8a", valueTemplate: "4d90f03d-e14c-43c4-86da-681da96a2f92"},
	"passwordcomplexity":                {kind: "choice", choices: []string{"1", "2", "3", "4", "5", "6", "7", "8"}, instanceTemplate: "8a7459e8-1d1c-458a-8906-7b27d216de52", valueTemplate: "aa883ab5-625e-4e3b-b830-a37a4bb8ce01"},
	"passwordlength":                    {kind: "integer", min: 8, max: 64, instanceTemplate: "da7a1dbd-caf7-4341-ab63-ece6f994ff02", valueTemplate: "d08f1266-5345-4f53-8ae1-4c20e6cb5ec9"},
	"postauthenticationresetdelay":      {kind: "integer", min: 0, max: 24, instanceTemplate: "a9e21166-4055-4042-9372-efaf3ef41868", valueTemplate: "0deb6aee-8dac-40c4-a9dd-c3718e5c1d52"},
	"postauthenticationactions":         {kind: "choice", choices: []string{"1", "3", "5", "11"}, instanceTemplate: "d9282eb1-d187-42ae-b366-7081f32dcfff", valueTemplate: "68ff4f78-baa8-4b32-bf3d-5ad5566d8142"},
	"automaticaccountmanagementenabled": {kind: "choice", choices: bools, instanceTemplate: "0d70f6fb-8f35-4fba-8ada-494b8a478703", valueTemplate: "5db30960-1e02-4100-9e2c-a2212596b054"},
	"administratoraccountname":          {kind: "string", instanceTemplate: "d3d7d492-0019-4f56-96f8-1967f7deabeb", valueTemplate: "992c7fce-f9e4-46ab-ac11-e167398859ea"},

	"passwordagedays_aad":                     {parents: []string{"backupdirectory_1"}, kind: "integer", min: 7, max: 365},
	"passwordagedays":                         {parents: []string{"backupdirectory_2"}, kind: "integer", min: 1, max: 365},
	"passwordexpirationprotectionenabled":     {parents: []string{"backupdirectory_2"}, kind: "choice", choices: bools},
	"adpasswordencryptionenabled":             {parents: []string{"backupdirectory_2"}, kind: "choice", choices: bools},
	"adpasswordencryptionprincipal":           {parents: []string{"backupdirectory_2"}, kind: "string"},
	"adencryptedpasswordhistorysize":          {parents: []string{"backupdirectory_2"}, kind: "integer", min: 0, max: 12},
	"passphraselength":                        {parents: []string{"passwordcomplexity_6", "passwordcomplexity_7", "passwordcomplexity_8"}, kind: "integer", min: 3, max: 10},
	"automaticaccountmanagementtarget":        {parents: []string{"automaticaccountmanagementenabled_true"}, kind: "choice", choices: []string{"0", "1"}},
	"automaticaccountmanagementnameorprefix":  {parents: []string{"automaticaccountmanagementenabled_true"}, kind: "string"},
	"automaticaccountmanagementenableaccount": {parents: []string{"automaticaccountmanagementenabled_true"}, kind: "choice", choices: bools},
	"automaticaccountmanagementrandomizename": {parents: []string{"automaticaccountmanagementenabled_true"}, kind: "choice", choices: bools},
}

// CheckSettingsCatalog lists every way a configurationPolicies body differs from the LAPS
// settings catalog: template, platform, technology, setting ids, nesting, value types and ranges,
// and template references (only top-level instances carry them).
func CheckSettingsCatalog(doc map[string]any) []string {
	var out []string
	if str(doc["name"]) == "" {
		out = append(out, "name is empty")
	}
	if str(doc["platforms"]) != "windows10" {
		out = append(out, fmt.Sprintf("platforms %q, want windows10", doc["platforms"]))
	}
	if str(doc["technologies"]) != "mdm" {
		out = append(out, fmt.Sprintf("technologies %q, want mdm", doc["technologies"]))
	}
	tref, _ := doc["templateReference"].(map[string]any)
	if str(tref["templateId"]) != LAPSTemplateID {
		out = append(out, fmt.Sprintf("templateReference.templateId %q, want %s", tref["templateId"], LAPSTemplateID))
	}
	settings, _ := doc["settings"].([]any)
	if len(settings) == 0 {
		out = append(out, "no settings")
	}
	seen := map[string]bool{}
	for i, s := range settings {
		wrap, _ := s.(map[string]any)
		if str(wrap["@odata.type"]) != typePrefix+"Setting" {
			out = append(out, fmt.Sprintf("settings[%d].@odata.type %q", i, wrap["@odata.type"]))
		}
		inst, _ := wrap["settingInstance"].(map[string]any)
		out = append(out, checkInstance(fmt.Sprintf("settings[%d]", i), inst, "", seen)...)
	}
	return out
}

func checkInstance(path string, inst map[string]any, parentValue string, seen map[string]bool) []string {
	var out []string
	full := str(inst["settingDefinitionId"])
	id, ok := strings.CutPrefix(full, settingPrefix)
	e, known := lapsCatalog[id]
	if !ok || !known {
		return []string{fmt.Sprintf("%s: unknown setting id %q", path, full)}
	}
	if seen[id] {
		out = append(out, fmt.Sprintf("%s: setting %s appears twice", path, id))
	}
	seen[id] = true
	topLevel := parentValue == ""
	switch {
	case topLevel && e.parents != nil:
		out = append(out, fmt.Sprintf("%s: %s must sit under %v, not at the top level", path, id, e.parents))
	case !topLevel && e.parents == nil:
		out = append(out, fmt.Sprintf("%s: %s is a top-level setting, found under %s", path, id, parentValue))
	case !topLevel && !contains(e.parents, parentValue):
		out = append(out, fmt.Sprintf("%s: %s must sit under %v, found under %s", path, id, e.parents, parentValue))
	}
	iref, hasIRef := inst["settingInstanceTemplateReference"].(map[string]any)
	if topLevel {
		if str(iref["settingInstanceTemplateId"]) != e.instanceTemplate {
			out = append(out, fmt.Sprintf("%s: %s settingInstanceTemplateId %q, want %s", path, id, iref["settingInstanceTemplateId"], e.instanceTemplate))
		}
	} else if hasIRef {
		out = append(out, fmt.Sprintf("%s: child %s carries a template reference", path, id))
	}
	checkValueRef := func(v map[string]any) {
		vref, has := v["settingValueTemplateReference"].(map[string]any)
		switch {
		case topLevel && (str(vref["settingValueTemplateId"]) != e.valueTemplate || vref["useTemplateDefault"] != false):
			out = append(out, fmt.Sprintf("%s: %s settingValueTemplateReference %v, want {%s, useTemplateDefault:false}", path, id, vref, e.valueTemplate))
		case !topLevel && has:
			out = append(out, fmt.Sprintf("%s: child %s value carries a template reference", path, id))
		}
	}
	switch e.kind {
	case "choice":
		if str(inst["@odata.type"]) != typePrefix+"ChoiceSettingInstance" {
			out = append(out, fmt.Sprintf("%s: %s must be a ChoiceSettingInstance", path, id))
		}
		v, _ := inst["choiceSettingValue"].(map[string]any)
		if str(v["@odata.type"]) != typePrefix+"ChoiceSettingValue" {
			out = append(out, fmt.Sprintf("%s: %s choiceSettingValue @odata.type %q", path, id, v["@odata.type"]))
		}
		checkValueRef(v)
		suffix, ok := strings.CutPrefix(str(v["value"]), full+"_")
		if !ok || !contains(e.choices, suffix) {
			out = append(out, fmt.Sprintf("%s: %s value %q, want %s_%v", path, id, v["value"], full, e.choices))
		}
		children, isList := v["children"].([]any)
		if !isList {
			out = append(out, fmt.Sprintf("%s: %s choiceSettingValue.children must be a list", path, id))
		}
		for j, c := range children {
			cm, _ := c.(map[string]any)
			out = append(out, checkInstance(fmt.Sprintf("%s.children[%d]", path, j), cm, id+"_"+suffix, seen)...)
		}
	default:
		if str(inst["@odata.type"]) != typePrefix+"SimpleSettingInstance" {
			out = append(out, fmt.Sprintf("%s: %s must be a SimpleSettingInstance", path, id))
		}
		v, _ := inst["simpleSettingValue"].(map[string]any)
		checkValueRef(v)
		if e.kind == "integer" {
			n, isNum := v["value"].(float64)
			switch {
			case str(v["@odata.type"]) != typePrefix+"IntegerSettingValue" || !isNum:
				out = append(out, fmt.Sprintf("%s: %s must be an IntegerSettingValue with a JSON number", path, id))
			case n != float64(int(n)) || int(n) < e.min || int(n) > e.max:
				out = append(out, fmt.Sprintf("%s: %s = %v outside %d..%d", path, id, n, e.min, e.max))
			}
		} else if _, isStr := v["value"].(string); !isStr || str(v["@odata.type"]) != typePrefix+"StringSettingValue" {
			out = append(out, fmt.Sprintf("%s: %s must be a StringSettingValue", path, id))
		}
	}
	return out
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
