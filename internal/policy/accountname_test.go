package policy

import (
	"os"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

func TestValidAccountNameChars(t *testing.T) {
	for _, ok := range []string{"Administrator", "WLapsAdmin", "Lokaler Admin", "admin.tier-0_x", "管理者", "Ünïcødé", "(a)&'!#$%^{}~`"} {
		if !ValidAccountNameChars(ok) || !DocumentSafe(ok) {
			t.Errorf("%q refused", ok)
		}
	}
	for _, c := range strings.Split(`" / \ [ ] : ; | = , + * ? < > @`, " ") {
		if ValidAccountNameChars("a" + c + "b") {
			t.Errorf("%q accepted", c)
		}
	}
	for _, bad := range []string{"a\x00b", "a\nb", "a\rb", "a\tb", "a\x7fb", "a\u0085b", "a\u009fb", "a\ufffeb", "a\uffffb", "a\xffb"} {
		if ValidAccountNameChars(bad) {
			t.Errorf("%q accepted", bad)
		}
		if DocumentSafe(bad) {
			t.Errorf("DocumentSafe(%q)", bad)
		}
	}
}

func TestAccountNamePatternMatchesTheCRD(t *testing.T) {
	raw, err := os.ReadFile("../../config/crd/bases/laps.fleetlaps.io_lapspolicies.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	spec := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
	want := "self.matches(r'" + AccountNamePattern + "')"
	for _, tc := range []struct {
		prop apiextensionsv1.JSONSchemaProps
		msg  string
	}{
		{spec.Properties["administratorAccountName"], msgAdministratorAccountName},
		{spec.Properties["automaticAccountManagement"].Properties["nameOrPrefix"], msgNameOrPrefix},
	} {
		if len(tc.prop.XValidations) != 1 || tc.prop.XValidations[0].Rule != want || tc.prop.XValidations[0].Message != tc.msg {
			t.Errorf("CRD rule differs from the Go pattern:\n got %+v\nwant %s / %s", tc.prop.XValidations, want, tc.msg)
		}
		if strings.Contains(tc.prop.Description, "seed") {
			t.Errorf("user-facing description names an internal reference: %q", tc.prop.Description)
		}
	}
}
