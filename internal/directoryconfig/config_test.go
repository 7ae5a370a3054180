package directoryconfig

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/directory/directorytest"
)

func TestParse(t *testing.T) {
	cases := map[string]struct {
		doc     string
		wantErr []string
	}{
		"should accept two connections with raw settings": {doc: `
directories:
- name: corp
  type: activeDirectory
  credentialsDir: /etc/fleetlaps/corp
  settings: {url: "ldaps://dc1:636", pageSize: 500}
  discovery: {enabled: true, namespace: fleet, labels: {site: hq}}
- name: cloud
  type: entraID
  syncInterval: 10m
`},
		"should name the field of a missing type and a bad name": {doc: `
directories:
- name: Corp_1
`, wantErr: []string{"directories[0].name", "directories[0].type"}},
		"should reject an unknown type listing the supported ones": {doc: `
directories:
- name: corp
  type: openLDAP
`, wantErr: []string{`directories[0].type: Unsupported value: "openLDAP"`, "activeDirectory", "entraID"}},
		"should reject duplicate names": {doc: `
directories:
- {name: corp, type: activeDirectory}
- {name: corp, type: entraID}
`, wantErr: []string{"directories[1].name: Duplicate value"}},
		"should reject unknown fields": {doc: `
directories:
- {name: corp, type: activeDirectory, password: hunter2}
`, wantErr: []string{"unknown field"}},
		"should require a namespace for discovery": {doc: `
directories:
- {name: corp, type: activeDirectory, discovery: {enabled: true}}
`, wantErr: []string{"directories[0].discovery.namespace"}},
		"should reject a sync interval under 10s": {doc: `
directories:
- {name: corp, type: activeDirectory, syncInterval: 1s}
`, wantErr: []string{"directories[0].syncInterval"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("expected an error")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestOpenAndLookup(t *testing.T) {
	f, err := Parse([]byte(`
directories:
- {name: corp, type: activeDirectory, credentialsDir: /secrets/corp, settings: {url: "ldaps://dc1"}}
- {name: cloud, type: entraID}
- {name: broken, type: activeDirectory, settings: {fail: true}}
`))
	if err != nil {
		t.Fatal(err)
	}
	var gotRaw string
	var gotSecret string
	reg := Registry{directory.TypeActiveDirectory: func(name string, raw json.RawMessage, secretDir string) (directory.Directory, error) {
		if strings.Contains(string(raw), "fail") {
			return nil, errors.New("bad url")
		}
		gotRaw, gotSecret = string(raw), secretDir
		return directorytest.New(name, directory.TypeActiveDirectory, nil), nil
	}}
	s := Open(f, reg)
	if e, err := s.Lookup("corp"); err != nil || e.Directory == nil {
		t.Fatalf("corp: %v", err)
	}
	if gotRaw != `{"url":"ldaps://dc1"}` || gotSecret != "/secrets/corp" {
		t.Fatalf("constructor got %q %q", gotRaw, gotSecret)
	}
	if _, err := s.Lookup("cloud"); !errors.Is(err, ErrTypeUnsupported) || Reason(err) != "DirectoryTypeUnsupported" {
		t.Fatalf("cloud: %v", err)
	}
	if _, err := s.Lookup("broken"); !errors.Is(err, ErrConnectionInvalid) {
		t.Fatalf("broken: %v", err)
	}
	_, err = s.Lookup("nope")
	if !errors.Is(err, ErrUnknownDirectory) || !strings.Contains(err.Error(), "known: broken, cloud, corp") {
		t.Fatalf("nope: %v", err)
	}
}
