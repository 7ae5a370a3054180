package render

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/policy"
)

// Intune settings catalog facts, exactly as LAPS-REFERENCE.md §2.
const (
	IntuneTemplateID   = "adc46e5a-f4aa-4ff6-aeff-4f27bc525796_1"
	intunePrefix       = "device_vendor_msft_laps_policies_"
	graphType          = "#microsoft.graph.deviceManagementConfiguration"
	typeSetting        = graphType + "Setting"
	typeChoiceInstance = graphType + "ChoiceSettingInstance"
	typeChoiceValue    = graphType + "ChoiceSettingValue"
	typeSimpleInstance = graphType + "SimpleSettingInstance"
	typeIntegerValue   = graphType + "IntegerSettingValue"
	typeStringValue    = graphType + "StringSettingValue"
)

// intuneTemplates are the settingInstanceTemplateId / settingValueTemplateId pairs of the
// top-level settings (LAPS-REFERENCE.md §2 table). Graph rejects wrong ids on template-based
// policies.
var intuneTemplates = map[string][2]string{
	"backupdirectory":                   {"a3270f64-e493-499d-8900-90290f61ed8a", "4d90f03d-e14c-43c4-86da-681da96a2f92"},
	"passwordcomplexity":                {"8a7459e8-1d1c-458a-8906-7b27d216de52", "aa883ab5-625e-4e3b-b830-a37a4bb8ce01"},
	"passwordlength":                    {"da7a1dbd-caf7-4341-ab63-ece6f994ff02", "d08f1266-5345-4f53-8ae1-4c20e6cb5ec9"},
	"postauthenticationresetdelay":      {"a9e21166-4055-4042-9372-efaf3ef41868", "0deb6aee-8dac-40c4-a9dd-c3718e5c1d52"},
	"postauthenticationactions":         {"d9282eb1-d187-42ae-b366-7081f32dcfff", "68ff4f78-baa8-4b32-bf3d-5ad5566d8142"},
	"automaticaccountmanagementenabled": {"0d70f6fb-8f35-4fba-8ada-494b8a478703", "5db30960-1e02-4100-9e2c-a2212596b054"},
	// UNVERIFIED (LAPS-REFERENCE.md: "seen only in community scripts").
	"administratoraccountname": {"d3d7d492-0019-4f56-96f8-1967f7deabeb", "992c7fce-f9e4-46ab-ac11-e167398859ea"},
}

type intunePolicy struct {
	Name              string              `json:"name"`
	Description       string              `json:"description"`
	Platforms         string              `json:"platforms"`
	Technologies      string              `json:"technologies"`
	TemplateReference intuneTemplateRef   `json:"templateReference"`
	Settings          []intuneSettingWrap `json:"settings"`
}

type intuneTemplateRef struct {
	TemplateID string `json:"templateId"`
}

type intuneSettingWrap struct {
	ODataType       string          `json:"@odata.type"`
	SettingInstance *intuneInstance `json:"settingInstance"`
}

type intuneInstance struct {
	ODataType           string             `json:"@odata.type"`
	SettingDefinitionID string             `json:"settingDefinitionId"`
	InstanceTemplateRef *intuneInstanceRef `json:"settingInstanceTemplateReference,omitempty"`
	ChoiceSettingValue  *intuneChoiceValue `json:"choiceSettingValue,omitempty"`
	SimpleSettingValue  *intuneSimpleValue `json:"simpleSettingValue,omitempty"`
}

type intuneInstanceRef struct {
	SettingInstanceTemplateID string `json:"settingInstanceTemplateId"`
}

type intuneValueRef struct {
	SettingValueTemplateID string `json:"settingValueTemplateId"`
	UseTemplateDefault     bool   `json:"useTemplateDefault"`
}

type intuneChoiceValue struct {
	ODataType        string            `json:"@odata.type"`
	Value            string            `json:"value"`
	ValueTemplateRef *intuneValueRef   `json:"settingValueTemplateReference,omitempty"`
	Children         []*intuneInstance `json:"children"`
}

type intuneSimpleValue struct {
	ODataType        string          `json:"@odata.type"`
	Value            any             `json:"value"`
	ValueTemplateRef *intuneValueRef `json:"settingValueTemplateReference,omitempty"`
}

func choice(id, value string, children ...*intuneInstance) *intuneInstance {
	return &intuneInstance{
		ODataType:           typeChoiceInstance,
		SettingDefinitionID: intunePrefix + id,
		ChoiceSettingValue: &intuneChoiceValue{
			ODataType: typeChoiceValue, Value: intunePrefix + id + "_" + value, Children: append([]*intuneInstance{}, children...),
		},
	}
}

func boolChoice(id string, v bool) *intuneInstance {
	return choice(id, strconv.FormatBool(v))
}

func integer(id string, v int) *intuneInstance {
	return &intuneInstance{ODataType: typeSimpleInstance, SettingDefinitionID: intunePrefix + id,
		SimpleSettingValue: &intuneSimpleValue{ODataType: typeIntegerValue, Value: v}}
}

func text(id, v string) *intuneInstance {
	return &intuneInstance{ODataType: typeSimpleInstance, SettingDefinitionID: intunePrefix + id,
		SimpleSettingValue: &intuneSimpleValue{ODataType: typeStringValue, Value: v}}
}

// topLevel wraps an instance as an element of settings[] and adds its template references.
func topLevel(in *intuneInstance) intuneSettingWrap {
	id := strings.TrimPrefix(in.SettingDefinitionID, intunePrefix)
	if t, ok := intuneTemplates[id]; ok {
		in.InstanceTemplateRef = &intuneInstanceRef{SettingInstanceTemplateID: t[0]}
		ref := &intuneValueRef{SettingValueTemplateID: t[1]}
		if in.ChoiceSettingValue != nil {
			in.ChoiceSettingValue.ValueTemplateRef = ref
		} else {
			in.SimpleSettingValue.ValueTemplateRef = ref
		}
	}
	return intuneSettingWrap{ODataType: typeSetting, SettingInstance: in}
}

// renderIntune writes the body of POST /beta/deviceManagement/configurationPolicies: a
// settings-catalog policy on the LAPS template with the setting ids, choice children and template
// references of LAPS-REFERENCE.md §2. The catalog has no DSRM setting; Settings for the
// LegacyLAPS root render their Windows LAPS equivalents.
func renderIntune(s policy.Settings, o options) ([]byte, error) {
	bd, _ := s.BackupDirectory.WindowsValue()
	p := intunePolicy{
		Name: o.name, Description: o.description, Platforms: "windows10", Technologies: "mdm",
		TemplateReference: intuneTemplateRef{TemplateID: IntuneTemplateID},
	}
	var backupChildren []*intuneInstance
	switch s.BackupDirectory {
	case lapsv1.BackupDirectoryEntraID:
		backupChildren = append(backupChildren, integer("passwordagedays_aad", int(s.PasswordAgeDays)))
	case lapsv1.BackupDirectoryActiveDirectory:
		backupChildren = append(backupChildren,
			integer("passwordagedays", int(s.PasswordAgeDays)),
			boolChoice("passwordexpirationprotectionenabled", s.PasswordExpirationProtectionEnabled),
			boolChoice("adpasswordencryptionenabled", s.ADPasswordEncryptionEnabled))
		if s.ADPasswordEncryptionEnabled {
			if s.ADPasswordEncryptionPrincipal != "" {
				backupChildren = append(backupChildren, text("adpasswordencryptionprincipal", s.ADPasswordEncryptionPrincipal))
			}
			backupChildren = append(backupChildren, integer("adencryptedpasswordhistorysize", int(s.ADEncryptedPasswordHistorySize)))
		}
	}
	p.Settings = append(p.Settings, topLevel(choice("backupdirectory", strconv.Itoa(bd), backupChildren...)))
	if s.BackupDirectory != lapsv1.BackupDirectoryDisabled {
		cx, _ := s.PasswordComplexity.WindowsValue()
		var cxChildren []*intuneInstance
		if s.PasswordComplexity.IsPassphrase() {
			cxChildren = append(cxChildren, integer("passphraselength", int(s.PassphraseLength)))
		}
		p.Settings = append(p.Settings, topLevel(choice("passwordcomplexity", strconv.Itoa(cx), cxChildren...)))
		if !s.PasswordComplexity.IsPassphrase() {
			p.Settings = append(p.Settings, topLevel(integer("passwordlength", int(s.PasswordLength))))
		}
		if s.AdministratorAccountName != "" {
			p.Settings = append(p.Settings, topLevel(text("administratoraccountname", s.AdministratorAccountName)))
		}
		if s.PolicyRoot != lapsv1.PolicyRootLegacyLAPS {
			pa, _ := s.PostAuthenticationActions.WindowsValue()
			p.Settings = append(p.Settings,
				topLevel(integer("postauthenticationresetdelay", int(s.PostAuthenticationResetDelay))),
				topLevel(choice("postauthenticationactions", strconv.Itoa(pa))))
		}
		if a := s.AutomaticAccountManagement; a.Enabled {
			t, _ := a.Target.WindowsValue()
			// Children of automaticaccountmanagementenabled_true (LAPS-REFERENCE.md §2). Target as a
			// choice _0/_1 and the two flags as _true/_false choices are UNVERIFIED: the
			// reference names the settings but not their value ids.
			p.Settings = append(p.Settings, topLevel(choice("automaticaccountmanagementenabled", "true",
				choice("automaticaccountmanagementtarget", strconv.Itoa(t)),
				text("automaticaccountmanagementnameorprefix", a.NameOrPrefix),
				boolChoice("automaticaccountmanagementenableaccount", a.EnableAccount),
				boolChoice("automaticaccountmanagementrandomizename", a.RandomizeName))))
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(p); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
