package entra_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetlaps/fleetlaps/internal/directory/entra"
)

// Bad settings and credentials are refused with the field and what is allowed.
func TestParseSettings_Errors(t *testing.T) {
	secretDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(secretDir, entra.SecretFile), []byte("s"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := map[string]any{"tenantID": "contoso.onmicrosoft.com", "clientID": "0b7f6a2c-5a3e-4e1b-8d6f-1f2e3d4c5b6a"}
	cases := map[string]struct {
		set  map[string]any
		dir  string
		want string
	}{
		"tenant":        {map[string]any{"tenantID": "not a tenant"}, secretDir, "settings.tenantID"},
		"client":        {map[string]any{"clientID": "app"}, secretDir, "settings.clientID"},
		"http endpoint": {map[string]any{"graphEndpoint": "http://graph.example"}, secretDir, "settings.graphEndpoint"},
		"versioned":     {map[string]any{"graphEndpoint": "https://graph.example/v1.0"}, secretDir, "without a version path"},
		"page size":     {map[string]any{"pageSize": 5000}, secretDir, "settings.pageSize"},
		"secret key":    {map[string]any{"clientSecret": "x"}, secretDir, "unknown field"},
		"no creds dir":  {nil, "", "credentialsDir"},
		"empty creds":   {nil, t.TempDir(), "holds neither clientSecret nor tls.crt"},
	}
	for name, c := range cases {
		s := map[string]any{}
		for k, v := range good {
			s[k] = v
		}
		for k, v := range c.set {
			s[k] = v
		}
		raw, _ := json.Marshal(s)
		_, err := entra.OpenFromSettings("tenant-a", raw, c.dir)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %q", name, err, c.want)
		}
	}
	raw, _ := json.Marshal(good)
	if _, err := entra.OpenFromSettings("tenant-a", raw, secretDir); err != nil {
		t.Fatalf("good settings: %v", err)
	}
}
