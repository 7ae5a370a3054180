package render

import (
	"bytes"
	"encoding/xml"
	"strconv"

	"github.com/fleetlaps/fleetlaps/internal/policy"
)

// CSPPolicyBase is the LAPS CSP policy node (seed 003, "./Device/Vendor/MSFT/LAPS" > Policies).
const CSPPolicyBase = "./Device/Vendor/MSFT/LAPS/Policies/"

// renderSyncML writes one <Atomic> of <Replace> commands, one per setting, under
// ./Device/Vendor/MSFT/LAPS/Policies/<Setting> with seed 003's formats: "int" for integers and
// choices, "chr" for strings, "bool" with True/False for booleans. Seed 003's examples use <Add>;
// Replace is used here so that re-pushing a changed policy updates the nodes (seed 003: "Supported
// operations are Add, Get, Replace, and Delete"), and Atomic makes a device apply all or none.
// CmdIDs are unique: 1 for the Atomic, then 2, 3, ... for the Replaces. Element names follow the
// OMA DM SyncML DTD (SyncML, CmdID); seed 003's listing spells them "SyncMl" and "CmdId".
//
// The AutomaticAccountManagement* nodes are not in seed 003 (it predates them); their formats
// (Enabled, EnableAccount, RandomizeName bool; Target int; NameOrPrefix chr) follow seed 002's
// value tables and are UNVERIFIED against the current CSP page.
func renderSyncML(s policy.Settings) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("<SyncML xmlns=\"SYNCML:SYNCML1.2\">\n  <SyncBody>\n    <Atomic>\n      <CmdID>1</CmdID>\n")
	for i, st := range settings(s) {
		format, data := "int", ""
		switch st.Kind {
		case kindInt:
			data = strconv.Itoa(st.Int)
		case kindString:
			format, data = "chr", st.Str
		case kindBool:
			format, data = "bool", "False"
			if st.Bool {
				data = "True"
			}
		}
		b.WriteString("      <Replace>\n        <CmdID>")
		b.WriteString(strconv.Itoa(i + 2))
		b.WriteString("</CmdID>\n        <Item>\n          <Target>\n            <LocURI>")
		xmlText(&b, CSPPolicyBase+st.Name)
		b.WriteString("</LocURI>\n          </Target>\n          <Meta>\n            <Format xmlns=\"syncml:metinf\">")
		b.WriteString(format)
		b.WriteString("</Format>\n            <Type>text/plain</Type>\n          </Meta>\n          <Data>")
		xmlText(&b, data)
		b.WriteString("</Data>\n        </Item>\n      </Replace>\n")
	}
	b.WriteString("    </Atomic>\n    <Final/>\n  </SyncBody>\n</SyncML>\n")
	return b.Bytes(), nil
}

func xmlText(b *bytes.Buffer, s string) {
	_ = xml.EscapeText(b, []byte(s))
}
