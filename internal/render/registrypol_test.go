package render_test

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fleetlaps/fleetlaps/internal/policy"
	"github.com/fleetlaps/fleetlaps/internal/render"
)

func TestRegistryPol_RoundTrip(t *testing.T) {
	for name, p := range goldenPolicies() {
		t.Run(name, func(t *testing.T) {
			s := policy.Effective(&p.Spec)
			data, err := render.Render(render.FormatRegistryPol, s)
			if err != nil {
				t.Fatal(err)
			}
			values, err := render.ParseRegistryPol(data)
			if err != nil {
				t.Fatal(err)
			}
			if len(values) == 0 {
				t.Fatal("no values")
			}
			if again := render.EncodeRegistryPol(values); string(again) != string(data) {
				t.Error("re-encoding the parsed values gives different bytes")
			}
			// The text form lists the same values in the same order.
			text, _ := render.Render(render.FormatRegistryText, s)
			for _, v := range values {
				want := "Computer\n" + v.Key + "\n" + v.Name + "\n"
				if !strings.Contains(string(text), want) {
					t.Errorf("text form lacks %q", want)
				}
			}
		})
	}
}

func TestRegistryPol_ParseRejectsDamage(t *testing.T) {
	s := policy.Effective(&goldenPolicies()["gpo-dsrm"].Spec)
	data, _ := render.Render(render.FormatRegistryPol, s)
	for name, bad := range map[string][]byte{
		"no header":      data[8:],
		"truncated":      data[:len(data)-3],
		"version 2":      append([]byte("PReg\x02\x00\x00\x00"), data[8:]...),
		"missing ] byte": data[:len(data)-2],
	} {
		if _, err := render.ParseRegistryPol(bad); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}

type sambaView struct {
	Signature string `json:"signature"`
	Version   int    `json:"version"`
	Entries   []struct {
		Key  string `json:"key"`
		Name string `json:"name"`
		Type uint32 `json:"type"`
		Size uint32 `json:"size"`
		Data any    `json:"data"`
	} `json:"entries"`
	RepacksIdentically bool `json:"repacks_identically"`
}

// TestRegistryPol_Samba checks every golden Registry.pol with an independent implementation:
// Samba's samba.gp_parse.gp_pol, run by Debian's /usr/bin/python3 (python3-samba, listed in
// hack/render-packages.txt).
func TestRegistryPol_Samba(t *testing.T) {
	const python = "/usr/bin/python3"
	script, _ := filepath.Abs("testdata/samba/check_pol.py")
	probe := exec.Command(python, "-c", "import samba.gp_parse.gp_pol, samba.ndr")
	if out, err := probe.CombinedOutput(); err != nil {
		t.Fatalf("the Samba check needs %s with python3-samba (apt-get install python3-samba; see hack/render-packages.txt): %v\n%s", python, err, out)
	}
	dir := t.TempDir()
	for name, p := range goldenPolicies() {
		t.Run(name, func(t *testing.T) {
			s := policy.Effective(&p.Spec)
			data, err := render.Render(render.FormatRegistryPol, s)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, name+".pol")
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(python, script, path).Output()
			if err != nil {
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					t.Fatalf("samba check failed: %v\n%s", err, ee.Stderr)
				}
				t.Fatal(err)
			}
			var v sambaView
			if err := json.Unmarshal(out, &v); err != nil {
				t.Fatalf("samba output %q: %v", out, err)
			}
			if v.Signature != "PReg" || v.Version != 1 {
				t.Errorf("samba header %q version %d", v.Signature, v.Version)
			}
			if !v.RepacksIdentically {
				t.Error("samba re-packs the parsed file to different bytes")
			}
			ours, _ := render.ParseRegistryPol(data)
			if len(v.Entries) != len(ours) {
				t.Fatalf("samba sees %d entries, we wrote %d", len(v.Entries), len(ours))
			}
			for i, e := range v.Entries {
				o := ours[i]
				var want any = float64(o.DWord)
				if o.Type == render.RegSZ {
					want = o.SZ
				}
				if e.Key != o.Key || e.Name != o.Name || e.Type != o.Type || !reflect.DeepEqual(e.Data, want) {
					t.Errorf("entry %d: samba %+v, ours %+v", i, e, o)
				}
			}
		})
	}
}
