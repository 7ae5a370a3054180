package ad

import (
	"fmt"
	"slices"
	"strings"

	"github.com/fleetlaps/fleetlaps/internal/directory"
)

// Attributes the controller reads or writes (outer permission ring only).
const (
	attrExpiration       = "msLAPS-PasswordExpirationTime"
	attrPasswordVersion  = "msLAPS-CurrentPasswordVersion"
	attrLegacyExpiration = "ms-Mcs-AdmPwdExpirationTime"

	attrObjectGUID         = "objectGUID"
	attrObjectSID          = "objectSid"
	attrCN                 = "cn"
	attrSAMAccountName     = "sAMAccountName"
	attrDNSHostName        = "dNSHostName"
	attrUserAccountControl = "userAccountControl"
	attrUSNChanged         = "uSNChanged"
	// attrReplMetadata is the binary replication metadata of every attribute of the object. It
	// tells when the password attributes last changed without reading them; Samba 4.17 does not
	// implement the constructed msDS-ReplAttributeMetaData.
	attrReplMetadata = "replPropertyMetaData"
)

// searchAttributes is the explicit allow-list of the snapshot search.
var searchAttributes = []string{
	attrObjectGUID, attrObjectSID, attrCN, attrSAMAccountName, attrDNSHostName,
	attrUserAccountControl, attrUSNChanged,
	attrExpiration, attrPasswordVersion, attrLegacyExpiration,
	attrReplMetadata,
}

// windowsLAPSAttributes are the msLAPS-* attributes CheckSchema requires.
func windowsLAPSAttributes() []string {
	out := []string{attrExpiration, attrPasswordVersion}
	for _, a := range deniedAttributes {
		if strings.HasPrefix(a.Name, "msLAPS-") {
			out = append(out, a.Name)
		}
	}
	return out
}

// legacyLAPSAttributes are the legacy LAPS pair.
func legacyLAPSAttributes() []string {
	out := []string{attrLegacyExpiration}
	for _, a := range deniedAttributes {
		if a.Source == directory.SourceLegacy {
			out = append(out, a.Name)
		}
	}
	return out
}

// checkAllowList fails when attrs names a password attribute, a wildcard or an operational "+".
func checkAllowList(attrs []string) error {
	for _, a := range attrs {
		name := strings.ToLower(strings.TrimSpace(a))
		if base, _, ok := strings.Cut(name, ";"); ok { // options such as ;binary or ;range=
			name = base
		}
		if name == "" || name == "*" || name == "+" || strings.ContainsAny(name, "*") || name == "1.1" && len(attrs) > 1 {
			return fmt.Errorf("attribute %q is not allowed in the search allow-list", a)
		}
		for _, d := range deniedAttributes {
			if name == strings.ToLower(d.Name) {
				return fmt.Errorf("attribute %q is a password attribute", a)
			}
		}
		for _, p := range deniedPrefixes {
			if strings.HasPrefix(name, strings.ToLower(p)) {
				return fmt.Errorf("attribute %q is a password attribute", a)
			}
		}
	}
	return nil
}

// SnapshotAttributes returns (a copy of) what the snapshot search requests, for benchmarks that
// compare a pass with a bare search of the same attributes.
func SnapshotAttributes() []string { return slices.Clone(searchAttributes) }
