package dn

import (
	"testing"

	"github.com/go-ldap/ldap/v3"
)

// FuzzWithin: the DN helpers never panic, agree with the parser, and are consistent: Equal is
// symmetric, a DN is within itself, and DNs within each other are equal.
func FuzzWithin(f *testing.F) {
	f.Add("CN=pc1,OU=Workstations,DC=corp,DC=example", "OU=Workstations,DC=corp,DC=example")
	f.Add("CN=pc1,OU=Old-OU=Workstations,DC=corp", "OU=Workstations,DC=corp")
	f.Add(`CN=a\,b,OU=x+CN=y,DC=corp`, "ou=X+cn=Y, dc=CORP")
	f.Add("CN=#04024869", "")
	f.Add(`CN=\`, "=,=")
	f.Fuzz(func(t *testing.T, a, b string) {
		_, errA := ldap.ParseDN(a)
		if _, err := Parse(a); (err == nil) != (errA == nil) {
			t.Fatalf("Parse(%q) disagrees with the parser: %v vs %v", a, err, errA)
		}
		if Equal(a, b) != Equal(b, a) {
			t.Fatalf("Equal(%q, %q) is not symmetric", a, b)
		}
		if Equal(a, b) && (!Within(a, b) || !Within(b, a)) {
			t.Fatalf("equal DNs %q, %q not within each other", a, b)
		}
		if Within(a, b) && Within(b, a) && !Equal(a, b) {
			t.Fatalf("%q and %q within each other but not equal", a, b)
		}
		if Equal(a, a) && !Within(a, a) {
			t.Fatalf("%q not within itself", a)
		}
		if Within(a, b) && !WithinAny(a, []string{"", b}) {
			t.Fatalf("WithinAny disagrees with Within for %q, %q", a, b)
		}
	})
}
