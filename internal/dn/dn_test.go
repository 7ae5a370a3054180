package dn

import "testing"

func TestWithin(t *testing.T) {
	const base = "OU=Workstations,DC=corp,DC=example"
	for _, tc := range []struct {
		dn   string
		want bool
	}{
		{"CN=PC1,OU=Workstations,DC=corp,DC=example", true},
		{"cn=pc1,ou=workstations,dc=CORP,dc=example", true},
		{"CN=PC1, OU=Workstations, DC=corp, DC=example", true},
		{"OU=Workstations,DC=corp,DC=example", true},
		{"CN=PC1,OU=Berlin,OU=Workstations,DC=corp,DC=example", true},
		// A string suffix, but another OU.
		{"CN=PC1,OU=Old-OU=Workstations,DC=corp,DC=example", false},
		{"OU=Old-OU=Workstations,DC=corp,DC=example", false},
		{`CN=PC1,OU=Old\,OU=Workstations,DC=corp,DC=example`, false},
		{"CN=DC1,OU=Domain Controllers,DC=corp,DC=example", false},
		{"CN=PC1,OU=Workstations,DC=corp,DC=example,DC=evil", false},
		{"DC=corp,DC=example", false},
		{"", false},
		{"not a dn", false},
	} {
		if got := Within(tc.dn, base); got != tc.want {
			t.Errorf("Within(%q, %q) = %v, want %v", tc.dn, base, got, tc.want)
		}
	}
	if Within("CN=PC1,DC=corp", "") || Within("CN=PC1,DC=corp", "garbage") {
		t.Error("an empty or unparsable base contains nothing")
	}
}

func TestEqual(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"CN=PC1,OU=W,DC=corp", "cn=pc1, ou=w, dc=CORP", true},
		{`CN=A\2CB,DC=corp`, `CN=A\,B,DC=corp`, true},
		{"CN=PC1,OU=W,DC=corp", "CN=PC2,OU=W,DC=corp", false},
		{"CN=PC1,OU=W,DC=corp", "OU=W,DC=corp", false},
		{"", "", false},
		{"=", "=", false},
	} {
		if got := Equal(tc.a, tc.b); got != tc.want {
			t.Errorf("Equal(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestValues(t *testing.T) {
	got := Values(`CN=PC1,OU=Sales\, EMEA,ou=Workstations,DC=corp,DC=example`, "OU")
	if len(got) != 2 || got[0] != "Sales, EMEA" || got[1] != "Workstations" {
		t.Fatalf("OU values %q", got)
	}
	if got := Values("not a dn", "OU"); got != nil {
		t.Fatalf("unparsable: %q", got)
	}
}

func TestWithinAny(t *testing.T) {
	bases := []string{"OU=A,DC=x", "OU=B,DC=x"}
	if !WithinAny("CN=1,OU=B,DC=x", bases) || WithinAny("CN=1,OU=C,DC=x", bases) || WithinAny("CN=1,OU=A,DC=x", nil) {
		t.Fatal("WithinAny")
	}
}
