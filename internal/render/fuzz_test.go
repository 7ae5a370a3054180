package render_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"testing"

	"k8s.io/utils/ptr"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/policy"
	"github.com/fleetlaps/fleetlaps/internal/render"
)

// FuzzParseRegistryPol reads arbitrary Registry.pol bytes: no panic, and what parses encodes
// back to the same bytes.
func FuzzParseRegistryPol(f *testing.F) {
	f.Add(render.EncodeRegistryPol([]render.RegistryValue{
		{Key: `Software\Microsoft\Policies\LAPS`, Name: "BackupDirectory", Type: render.RegDWORD, DWord: 2},
		{Key: `Software\Microsoft\Policies\LAPS`, Name: "AdministratorAccountName", Type: render.RegSZ, SZ: "LapsAdmin"},
	}))
	f.Add([]byte("PReg\x01\x00\x00\x00"))
	f.Add([]byte("PReg\x01\x00\x00\x00[\x00a\x00\x00\x00;\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		values, err := render.ParseRegistryPol(data)
		if err != nil {
			return
		}
		if again := render.EncodeRegistryPol(values); !bytes.Equal(again, data) {
			t.Fatalf("parsed %+v but encodes to different bytes", values)
		}
	})
}

// FuzzRenderStrings renders every format with arbitrary free-text settings: no panic; what
// renders is well-formed (XML parses, Registry.pol parses back with the same account name).
func FuzzRenderStrings(f *testing.F) {
	f.Add("LapsAdmin", `CONTOSO\LAPS Admins`, "lapsadmin")
	f.Add("a\x00b", "S-1-5-21-1-2-3-512", "x]]>y")
	f.Add("<admin>&\"'", "\r\n[x];y", "\ufffd\U0001F600")
	f.Fuzz(func(t *testing.T, account, principal, prefix string) {
		for _, root := range []lapsv1.PolicyRoot{lapsv1.PolicyRootCSP, lapsv1.PolicyRootGroupPolicy, lapsv1.PolicyRootLegacyLAPS} {
			spec := lapsv1.LapsPolicySpec{BackupDirectory: lapsv1.BackupDirectoryActiveDirectory, DirectoryRef: lapsv1.DirectoryReference{Name: "corp"},
				PolicyRoot: root, AdministratorAccountName: ptr.To(account)}
			if root != lapsv1.PolicyRootLegacyLAPS {
				spec.ADPasswordEncryptionPrincipal = ptr.To(principal)
			}
			if root == lapsv1.PolicyRootCSP {
				spec.AdministratorAccountName = nil
				spec.AutomaticAccountManagement = &lapsv1.AutomaticAccountManagement{Enabled: ptr.To(true),
					Target: ptr.To(lapsv1.AccountTargetNewCustomAdministrator), NameOrPrefix: ptr.To(prefix)}
			}
			s := policy.Effective(&spec)
			for _, format := range render.Formats {
				out, err := render.Render(format, s)
				if err != nil {
					continue
				}
				switch format {
				case render.FormatSyncML, render.FormatIntune:
					wellFormedXML(t, format, out)
				case render.FormatRegistryPol:
					values, err := render.ParseRegistryPol(out)
					if err != nil {
						t.Fatalf("%s root %s: rendered Registry.pol does not parse: %v", format, root, err)
					}
					if root == lapsv1.PolicyRootLegacyLAPS && account != "" && !hasSZ(values, account) {
						t.Fatalf("account name %q not read back from %+v", account, values)
					}
				}
			}
		}
	})
}

func hasSZ(values []render.RegistryValue, s string) bool {
	for _, v := range values {
		if v.Type == render.RegSZ && v.SZ == s {
			return true
		}
	}
	return false
}

func wellFormedXML(t *testing.T, format string, b []byte) {
	t.Helper()
	if !bytes.HasPrefix(bytes.TrimSpace(b), []byte("<")) {
		return // a JSON document (Intune) or another non-XML form
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("%s: not well-formed XML: %v\n%s", format, err, b)
		}
	}
}
