// Package gposamba tests the AD backend's Group Policy publisher against an SMB-enabled Samba AD
// DC and checks every result with Samba's own tools (samba-tool gpo, Samba's PReg parser), never
// with the project's code. It is its own test binary because only one SMB-enabled DC can run on
// a machine: adtest holds a machine-wide lock while this binary's DC runs.
package gposamba

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/directory/ad"
	"github.com/fleetlaps/fleetlaps/internal/directory/ad/adtest"
	"github.com/fleetlaps/fleetlaps/internal/grouppolicy"
	"github.com/fleetlaps/fleetlaps/internal/render"
)

var srv *adtest.Server

// OUs of the fixture: the connection's search base is OU=Linked (the publishing account may
// write gPLink there and below); OU=TenantB is another tenant's, outside the base.
var (
	linkedOU, workstationsOU, serversOU, tenantBOU, unlinkableOU string
)

func TestMain(m *testing.M) {
	s, err := adtest.Start(adtest.Options{SMB: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv = s
	fmt.Fprintf(os.Stderr, "SMB-enabled samba AD DC at %s ready in %s\n", s.LDAPSURL, s.Elapsed.Round(time.Millisecond))
	linkedOU = "OU=Linked," + s.Base
	workstationsOU = "OU=Workstations," + linkedOU
	serversOU = "OU=Servers," + linkedOU
	tenantBOU = "OU=TenantB," + s.Base
	unlinkableOU = "OU=Unlinkable," + s.Base
	if err := fixture(); err != nil {
		fmt.Fprintln(os.Stderr, "fixture:", err)
		_ = s.Stop()
		os.Exit(1)
	}
	code := m.Run()
	if err := s.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping samba:", err)
	}
	os.Exit(code)
}

func fixture() error {
	conn, err := srv.Admin()
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, ou := range []string{workstationsOU, serversOU, tenantBOU} {
		a := ldap.NewAddRequest(ou, nil)
		a.Attribute("objectClass", []string{"organizationalUnit"})
		if err := conn.Add(a); err != nil {
			return fmt.Errorf("%s: %w", ou, err)
		}
	}
	a := ldap.NewAddRequest("CN=ws1,"+workstationsOU, nil)
	a.Attribute("objectClass", []string{"computer"})
	a.Attribute("sAMAccountName", []string{"ws1$"})
	a.Attribute("userAccountControl", []string{"4096"})
	return conn.Add(a)
}

// publisher is an AD connection whose search base is bases and whose Group Policy account is
// accountDN.
func publisher(t *testing.T, accountDN string, bases ...string) *ad.Directory {
	t.Helper()
	ctrlPw, err := srv.WriteSecret("ctrl", srv.BindPassword)
	if err != nil {
		t.Fatal(err)
	}
	gpoPw, err := srv.WriteSecret("gpo", srv.GPOPassword)
	if err != nil {
		t.Fatal(err)
	}
	user := strings.TrimPrefix(strings.SplitN(accountDN, ",", 2)[0], "CN=")
	d, err := ad.New(ad.Config{
		Name: "corp", URLs: []string{srv.LDAPSURL}, CAFile: srv.CAFile, BindDN: srv.BindDN, PasswordFile: ctrlPw,
		SearchBases: bases,
		GroupPolicy: &ad.GroupPolicyConfig{BindDN: accountDN, User: user, Domain: srv.Domain, PasswordFile: gpoPw, SMBAddress: srv.SMBAddress},
	}, ad.Options{Logger: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// declared renders spec as the controller does and returns the Group Policy object it declares.
func declared(t *testing.T, name string, spec lapsv1.LapsPolicySpec, links ...directory.GroupPolicyLink) directory.GroupPolicyObject {
	t.Helper()
	p := &lapsv1.LapsPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "gpo", Name: name}, Spec: spec}
	arts, err := render.ForPolicy(p)
	if err != nil {
		t.Fatal(err)
	}
	ext := grouppolicy.RegistryExtensions
	if spec.EffectivePolicyRoot() == lapsv1.PolicyRootLegacyLAPS {
		ext = grouppolicy.LegacyLAPSExtensions
	}
	for _, a := range arts {
		if a.Format == render.FormatRegistryPol {
			return directory.GroupPolicyObject{Owner: "gpo/" + name, DisplayName: "fleetlaps gpo/" + name, RegistryPol: a.Data, MachineExtensions: ext, Links: links}
		}
	}
	t.Fatalf("policy %s renders no Registry.pol", name)
	return directory.GroupPolicyObject{}
}

func sambaTool(t *testing.T, args ...string) string {
	t.Helper()
	out, err := srv.SambaTool(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// pregEntry is one Registry.pol entry as Samba's PReg parser reads it.
type pregEntry struct {
	Key, Name string
	Type      int
	Data      any
}

// backupRegistryPol runs samba-tool gpo backup and parses the backed-up Machine\Registry.pol
// with Samba's PReg parser (python3-samba's samba.gp_parse.gp_pol), as backup itself does.
func backupRegistryPol(t *testing.T, guid string) []pregEntry {
	t.Helper()
	tmp := t.TempDir()
	sambaTool(t, "gpo", "backup", guid, "--tmpdir", tmp)
	var pol string
	_ = filepath.Walk(tmp, func(p string, info os.FileInfo, err error) error {
		// backup keeps each file as NAME.SAMBABACKUP beside NAME.xml, which it wrote by parsing the
		// file with its own parser (a truncated Registry.pol fails the backup as a whole).
		if err == nil && strings.EqualFold(info.Name(), "Registry.pol.SAMBABACKUP") && strings.EqualFold(filepath.Base(filepath.Dir(p)), "Machine") {
			pol = p
		}
		return nil
	})
	if pol == "" {
		t.Fatalf("gpo backup of %s holds no Machine/Registry.pol", guid)
	}
	const script = `
import json, sys
from samba.gp_parse.gp_pol import GPPolParser
p = GPPolParser()
p.parse(open(sys.argv[1], 'rb').read())
out = []
for e in p.pol_file.entries:
    d = e.data
    if isinstance(d, bytes):
        d = d.decode('utf-16-le').rstrip('\x00')
    out.append({"Key": e.keyname, "Name": e.valuename, "Type": e.type, "Data": d})
print(json.dumps(out))
`
	cmd := exec.Command("/usr/bin/python3", "-c", script, pol)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("Samba's PReg parser refused %s: %v\n%s", pol, err, out)
	}
	var entries []pregEntry
	if err := json.Unmarshal(out, &entries); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return entries
}

func values(entries []pregEntry) map[string]any {
	m := map[string]any{}
	for _, e := range entries {
		switch d := e.Data.(type) {
		case float64:
			m[e.Name] = int(d)
		default:
			m[e.Name] = d
		}
	}
	return m
}

// highestUSN is the DC's highestCommittedUSN: unchanged means no LDAP write happened.
func highestUSN(t *testing.T) string {
	t.Helper()
	conn, err := srv.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := conn.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"highestCommittedUSN"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	return res.Entries[0].GetAttributeValue("highestCommittedUSN")
}

// templatePath is the object's folder on the DC's disk (for mtimes and hand edits).
func templatePath(guid string) string {
	realm := strings.ToLower(srv.Realm)
	return filepath.Join(srv.Dir, "samba", "state", "sysvol", realm, "Policies", guid)
}

func adminModify(t *testing.T, dn string, f func(*ldap.ModifyRequest)) {
	t.Helper()
	conn, err := srv.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	m := ldap.NewModifyRequest(dn, nil)
	f(m)
	if err := conn.Modify(m); err != nil {
		t.Fatal(err)
	}
}

func gpoDN(guid string) string { return "CN=" + guid + ",CN=Policies,CN=System," + srv.Base }

func adminRead(t *testing.T, dn, attr string) string {
	t.Helper()
	conn, err := srv.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{attr}, nil))
	if err != nil {
		t.Fatal(err)
	}
	return res.Entries[0].GetAttributeValue(attr)
}
