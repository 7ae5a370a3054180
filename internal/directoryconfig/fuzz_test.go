package directoryconfig

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// FuzzParse reads arbitrary --directories documents: no panic; an error names the file; a
// document that parses validates, and writing it out and parsing it again gives the same names.
func FuzzParse(f *testing.F) {
	f.Add([]byte("directories:\n- name: corp\n  type: activeDirectory\n  credentialsDir: /etc/corp\n  settings: {urls: [\"ldaps://dc1:636\"]}\n  discovery: {enabled: true, namespace: fleet}\n  namespaces: [fleet]\n"))
	f.Add([]byte("directories:\n- {name: cloud, type: entraID, syncInterval: 10m, namespaceSelector: {matchLabels: {a: b}}}\n"))
	f.Add([]byte("directories:\n- name: Corp_1\n  settings: [1]\n  syncInterval: 1s\n  unavailableGracePeriod: -1m\n"))
	f.Add([]byte("directories: [{name: a, type: activeDirectory, namespaceSelector: {matchExpressions: [{key: k, operator: Bogus}]}}]"))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		file, err := Parse(doc)
		if err != nil {
			if file != nil || !strings.HasPrefix(err.Error(), "directories file: ") {
				t.Fatalf("error %v with file %v", err, file)
			}
			return
		}
		if errs := file.Validate(); len(errs) > 0 {
			t.Fatalf("parsed but invalid: %v", errs)
		}
		out, err := yaml.Marshal(file)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("written form does not parse: %v\n%s", err, out)
		}
		if strings.Join(again.Names(), ",") != strings.Join(file.Names(), ",") {
			t.Fatalf("names %v became %v", file.Names(), again.Names())
		}
	})
}
