package gposamba

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"k8s.io/utils/ptr"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/directory"
)

func adSpec(root lapsv1.PolicyRoot, age int32) lapsv1.LapsPolicySpec {
	return lapsv1.LapsPolicySpec{
		BackupDirectory: lapsv1.BackupDirectoryActiveDirectory, DirectoryRef: lapsv1.DirectoryReference{Name: "corp"},
		PolicyRoot: root, PasswordAgeDays: ptr.To(age), PasswordLength: ptr.To[int32](20),
		AdministratorAccountName: ptr.To("LapsAdmin"),
	}
}

// TestGroupPolicy_Lifecycle publishes a GroupPolicy-root and a LegacyLAPS policy, then updates,
// idles, is edited by hand and withdrawn, checking each state with samba-tool.
func TestGroupPolicy_Lifecycle(t *testing.T) {
	ctx := context.Background()
	d := publisher(t, srv.GPODN, linkedOU)
	ws := declared(t, "workstations", adSpec(lapsv1.PolicyRootGroupPolicy, 30), directory.GroupPolicyLink{Target: workstationsOU})
	legacy := declared(t, "legacy", adSpec(lapsv1.PolicyRootLegacyLAPS, 14), directory.GroupPolicyLink{Target: serversOU, Enforced: true})

	// A GPO the controller did not create, linked to the same OU: it must survive everything.
	out := sambaTool(t, "gpo", "create", "foreign admin GPO")
	foreign := out[strings.Index(out, "{") : strings.Index(out, "}")+1]
	sambaTool(t, "gpo", "setlink", workstationsOU, foreign)
	foreignLinkBefore := adminRead(t, workstationsOU, "gPLink")

	var wsGUID, legacyGUID string
	t.Run("should create the GPO, its template and link, as samba-tool sees them", func(t *testing.T) {
		res, err := d.PublishGroupPolicy(ctx, ws)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Created || res.Version != 1 || len(res.Differences) != 0 {
			t.Fatalf("result %+v", res)
		}
		wsGUID = res.GUID
		if l := sambaTool(t, "gpo", "listall"); !strings.Contains(l, wsGUID) || !strings.Contains(l, "fleetlaps gpo/workstations") {
			t.Fatalf("listall lacks %s:\n%s", wsGUID, l)
		}
		show := sambaTool(t, "gpo", "show", wsGUID)
		t.Logf("samba-tool gpo show %s:\n%s", wsGUID, show)
		for _, want := range []string{"display name : fleetlaps gpo/workstations", "version      : 1", "flags        : NONE", `\\fleet.test\sysvol\fleet.test\Policies\` + wsGUID} {
			if !strings.Contains(show, want) {
				t.Errorf("gpo show lacks %q", want)
			}
		}
		if g := sambaTool(t, "gpo", "getlink", workstationsOU); !strings.Contains(g, wsGUID) || !strings.Contains(g, foreign) {
			t.Errorf("getlink %s lacks ours or the foreign GPO:\n%s", workstationsOU, g)
		}
		if l := sambaTool(t, "gpo", "list", "ws1$"); !strings.Contains(l, "fleetlaps gpo/workstations") {
			t.Errorf("gpo list ws1$ does not apply our GPO:\n%s", l)
		}
		entries := backupRegistryPol(t, wsGUID)
		t.Logf("Registry.pol of %s parsed by Samba's PReg parser: %+v", wsGUID, entries)
		want := map[string]any{"BackupDirectory": 2, "PasswordAgeDays": 30, "PasswordComplexity": 4, "PasswordLength": 20,
			"AdministratorAccountName": "LapsAdmin", "PasswordExpirationProtectionEnabled": 1, "ADPasswordEncryptionEnabled": 1,
			"ADEncryptedPasswordHistorySize": 0, "ADBackupDSRMPassword": 0, "PostAuthenticationResetDelay": 24, "PostAuthenticationActions": 3}
		if got := values(entries); !reflect.DeepEqual(got, want) {
			t.Errorf("Registry.pol values\n got %v\nwant %v", got, want)
		}
		for _, e := range entries {
			if e.Key != `Software\Microsoft\Windows\CurrentVersion\Policies\LAPS` {
				t.Errorf("entry %s under key %q", e.Name, e.Key)
			}
		}
		if ext := adminRead(t, gpoDN(wsGUID), "gPCMachineExtensionNames"); !strings.Contains(ext, "{35378EAC-683F-11D2-A89A-00C04FBBCFA2}") {
			t.Errorf("gPCMachineExtensionNames = %q", ext)
		}
		// aclcheck compares every GPO's SYSVOL folder ACL with the one derived from its
		// container's security descriptor, and fails on the first mismatch.
		if out, err := srv.SambaTool("gpo", "aclcheck"); err != nil {
			t.Errorf("samba-tool gpo aclcheck: %v\n%s", err, out)
		}
	})

	t.Run("should publish a LegacyLAPS policy with an enforced link", func(t *testing.T) {
		res, err := d.PublishGroupPolicy(ctx, legacy)
		if err != nil {
			t.Fatal(err)
		}
		legacyGUID = res.GUID
		g := sambaTool(t, "gpo", "getlink", serversOU)
		if !strings.Contains(g, legacyGUID) || !strings.Contains(g, "GPLINK_OPT_ENFORCE") {
			t.Errorf("getlink %s:\n%s", serversOU, g)
		}
		got := values(backupRegistryPol(t, legacyGUID))
		want := map[string]any{"AdmPwdEnabled": 1, "PasswordAgeDays": 14, "PasswordComplexity": 4, "PasswordLength": 20, "AdminAccountName": "LapsAdmin", "PwdExpirationProtectionEnabled": 0}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("legacy Registry.pol %s = %v, want %v (all: %v)", k, got[k], v, got)
			}
		}
		if ext := adminRead(t, gpoDN(legacyGUID), "gPCMachineExtensionNames"); !strings.Contains(ext, "{D76B9641-3288-4F75-942D-087DE603E3EA}") {
			t.Errorf("legacy gPCMachineExtensionNames = %q", ext)
		}
	})

	t.Run("should make no LDAP or SMB write when nothing changed", func(t *testing.T) {
		usn := highestUSN(t)
		st, err := os.Stat(filepath.Join(templatePath(wsGUID), "GPT.INI"))
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range []directory.GroupPolicyObject{ws, legacy} {
			res, err := d.PublishGroupPolicy(ctx, g)
			if err != nil || res.Created || len(res.Differences) != 0 {
				t.Fatalf("idle publish: %+v, %v", res, err)
			}
		}
		if after := highestUSN(t); after != usn {
			t.Errorf("highestCommittedUSN moved from %s to %s: an idle publish wrote to LDAP", usn, after)
		}
		st2, _ := os.Stat(filepath.Join(templatePath(wsGUID), "GPT.INI"))
		pol1, _ := os.Stat(filepath.Join(templatePath(wsGUID), "Machine", "Registry.pol"))
		if !st2.ModTime().Equal(st.ModTime()) || pol1 == nil {
			t.Errorf("GPT.INI rewritten by an idle publish")
		}
	})

	t.Run("should bump the version once in both places when a setting changes or goes", func(t *testing.T) {
		spec := adSpec(lapsv1.PolicyRootGroupPolicy, 21)
		spec.AdministratorAccountName = nil // removed from the manifest: gone from Registry.pol
		changed := declared(t, "workstations", spec, directory.GroupPolicyLink{Target: workstationsOU})
		res, err := d.PublishGroupPolicy(ctx, changed)
		if err != nil || res.Version != 2 {
			t.Fatalf("update: %+v, %v", res, err)
		}
		ini, _ := os.ReadFile(filepath.Join(templatePath(wsGUID), "GPT.INI"))
		if string(ini) != "[General]\r\nVersion=2\r\n" || adminRead(t, gpoDN(wsGUID), "versionNumber") != "2" {
			t.Errorf("GPT.INI %q, versionNumber %s", ini, adminRead(t, gpoDN(wsGUID), "versionNumber"))
		}
		after := values(backupRegistryPol(t, wsGUID))
		if after["PasswordAgeDays"] != 21 {
			t.Errorf("PasswordAgeDays = %v after the update", after["PasswordAgeDays"])
		}
		if v, ok := after["AdministratorAccountName"]; ok {
			t.Errorf("AdministratorAccountName = %v still in Registry.pol after it left the manifest", v)
		}
		ws = changed
	})

	t.Run("should name and undo hand edits of content, versions and links", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(templatePath(wsGUID), "Machine", "Registry.pol"), []byte("PReg\x01\x00\x00\x00"), 0o644); err != nil {
			t.Fatal(err)
		}
		adminModify(t, gpoDN(wsGUID), func(m *ldap.ModifyRequest) { m.Replace("versionNumber", []string{"7"}) })
		sambaTool(t, "gpo", "dellink", workstationsOU, wsGUID)
		res, err := d.PublishGroupPolicy(ctx, ws)
		if err != nil {
			t.Fatal(err)
		}
		joined := strings.Join(res.Differences, "; ")
		for _, want := range []string{"Registry.pol content differs", "GPT.INI version 2 and versionNumber 7 disagree", "link on " + workstationsOU + " is missing"} {
			if !strings.Contains(joined, want) {
				t.Errorf("differences %q lack %q", joined, want)
			}
		}
		if res.Version != 8 || adminRead(t, gpoDN(wsGUID), "versionNumber") != "8" {
			t.Errorf("version after restore %d / %s, want 8", res.Version, adminRead(t, gpoDN(wsGUID), "versionNumber"))
		}
		if v := values(backupRegistryPol(t, wsGUID))["PasswordAgeDays"]; v != 21 {
			t.Errorf("content not restored: PasswordAgeDays = %v", v)
		}
		if g := sambaTool(t, "gpo", "getlink", workstationsOU); !strings.Contains(g, wsGUID) || !strings.Contains(g, foreign) {
			t.Errorf("link not restored or foreign link lost:\n%s", g)
		}
	})

	t.Run("should unlink and delete on withdraw and leave the foreign GPO and its link intact", func(t *testing.T) {
		for _, owner := range []string{ws.Owner, legacy.Owner} {
			if err := d.WithdrawGroupPolicy(ctx, owner); err != nil {
				t.Fatal(err)
			}
		}
		l := sambaTool(t, "gpo", "listall")
		if strings.Contains(l, wsGUID) || strings.Contains(l, legacyGUID) || !strings.Contains(l, foreign) {
			t.Errorf("listall after withdraw:\n%s", l)
		}
		if after := adminRead(t, workstationsOU, "gPLink"); after != foreignLinkBefore {
			t.Errorf("gPLink of %s is %q, want the foreign link as it was: %q", workstationsOU, after, foreignLinkBefore)
		}
		if _, err := os.Stat(templatePath(wsGUID)); !os.IsNotExist(err) {
			t.Errorf("template folder still there: %v", err)
		}
		if err := d.WithdrawGroupPolicy(ctx, ws.Owner); err != nil {
			t.Errorf("second withdraw: %v", err)
		}
	})
}

// TestGroupPolicy_RefusesTargetsOutsideTheSearchBases: another tenant's OU and a DN outside the
// bases are refused before any write.
func TestGroupPolicy_RefusesTargetsOutsideTheSearchBases(t *testing.T) {
	d := publisher(t, srv.GPODN, linkedOU)
	for _, target := range []string{tenantBOU, srv.Base, "OU=Linked-Other," + srv.Base} {
		usn := highestUSN(t)
		listBefore := sambaTool(t, "gpo", "listall")
		g := declared(t, "tenant-escape", adSpec(lapsv1.PolicyRootGroupPolicy, 30), directory.GroupPolicyLink{Target: workstationsOU}, directory.GroupPolicyLink{Target: target})
		_, err := d.PublishGroupPolicy(context.Background(), g)
		if !errors.Is(err, directory.ErrOutOfScope) || !strings.Contains(err.Error(), target) {
			t.Fatalf("target %s: err = %v, want OutOfScope naming it", target, err)
		}
		if after := highestUSN(t); after != usn {
			t.Errorf("target %s: highestCommittedUSN moved %s -> %s", target, usn, after)
		}
		if after := sambaTool(t, "gpo", "listall"); after != listBefore {
			t.Errorf("target %s: a GPO was created", target)
		}
	}
}

// TestGroupPolicy_MissingRightIsNamed: each right the publishing account needs, missing, gives
// PermissionDenied naming that right.
func TestGroupPolicy_MissingRightIsNamed(t *testing.T) {
	cases := []struct {
		name, account string
		bases         []string
		target        string
		right         string
	}{
		{"should name create-child on the Policies container", srv.GPONoneDN, []string{linkedOU}, workstationsOU, "create child (groupPolicyContainer) on CN=Policies,CN=System," + srv.Base},
		{"should name write on the SYSVOL Policies folder", srv.GPONoSysvolDN, []string{linkedOU}, workstationsOU, `write on the SYSVOL Policies folder \\fleet.test\sysvol\fleet.test\Policies`},
		{"should name write of gPLink on the target", srv.GPODN, []string{srv.Base}, unlinkableOU, "write gPLink on " + unlinkableOU},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := publisher(t, tc.account, tc.bases...)
			g := declared(t, "rights-"+string(rune('a'+i)), adSpec(lapsv1.PolicyRootGroupPolicy, 30), directory.GroupPolicyLink{Target: tc.target})
			_, err := d.PublishGroupPolicy(context.Background(), g)
			if !errors.Is(err, directory.ErrPermissionDenied) || !strings.Contains(err.Error(), tc.right) {
				t.Fatalf("err = %v, want PermissionDenied naming %q", err, tc.right)
			}
		})
	}
}
