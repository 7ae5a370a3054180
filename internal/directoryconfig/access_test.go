package directoryconfig

import (
	"errors"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestAllows(t *testing.T) {
	tenant := map[string]string{"laps.fleetlaps.io/tenant": "corp"}
	sel := &metav1.LabelSelector{MatchLabels: tenant}
	disc := &Discovery{Enabled: true, Namespace: "fleet"}
	cases := map[string]struct {
		conn    Connection
		ns      string
		labels  map[string]string
		allowed bool
	}{
		"a connection without namespaces is closed":        {conn: Connection{}, ns: "team-a"},
		"a listed namespace may":                           {conn: Connection{Namespaces: []string{"team-a"}}, ns: "team-a", allowed: true},
		"an unlisted namespace may not":                    {conn: Connection{Namespaces: []string{"team-a"}}, ns: "team-b"},
		"the discovery namespace always may":               {conn: Connection{Discovery: disc}, ns: "fleet", allowed: true},
		"a disabled discovery admits nothing":              {conn: Connection{Discovery: &Discovery{Namespace: "fleet"}}, ns: "fleet"},
		"matching labels may":                              {conn: Connection{NamespaceSelector: sel}, ns: "x", labels: tenant, allowed: true},
		"other labels may not":                             {conn: Connection{NamespaceSelector: sel}, ns: "x", labels: map[string]string{"laps.fleetlaps.io/tenant": "other"}},
		"no labels may not":                                {conn: Connection{NamespaceSelector: sel}, ns: "x"},
		"the empty selector admits every namespace":        {conn: Connection{NamespaceSelector: &metav1.LabelSelector{}}, ns: "any", allowed: true},
		"list or selector: the list admits":                {conn: Connection{Namespaces: []string{"a"}, NamespaceSelector: sel}, ns: "a", allowed: true},
		"list or selector: the selector admits":            {conn: Connection{Namespaces: []string{"a"}, NamespaceSelector: sel}, ns: "b", labels: tenant, allowed: true},
		"list or selector: neither admits":                 {conn: Connection{Namespaces: []string{"a"}, NamespaceSelector: sel}, ns: "b"},
		"a namespace named like a prefix does not match":   {conn: Connection{Namespaces: []string{"team"}}, ns: "team-a"},
		"a broken selector admits nothing (Parse refuses)": {conn: Connection{NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "k", Operator: "Bogus"}}}}, ns: "x"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			tc.conn.Name = "corp"
			err := tc.conn.Allows(tc.ns, tc.labels)
			if tc.allowed {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrNamespaceNotAllowed) || Reason(err) != "DirectoryNotAllowed" {
				t.Fatalf("err = %v, want DirectoryNotAllowed", err)
			}
			if !strings.Contains(err.Error(), `"corp"`) || !strings.Contains(err.Error(), `"`+tc.ns+`"`) {
				t.Fatalf("message must name the connection and the namespace: %v", err)
			}
		})
	}
}

func TestParse_namespaceGate(t *testing.T) {
	f, err := Parse([]byte(`
directories:
- name: corp
  type: activeDirectory
  namespaces: [team-a, team-b]
  namespaceSelector: {matchLabels: {tenant: corp}}
  discovery: {enabled: true, namespace: fleet}
- name: lab
  type: activeDirectory
  namespaces: [lab, team-a]
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.AllowedNamespaces(), ","); got != "fleet,lab,team-a,team-b" {
		t.Fatalf("AllowedNamespaces = %s", got)
	}
	_, err = Parse([]byte(`
directories:
- name: corp
  type: activeDirectory
  namespaces: [Team_A]
  namespaceSelector: {matchExpressions: [{key: tenant, operator: Near}]}
  discovery: {enabled: true, namespace: "Fleet!"}
`))
	for _, want := range []string{"directories[0].namespaces[0]", "directories[0].namespaceSelector", "directories[0].discovery.namespace"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}
