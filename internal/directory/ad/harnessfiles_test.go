package ad

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/directory/ad/adtest"
	"github.com/fleetlaps/fleetlaps/internal/directoryconfig"
)

// TestHarnessFiles_runTheREADMEExample: the directories file and bind password file that
// `make samba-up` writes (README, "Running the manager outside a cluster") open a working
// connection, and its discovery puts devices where the sample LapsPolicy selects them.
func TestHarnessFiles_runTheREADMEExample(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(srv.Dir, "directories.yaml"))
	if err != nil {
		t.Fatalf("the harness wrote no directories file: %v", err)
	}
	file, err := directoryconfig.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(srv.Dir, "credentials", "password")); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("bind password file: %v (mode %v), want one readable by its owner only", err, fi)
	}
	set := directoryconfig.Open(file, directoryconfig.Registry{directory.TypeActiveDirectory: OpenFromSettings})
	e, err := set.Lookup("corp-ad")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = e.Directory.Close() }()
	snap, err := e.Directory.Snapshot(context.Background())
	if err != nil {
		t.Fatalf("snapshot through the harness's files: %v", err)
	}
	if len(snap.Devices) != fleetSize {
		t.Errorf("devices = %d, want the %d fleet computers", len(snap.Devices), fleetSize)
	}

	// The sample policy must select what discovery creates, in the namespace it creates it in.
	root, err := adtest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	sample, err := os.ReadFile(filepath.Join(root, "config", "samples", "laps_v1_lapspolicy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var p lapsv1.LapsPolicy
	if err := yaml.Unmarshal([]byte(strings.Split(string(sample), "\n---")[0]), &p); err != nil {
		t.Fatal(err)
	}
	sel, err := metav1.LabelSelectorAsSelector(p.Spec.DeviceSelector)
	if err != nil {
		t.Fatal(err)
	}
	d := e.Config.Discovery
	if d == nil || !d.Enabled || d.Namespace != p.Namespace || !sel.Matches(labels.Set(d.Labels)) || p.Spec.DirectoryRef.Name != e.Config.Name {
		t.Errorf("discovery %+v does not feed the sample policy %s/%s (directory %s, selector %s)", d, p.Namespace, p.Name, p.Spec.DirectoryRef.Name, sel)
	}
	if err := e.Config.Allows(p.Namespace, nil); err != nil {
		t.Errorf("connection %s does not admit namespace %s: %v", e.Config.Name, p.Namespace, err)
	}
}
