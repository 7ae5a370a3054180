package render

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/fleetlaps/fleetlaps/internal/policy"
)

// CSPKey is the LAPS CSP's policy root (seed 002 "Supported policy roots"); Intune writes it,
// so nothing here renders to it, but the agent reads it.
const CSPKey = `Software\Microsoft\Policies\LAPS`

// RegistryValues are the values the settings put under their root's key: what a device that
// applied them holds there.
func RegistryValues(s policy.Settings) []RegistryValue { return registryValues(s) }

// AppliedHash is the hash both sides of PolicyApplied compute: the endpoint agent over the
// values it finds under the active root's key, the controller over the values the effective
// LapsPolicy renders to. It covers value names (case-insensitive, as the registry treats them),
// types and data, not the key: the root is compared on its own. Order does not matter.
func AppliedHash(values []RegistryValue) string {
	lines := make([]string, 0, len(values))
	for _, v := range values {
		data := fmt.Sprint(v.DWord)
		if v.Type == RegSZ {
			data = v.SZ
		}
		lines = append(lines, fmt.Sprintf("%s\x00%d\x00%s", strings.ToLower(v.Name), v.Type, data))
	}
	sort.Strings(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(sum[:8])
}
