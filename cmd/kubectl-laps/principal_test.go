package main

import (
	"os"
	"strings"
	"testing"
)

// TestRender_PrincipalNames: render accepts every principal name Active Directory accepts (a
// group with a space, as the Windows LAPS default Domain Admins) and refuses what it refuses.
func TestRender_PrincipalNames(t *testing.T) {
	manifest, err := os.ReadFile("testdata/seed003-hybrid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	with := func(p string) string {
		return strings.Replace(string(manifest), "LAPSAdmins@contoso.com", p, 1)
	}
	for _, p := range []string{`'CORP\Domain Admins'`, `'Domain Admins@corp.example.com'`} {
		t.Run("should render "+p, func(t *testing.T) {
			code, out, errOut := runCmd(t, with(p), "render", "-f", "-")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if !strings.Contains(out, "Domain Admins") {
				t.Errorf("rendered policy lacks the principal:\n%s", out)
			}
		})
	}
	for _, p := range []string{`'CORP\Domain Admins '`, `'CORP\Admins,Tier0'`, `'CORP\admins.'`} {
		t.Run("should refuse "+p, func(t *testing.T) {
			code, out, errOut := runCmd(t, with(p), "render", "-f", "-")
			if code != 1 || out != "" || !strings.Contains(errOut, "spec.adPasswordEncryptionPrincipal") {
				t.Errorf("exit %d stdout %q stderr %q", code, out, errOut)
			}
		})
	}
}
