package policy

import (
	"os"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

func TestValidPrincipal(t *testing.T) {
	cases := map[string]bool{
		// Forms Windows LAPS documents.
		"S-1-5-21-2127521184-1604012920-1887927527-35197": true,
		`contoso\LAPSAdmins`:                              true,
		"lapsadmins@contoso.com":                          true,
		// Names with spaces, as AD has them (the Windows LAPS default is Domain Admins).
		`CORP\Domain Admins`:             true,
		`CORP\LAPS  Readers (Tier 0)`:    true,
		`corp.example.com\Domain Admins`: true,
		"Domain Admins@corp.example.com": true,
		`CONTOSO\LAPS-Décrypteurs`:       true,
		`CORP\a`:                         true,
		`CORP\.hidden`:                   true,
		`CORP\first.last`:                true,
		`CORP\o'brien`:                   true,
		`CORP\svc$`:                      true,
		`CORP\it#ops&co`:                 true,
		"o'brien@contoso.com":            true,
		// What AD refuses in a name.
		`CORP\Domain Admins `: false, `CORP\ Domain Admins`: false, `CORP\admins.`: false, `CORP\...`: false, `CORP\ `: false,
		`CORP\a"b`: false, `CORP\a/b`: false, `CORP\a\b`: false, `CORP\a[b`: false, `CORP\a]b`: false, `CORP\a:b`: false,
		`CORP\a;b`: false, `CORP\a|b`: false, `CORP\a=b`: false, `CORP\a,b`: false, `CORP\a+b`: false, `CORP\a*b`: false,
		`CORP\a?b`: false, `CORP\a<b`: false, `CORP\a>b`: false, "CORP\\a\tb": false, "CORP\\a\x00b": false, "CORP\\a\x7fb": false,
		"CORP\\a\nb": false, "a b @contoso.com": false, "a,b@contoso.com": false, "admins.@contoso.com": false,
		// What AD refuses in a domain name, and forms that are not a principal at all.
		`CO:RP\admins`: false, ` CORP\admins`: false, `CORP \admins`: false, `.CORP\admins`: false, `\admins`: false, `CORP\`: false,
		`"contoso\LAPSAdmins"`: false, "Domain Admins": false, "LAPSAdmins": false, "S-1-5": false, "lapsadmins@contoso": false,
		"a@b@contoso.com": false, "": false,
	}
	for v, want := range cases {
		if got := ValidPrincipal(v); got != want {
			t.Errorf("ValidPrincipal(%q) = %v, want %v", v, got, want)
		}
	}
}

// TestPrincipalPatternsMatchTheCRD: the CEL rule on the CRD is built from the same three
// patterns, so admission and Validate cannot drift apart.
func TestPrincipalPatternsMatchTheCRD(t *testing.T) {
	raw, err := os.ReadFile("../../config/crd/bases/laps.fleetlaps.io_lapspolicies.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	prop := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["adPasswordEncryptionPrincipal"]
	want := "self.matches(r'" + PrincipalSIDPattern + "') || self.matches(r'" + PrincipalDomainNamePattern + "') || self.matches(r'" + PrincipalUPNPattern + "')"
	if len(prop.XValidations) != 1 || prop.XValidations[0].Rule != want {
		t.Fatalf("CRD rule on adPasswordEncryptionPrincipal differs from the Go patterns:\n got %v\nwant %s", prop.XValidations, want)
	}
	if prop.XValidations[0].Message != msgPrincipal {
		t.Errorf("CRD message %q, want %q", prop.XValidations[0].Message, msgPrincipal)
	}
	if prop.MaxLength == nil || *prop.MaxLength != PrincipalMaxLength {
		t.Errorf("CRD maxLength %v, want %d", prop.MaxLength, PrincipalMaxLength)
	}
	if strings.Contains(prop.Description, "seed") {
		t.Errorf("user-facing description names an internal reference: %q", prop.Description)
	}
}
