package main

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

// TestREADME_runningOutsideACluster keeps the README's "Running the manager outside a cluster"
// example runnable: every manager flag it uses exists, every repository path it names exists,
// the Samba harness writes the files it points the manager at, and the sample policy it patches
// has the name, principal and window the text describes. (The files themselves are opened against
// Samba by internal/directory/ad's TestHarnessFiles_runTheREADMEExample.)
func TestREADME_runningOutsideACluster(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(raw), "\n## Running the manager outside a cluster\n")
	if !ok {
		t.Fatal(`README has no section "Running the manager outside a cluster"`)
	}
	sec, _, _ = strings.Cut(sec, "\n## ")

	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	if _, _, err := ParseFlags(fs, nil); err != nil {
		t.Fatal(err)
	}
	known := func(name string) bool {
		// --kubeconfig is registered on the command line by controller-runtime's config package.
		return fs.Lookup(name) != nil || flag.CommandLine.Lookup(name) != nil
	}
	flags := regexp.MustCompile(`--([a-z][a-z0-9-]+)`).FindAllStringSubmatch(sec, -1)
	if len(flags) < 6 {
		t.Fatalf("the section names only %d flags", len(flags))
	}
	for _, m := range flags {
		if !known(m[1]) && m[1] != "type" { // kubectl patch --type
			t.Errorf("README names --%s, which the manager does not have", m[1])
		}
	}
	for _, must := range []string{"--kubeconfig", "--webhook-port", "--webhook-cert-dir", "--enable-webhook=false", "failurePolicy: Fail",
		"discovery.labels", "maintenance window", "make samba-up"} {
		if !strings.Contains(sec, must) {
			t.Errorf("the section does not mention %q", must)
		}
	}

	for _, m := range regexp.MustCompile("(?:config|hack)/[a-z0-9_./-]+").FindAllString(sec, -1) {
		if _, err := os.Stat(filepath.Join("../..", strings.TrimRight(m, "./"))); err != nil {
			t.Errorf("README names %s: %v", m, err)
		}
	}

	up, err := os.ReadFile("../../hack/samba/up.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{".samba/directories.yaml", ".samba/credentials/password"} {
		if !strings.Contains(sec, f) {
			t.Errorf("the section does not use %s", f)
		}
		if written := `"$DIR/` + strings.TrimPrefix(f, ".samba/"); !strings.Contains(string(up), written) {
			t.Errorf("hack/samba/up.sh does not write %s (%s)", f, written)
		}
	}
	mk, err := os.ReadFile("../../hack/samba/samba.mk")
	if err != nil || !strings.Contains(string(mk), "SAMBA_DIR ?= $(CURDIR)/.samba") {
		t.Errorf("make samba-up no longer uses .samba/: %v", err)
	}

	sample, err := os.ReadFile("../../config/samples/laps_v1_lapspolicy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var p lapsv1.LapsPolicy
	if err := yaml.Unmarshal([]byte(strings.Split(string(sample), "\n---")[0]), &p); err != nil {
		t.Fatal(err)
	}
	if p.Namespace != "frontline" || p.Name != "workstations" || p.Spec.DirectoryRef.Name != "corp-ad" ||
		!strings.Contains(sec, "lapspolicy "+p.Name) || !strings.Contains(sec, "namespace "+p.Namespace) {
		t.Errorf("sample policy %s/%s (directory %s) is not the one the section patches", p.Namespace, p.Name, p.Spec.DirectoryRef.Name)
	}
	if p.Spec.ADPasswordEncryptionPrincipal == nil || !strings.Contains(sec, *p.Spec.ADPasswordEncryptionPrincipal) {
		t.Errorf("the section does not name the sample's principal %v", p.Spec.ADPasswordEncryptionPrincipal)
	}
	if p.Spec.Rotation == nil || len(p.Spec.Rotation.MaintenanceWindows) == 0 || !strings.Contains(sec, p.Spec.Rotation.MaintenanceWindows[0].Start) {
		t.Errorf("the section does not describe the sample's maintenance window %+v", p.Spec.Rotation)
	}
}
