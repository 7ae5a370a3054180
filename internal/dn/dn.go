// Package dn compares LDAP distinguished names structurally (go-ldap's parser, case-folded),
// never as strings: "OU=Old-OU=Workstations,DC=corp" ends with "OU=Workstations,DC=corp" as a
// string, yet is not inside it, and escaped commas or spacing make equal DNs differ as text.
package dn

import (
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// Parse parses s, wrapping the parser's error with the value.
func Parse(s string) (*ldap.DN, error) {
	d, err := ldap.ParseDN(s)
	if err != nil {
		return nil, fmt.Errorf("distinguished name %q: %w", s, err)
	}
	return d, nil
}

// Equal reports whether a and b name the same object (attribute types and values compared
// case-insensitively, as AD does). Unparsable input is never equal.
func Equal(a, b string) bool {
	da, err := ldap.ParseDN(a)
	if err != nil {
		return false
	}
	db, err := ldap.ParseDN(b)
	if err != nil {
		return false
	}
	return len(da.RDNs) > 0 && da.EqualFold(db)
}

// Within reports whether dn is base itself or lies below it. Unparsable input is never within.
func Within(dn, base string) bool {
	d, err := ldap.ParseDN(dn)
	if err != nil || len(d.RDNs) == 0 {
		return false
	}
	b, err := ldap.ParseDN(base)
	if err != nil || len(b.RDNs) == 0 {
		return false
	}
	return b.EqualFold(d) || b.AncestorOfFold(d)
}

// WithinAny reports whether dn is within one of bases.
func WithinAny(dn string, bases []string) bool {
	for _, b := range bases {
		if Within(dn, b) {
			return true
		}
	}
	return false
}

// Values returns the values of the RDN attributes of type attr (case-insensitive), leaf first:
// Values("CN=PC1,OU=Berlin,OU=Workstations,DC=corp", "OU") is [Berlin Workstations]. Escaped
// characters come back unescaped. Unparsable input has none.
func Values(distinguishedName, attr string) []string {
	d, err := ldap.ParseDN(distinguishedName)
	if err != nil {
		return nil
	}
	var out []string
	for _, rdn := range d.RDNs {
		for _, a := range rdn.Attributes {
			if strings.EqualFold(a.Type, attr) {
				out = append(out, a.Value)
			}
		}
	}
	return out
}
