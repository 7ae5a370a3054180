package main

import (
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fleetlaps/fleetlaps/internal/render"
)

type item struct{ LocURI, Format, Data string }

// syncItems parses a SyncML document (seed 003's <Add> list or our <Atomic><Replace> list).
func syncItems(t *testing.T, data []byte) []item {
	t.Helper()
	type cmd struct {
		LocURI string `xml:"Item>Target>LocURI"`
		Format string `xml:"Item>Meta>Format"`
		Data   string `xml:"Item>Data"`
	}
	var doc struct {
		Adds     []cmd `xml:"SyncBody>Add"`
		Replaces []cmd `xml:"SyncBody>Atomic>Replace"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("parse SyncML: %v", err)
	}
	var out []item
	for _, c := range append(doc.Adds, doc.Replaces...) {
		out = append(out, item(c))
	}
	return out
}

func runCmd(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestRender_ReproducesSeed003Examples(t *testing.T) {
	for manifest, seed := range map[string]string{
		"testdata/seed003-entra.json":  "../../internal/render/testdata/seed003-entra.xml",
		"testdata/seed003-hybrid.yaml": "../../internal/render/testdata/seed003-hybrid.xml",
	} {
		t.Run("should reproduce "+filepath.Base(seed)+" value for value from "+manifest, func(t *testing.T) {
			code, out, errOut := runCmd(t, "", "render", "-f", manifest)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			want, err := os.ReadFile(seed)
			if err != nil {
				t.Fatal(err)
			}
			if got, w := syncItems(t, []byte(out)), syncItems(t, want); !reflect.DeepEqual(got, w) || len(w) < 7 {
				t.Errorf("items differ:\n got %v\nwant %v", got, w)
			}
			// The 21-character account name of the seed is reported, not rejected.
			if !strings.Contains(errOut, "warning: administratorAccountName") {
				t.Errorf("stderr lacks the account-name warning: %q", errOut)
			}
		})
	}
}

func TestRender_FormatsAndOutput(t *testing.T) {
	manifest, _ := os.ReadFile("testdata/seed003-hybrid.yaml")
	for _, f := range render.Formats {
		t.Run("should render -o "+f+" from stdin", func(t *testing.T) {
			code, out, errOut := runCmd(t, string(manifest), "render", "-f", "-", "-o", f)
			if code != 0 || out == "" {
				t.Fatalf("exit %d, %d bytes: %s", code, len(out), errOut)
			}
		})
	}
	t.Run("should keep --format as a deprecated alias of -o", func(t *testing.T) {
		code, out, errOut := runCmd(t, string(manifest), "render", "-f", "-", "--format", render.FormatIntune)
		_, want, _ := runCmd(t, string(manifest), "render", "-f", "-", "-o", render.FormatIntune)
		if code != 0 || out != want || !strings.Contains(errOut, "deprecated") {
			t.Fatalf("exit %d, same output %v, stderr %q", code, out == want, errOut)
		}
	})
	t.Run("should default to registry-pol for a GroupPolicy root and write --output-file", func(t *testing.T) {
		gp := strings.Replace(string(manifest), "policyRoot: CSP", "policyRoot: GroupPolicy", 1)
		path := filepath.Join(t.TempDir(), "Registry.pol")
		code, out, errOut := runCmd(t, gp, "render", "-f", "-", "--output-file", path)
		if code != 0 || out != "" {
			t.Fatalf("exit %d, stdout %q: %s", code, out, errOut)
		}
		data, err := os.ReadFile(path)
		if err != nil || !bytes.HasPrefix(data, []byte("PReg\x01\x00\x00\x00")) {
			t.Fatalf("Registry.pol not written: %v %q", err, data)
		}
		if _, err := render.ParseRegistryPol(data); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("should default to the agent format for LocalConfiguration", func(t *testing.T) {
		local := strings.Replace(string(manifest), "policyRoot: CSP", "policyRoot: LocalConfiguration", 1)
		code, out, _ := runCmd(t, local, "render", "-f", "-")
		if code != 0 || !strings.Contains(out, `"kind": "AgentLocalConfiguration"`) {
			t.Fatalf("exit %d: %s", code, out)
		}
	})
}

func TestRender_RejectsInvalidManifests(t *testing.T) {
	manifest, _ := os.ReadFile("testdata/seed003-hybrid.yaml")
	m := string(manifest)
	cases := []struct {
		name, manifest string
		args           []string
		stderr         []string
	}{
		{name: "should reject passwordAgeDays out of range naming the field and range",
			manifest: strings.Replace(m, "passwordAgeDays: 20", "passwordAgeDays: 400", 1),
			stderr:   []string{"spec.passwordAgeDays", "must be between 1 and 365"}},
		{name: "should reject an unknown enum value listing the allowed ones",
			manifest: strings.Replace(m, "ResetPasswordAndReboot", "Reboot", 1),
			stderr:   []string{"spec.postAuthenticationActions", `"ResetPasswordAndLogoff"`}},
		{name: "should reject an unknown field (strict decoding)",
			manifest: strings.Replace(m, "passwordLength:", "passwordLenght:", 1),
			stderr:   []string{`unknown field "passwordLenght"`}},
		{name: "should reject a CEL rule violation with its message",
			manifest: strings.Replace(strings.Replace(m, "ActiveDirectory", "EntraID", 1), "passwordAgeDays: 20", "passwordAgeDays: 20", 1),
			stderr:   []string{"spec.adPasswordEncryptionEnabled", "applies only to backupDirectory ActiveDirectory"}},
		{name: "should reject another kind",
			manifest: strings.Replace(m, "kind: LapsPolicy", "kind: ManagedDevice", 1),
			stderr:   []string{"kind LapsPolicy"}},
		{name: "should reject two documents",
			manifest: m + "\n---\n" + m,
			stderr:   []string{"one LapsPolicy per file"}},
		{name: "should reject an unknown format listing the formats",
			manifest: m, args: []string{"-o", "pdf"},
			stderr: []string{`--output "pdf"`, "syncml, intune, registry-pol, registry-text, agent"}},
		{name: "should reject an empty input", manifest: "", stderr: []string{"no LapsPolicy manifest"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, tc.manifest, append([]string{"render", "-f", "-"}, tc.args...)...)
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if out != "" {
				t.Errorf("stdout not empty: %q", out)
			}
			for _, s := range tc.stderr {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr %q lacks %q", errOut, s)
				}
			}
		})
	}
	t.Run("should require -f", func(t *testing.T) {
		if code, out, errOut := runCmd(t, "", "render"); code != 1 || out != "" || !strings.Contains(errOut, "filename") {
			t.Errorf("exit %d stdout %q stderr %q", code, out, errOut)
		}
	})
}
