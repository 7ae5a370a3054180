package tenantrbac

import (
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/fleetlaps/fleetlaps/internal/directoryconfig"
)

func TestRoleBindings_oneForEachNamespaceTheConnectionsName(t *testing.T) {
	f, err := directoryconfig.Parse([]byte(`
directories:
- {name: corp, type: activeDirectory, namespaces: [team-a, team-b], discovery: {enabled: true, namespace: fleet}}
- {name: lab, type: activeDirectory, namespaces: [team-a], namespaceSelector: {matchLabels: {lab: "yes"}}}
- {name: closed, type: activeDirectory}
`))
	if err != nil {
		t.Fatal(err)
	}
	bindings, err := RoleBindings(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range bindings {
		got = append(got, b.Namespace)
		if b.RoleRef.Kind != "ClusterRole" || b.RoleRef.Name != DefaultClusterRole || len(b.Subjects) != 1 ||
			b.Subjects[0].Namespace != "fleetlaps-system" || b.Subjects[0].Name != "fleetlaps-controller-manager" {
			t.Fatalf("binding %+v", b)
		}
	}
	if strings.Join(got, ",") != "fleet,team-a,team-b" {
		t.Fatalf("namespaces %v", got)
	}
	data, err := YAML(bindings)
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(strings.TrimPrefix(string(data), "---\n"), "---\n")
	if len(docs) != 3 {
		t.Fatalf("%d documents:\n%s", len(docs), data)
	}
	var back rbacv1.RoleBinding
	if err := yaml.UnmarshalStrict([]byte(docs[1]), &back); err != nil || back.Kind != "RoleBinding" || back.Namespace != "team-a" {
		t.Fatalf("parsed back %+v %v", back, err)
	}
}

func TestBinding_refusesBadNames(t *testing.T) {
	if _, err := Binding("Team_A", Options{}); err == nil || !strings.Contains(err.Error(), `namespace "Team_A"`) {
		t.Fatalf("bad namespace: %v", err)
	}
	if _, err := Binding("team-a", Options{ServiceAccount: "nobody"}); err == nil || !strings.Contains(err.Error(), "namespace/name") {
		t.Fatalf("bad service account: %v", err)
	}
}
