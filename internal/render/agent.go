package render

import (
	"bytes"
	"encoding/json"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/policy"
)

// AgentConfig is what the endpoint agent writes for a LocalConfiguration policy: registry values
// under HKLM\Software\Microsoft\Windows\CurrentVersion\LAPS\Config (seed 002's "LAPS Local
// Configuration" root), named as seed 002's settings. The agent deletes values under the key
// that are not listed, so the key holds exactly this policy.
type AgentConfig struct {
	APIVersion string             `json:"apiVersion"`
	Kind       string             `json:"kind"`
	Hive       string             `json:"hive"`
	Key        string             `json:"key"`
	PolicyHash string             `json:"policyHash"`
	Values     []AgentConfigValue `json:"values"`
}

// AgentConfigValue is one registry value; Data is a number for REG_DWORD, a string for REG_SZ.
type AgentConfigValue struct {
	Name string `json:"name"`
	Type string `json:"type"`
	Data any    `json:"data"`
}

// AgentConfigKind is the kind of the agent configuration document.
const AgentConfigKind = "AgentLocalConfiguration"

func renderAgent(s policy.Settings) ([]byte, error) {
	// The agent writes the LocalConfiguration root whatever Windows LAPS root the policy names
	// (this format is how a policy reaches a device through the agent); a LegacyLAPS policy keeps
	// its legacy AdmPwd key and value names, which only the legacy root has.
	local := s
	key := LegacyLAPSKey
	if s.PolicyRoot != lapsv1.PolicyRootLegacyLAPS {
		local.PolicyRoot, key = lapsv1.PolicyRootLocalConfiguration, LocalConfigurationKey
	}
	cfg := AgentConfig{
		APIVersion: "laps.fleetlaps.io/v1", Kind: AgentConfigKind, Hive: "HKLM", Key: key,
		PolicyHash: policy.Hash(s), Values: []AgentConfigValue{},
	}
	for _, v := range registryValues(local) {
		if v.Type == RegSZ {
			cfg.Values = append(cfg.Values, AgentConfigValue{Name: v.Name, Type: "REG_SZ", Data: v.SZ})
		} else {
			cfg.Values = append(cfg.Values, AgentConfigValue{Name: v.Name, Type: "REG_DWORD", Data: v.DWord})
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(cfg); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
