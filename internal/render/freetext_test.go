package render_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"k8s.io/utils/ptr"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/policy"
	"github.com/fleetlaps/fleetlaps/internal/policy/policytest"
	"github.com/fleetlaps/fleetlaps/internal/render"
)

// freeTextRunes mixes what account names usually hold with every kind of trouble: Windows'
// forbidden characters, the delimiters of each document format, control characters, line and
// paragraph separators, noncharacters and characters outside the BMP.
var (
	safeRunes     = []rune("aZ09 ._-()&'!#$%{}~`éÜ管理者😀\u2028\u200b")
	freeTextRunes = append(slices.Clone(safeRunes), []rune(`"/\[]:;|=,+*?<>@`+"\x00\t\n\r\x7f\u0085\u009f\ufffe\uffff")...)
)

// randomText returns 1..24 runes: half the values from the safe runes only, half from all.
func randomText(r *rand.Rand) string {
	pool := freeTextRunes
	if r.IntN(2) == 0 {
		pool = safeRunes
	}
	n := 1 + r.IntN(24)
	var b strings.Builder
	for range n {
		b.WriteRune(pool[r.IntN(len(pool))])
	}
	return b.String()
}

// freeTextField is one free-text setting: how to set it and its name in errors.
type freeTextField struct {
	name    string
	account bool
	set     func(*lapsv1.LapsPolicySpec, string)
}

var freeTextFields = []freeTextField{
	{"administratorAccountName", true, func(s *lapsv1.LapsPolicySpec, v string) { s.AdministratorAccountName = &v }},
	{"nameOrPrefix", true, func(s *lapsv1.LapsPolicySpec, v string) {
		s.AutomaticAccountManagement = &lapsv1.AutomaticAccountManagement{Enabled: ptr.To(true), NameOrPrefix: &v}
	}},
	{"adPasswordEncryptionPrincipal", false, func(s *lapsv1.LapsPolicySpec, v string) { s.ADPasswordEncryptionPrincipal = &v }},
}

// renderings are the format and root pairs every free-text value is rendered in.
var renderings = []struct {
	format string
	root   lapsv1.PolicyRoot
}{
	{render.FormatSyncML, lapsv1.PolicyRootCSP},
	{render.FormatIntune, lapsv1.PolicyRootCSP},
	{render.FormatRegistryPol, lapsv1.PolicyRootGroupPolicy},
	{render.FormatRegistryText, lapsv1.PolicyRootGroupPolicy},
	{render.FormatRegistryPol, lapsv1.PolicyRootLegacyLAPS},
	{render.FormatRegistryText, lapsv1.PolicyRootLegacyLAPS},
	{render.FormatAgent, lapsv1.PolicyRootLocalConfiguration},
}

// TestRender_FreeTextIsRefusedOrReadBackUnchanged: random strings in every free-text setting,
// rendered in every format, are either refused with an error naming the setting, or parse back
// out of the document unchanged. For account names, the renderers refuse exactly what admission
// (policy.Validate, the same rule as the CRD's CEL) refuses.
func TestRender_FreeTextIsRefusedOrReadBackUnchanged(t *testing.T) {
	const perField = 2000
	r := rand.New(rand.NewPCG(11, 2026))
	var total, readBack, refused, admissionRefused int
	for _, f := range freeTextFields {
		for range perField {
			v := randomText(r)
			spec := policytest.SeedCSPExampleActiveDirectory()
			f.set(&spec, v)
			admitted := true
			for _, e := range policy.Validate(&spec) {
				admitted = admitted && !strings.HasSuffix(e.Field, f.name)
			}
			if !admitted {
				admissionRefused++
			}
			anyRefused := false
			for _, rd := range renderings {
				s := spec
				s.PolicyRoot = rd.root
				settings := policy.Effective(&s)
				if !carries(settings, f.name, v) {
					continue // e.g. automatic account management under LegacyLAPS
				}
				total++
				data, err := render.Render(rd.format, settings)
				if err != nil {
					if !strings.Contains(err.Error(), f.name) {
						t.Fatalf("%s %q (%s/%s): error does not name the setting: %v", f.name, v, rd.format, rd.root, err)
					}
					refused++
					anyRefused = true
					continue
				}
				got, err := stringsIn(rd.format, data)
				if err != nil {
					t.Fatalf("%s %q (%s/%s): output does not parse: %v\n%s", f.name, v, rd.format, rd.root, err, data)
				}
				if !slices.Contains(got, v) {
					t.Fatalf("%s %q (%s/%s): not read back unchanged; strings in the output: %q", f.name, v, rd.format, rd.root, got)
				}
				readBack++
			}
			if f.account && anyRefused == admitted {
				t.Fatalf("%s %q: admission admitted=%v but a renderer refused=%v", f.name, v, admitted, anyRefused)
			}
		}
	}
	t.Logf("%d renderings: %d read back unchanged, %d refused naming the setting; %d of %d values refused at admission",
		total, readBack, refused, admissionRefused, perField*len(freeTextFields))
	if readBack == 0 || refused == 0 {
		t.Fatal("the generator must produce both kinds of value")
	}
}

// carries says whether the effective settings put v into the documents at all.
func carries(s policy.Settings, name, v string) bool {
	switch name {
	case "administratorAccountName":
		return s.AdministratorAccountName == v
	case "nameOrPrefix":
		return s.PolicyRoot != lapsv1.PolicyRootLegacyLAPS && s.AutomaticAccountManagement.NameOrPrefix == v
	default:
		return s.PolicyRoot != lapsv1.PolicyRootLegacyLAPS && s.ADPasswordEncryptionPrincipal == v
	}
}

// stringsIn parses a rendered document and returns every string value in it.
func stringsIn(format string, data []byte) ([]string, error) {
	switch format {
	case render.FormatSyncML:
		return syncMLData(data)
	case render.FormatIntune, render.FormatAgent:
		var doc any
		if err := json.Unmarshal(data, &doc); err != nil {
			return nil, err
		}
		var out []string
		walkJSON(doc, &out)
		return out, nil
	case render.FormatRegistryPol:
		values, err := render.ParseRegistryPol(data)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, v := range values {
			if v.Type == render.RegSZ {
				out = append(out, v.SZ)
			}
		}
		return out, nil
	case render.FormatRegistryText:
		return lgpoText(data)
	}
	return nil, errors.New("unknown format " + format)
}

func syncMLData(data []byte) ([]string, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	var out []string
	inData := false
	var cur strings.Builder
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			inData, cur = tk.Name.Local == "Data", strings.Builder{}
		case xml.CharData:
			if inData {
				cur.Write(tk)
			}
		case xml.EndElement:
			if inData && tk.Name.Local == "Data" {
				out = append(out, cur.String())
			}
			inData = false
		}
	}
}

func walkJSON(v any, out *[]string) {
	switch x := v.(type) {
	case string:
		*out = append(*out, x)
	case []any:
		for _, e := range x {
			walkJSON(e, out)
		}
	case map[string]any:
		for _, e := range x {
			walkJSON(e, out)
		}
	}
}

// lgpoText reads LGPO.exe's text form: a comment line, then blocks of four lines (Computer, key,
// value name, DWORD:n or SZ:text) separated by blank lines.
func lgpoText(data []byte) ([]string, error) {
	text := string(data)
	header, body, ok := strings.Cut(text, "\n\n")
	if !ok || !strings.HasPrefix(header, ";") {
		return nil, errors.New("no comment header")
	}
	var out []string
	for _, block := range strings.Split(strings.TrimSuffix(body, "\n\n"), "\n\n") {
		lines := strings.Split(block, "\n")
		if len(lines) != 4 || lines[0] != "Computer" {
			return nil, errors.New("malformed block: " + block)
		}
		switch {
		case strings.HasPrefix(lines[3], "SZ:"):
			out = append(out, strings.TrimPrefix(lines[3], "SZ:"))
		case strings.HasPrefix(lines[3], "DWORD:"):
		default:
			return nil, errors.New("unknown value line: " + lines[3])
		}
	}
	return out, nil
}
