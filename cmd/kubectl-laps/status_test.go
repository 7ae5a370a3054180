package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

func TestStatus(t *testing.T) {
	fleet(t)
	cases := []struct {
		name, golden string
		args         []string
	}{
		{"should show the fleet per policy", "status-fleet.txt", []string{"status", "-n", "fleet"}},
		{"should show the namespace column with -A", "status-fleet-all.txt", []string{"status", "-A"}},
		{"should show the fleet as YAML", "status-fleet.yaml", []string{"status", "-n", "fleet", "-o", "yaml"}},
		{"should show the devices a selector matches", "status-devices.txt", []string{"status", "-n", "fleet", "-l", "tier=gold"}},
		{"should show named devices", "status-devices-named.txt", []string{"status", "-n", "fleet", "pc-03", "pc-04"}},
		{"should show one device in detail with its failing condition and event", "status-pc-02.txt", []string{"status", "-n", "fleet", "pc-02"}},
		{"should show the rotation evidence of a device", "status-pc-01.txt", []string{"status", "-n", "fleet", "pc-01"}},
		{"should show one device as JSON", "status-pc-02.json", []string{"status", "-n", "fleet", "pc-02", "-o", "json"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := laps(t, tc.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if slices.Contains(tc.args, "-A") {
				out = onlyNamespace(out, "fleet") // other tests' namespaces come and go
			}
			golden(t, tc.golden, out)
		})
	}
	t.Run("should fail naming a device that does not exist", func(t *testing.T) {
		code, out, errOut := laps(t, "status", "-n", "fleet", "pc-99")
		if code != 1 || out != "" || errOut != "error: ManagedDevice \"pc-99\" not found in namespace \"fleet\"\n" {
			t.Errorf("exit %d stdout %q stderr %q", code, out, errOut)
		}
	})
	t.Run("should reject an unknown output format", func(t *testing.T) {
		code, _, errOut := laps(t, "status", "-n", "fleet", "-o", "wide")
		if code != 1 || errOut != "error: --output \"wide\": unsupported, allowed: table, yaml, json\n" {
			t.Errorf("exit %d stderr %q", code, errOut)
		}
	})
	t.Run("should reject an invalid selector", func(t *testing.T) {
		code, _, errOut := laps(t, "status", "-n", "fleet", "-l", "tier in (")
		if code != 1 || !regexp.MustCompile(`--selector "tier in \("`).MatchString(errOut) {
			t.Errorf("exit %d stderr %q", code, errOut)
		}
	})
	t.Run("should say when a namespace is empty", func(t *testing.T) {
		code, out, errOut := laps(t, "status", "-n", "default")
		if code != 0 || out != "" || errOut != "No LapsPolicies or ManagedDevices found.\n" {
			t.Errorf("exit %d stdout %q stderr %q", code, out, errOut)
		}
	})
}

// onlyNamespace keeps the header and the rows of namespace ns of a table with a NAMESPACE column.
func onlyNamespace(table, ns string) string {
	var b strings.Builder
	for i, l := range strings.Split(table, "\n") {
		if i == 0 || strings.HasPrefix(l, ns+" ") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// TestLapsPolicyPrinterColumns checks what `kubectl get lapspolicies` prints: the apiserver's
// table for the CRD's printer columns, which include the compliant and expired counts.
func TestLapsPolicyPrinterColumns(t *testing.T) {
	fleet(t)
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := cs.Discovery().RESTClient().Get().AbsPath("/apis", lapsv1.GroupVersion.Group, lapsv1.GroupVersion.Version, "namespaces", "fleet", "lapspolicies").
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").Do(context.Background()).Raw()
	if err != nil {
		t.Fatal(err)
	}
	var table metav1.Table
	if err := json.Unmarshal(raw, &table); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, c := range table.ColumnDefinitions {
		if c.Priority == 0 && c.Name != "Age" {
			fmt.Fprintf(&b, "%s\t", c.Name)
		}
	}
	b.WriteString("\n")
	for _, r := range table.Rows {
		for i, c := range table.ColumnDefinitions {
			if c.Priority == 0 && c.Name != "Age" {
				fmt.Fprintf(&b, "%v\t", r.Cells[i])
			}
		}
		b.WriteString("\n")
	}
	golden(t, "get-lapspolicies.txt", b.String())
}
