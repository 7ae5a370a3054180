package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	file := filepath.Join(t.TempDir(), "directories.yaml")
	if err := os.WriteFile(file, []byte("directories:\n- {name: corp, type: activeDirectory, namespaces: [team-a]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run([]string{"role-bindings", "--directories", file, "--namespace", "team-c", "--service-account", "ops/laps"}, &out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"namespace: team-a", "namespace: team-c", "name: fleetlaps-tenant-role", "name: laps", "namespace: ops"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	for _, bad := range [][]string{nil, {"role-bindings"}, {"role-bindings", "--namespace", "Bad_NS"}, {"role-bindings", "--directories", "/nonexistent"}} {
		if err := run(bad, &out); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
