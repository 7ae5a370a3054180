package main

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetlaps/fleetlaps/controllers"
	"github.com/fleetlaps/fleetlaps/internal/directory"
)

func TestParseFlags(t *testing.T) {
	f, _, err := ParseFlags(flag.NewFlagSet("m", flag.ContinueOnError), []string{
		"--directories=/d.yaml", "--sync-interval=2m", "--shard-selector=shard=a", "--leader-elect", "--heartbeat-interval=5m",
	})
	if err != nil {
		t.Fatal(err)
	}
	if f.Directories != "/d.yaml" || f.SyncInterval != 2*time.Minute || !f.LeaderElect || f.HeartbeatInterval != 5*time.Minute {
		t.Fatalf("flags %+v", f)
	}
	if leaderElectionID(f) == leaderElectionID(Flags{}) {
		t.Fatal("shards must elect separately")
	}
	if _, err := controllers.CacheOptions("a b c"); err == nil {
		t.Fatal("bad --shard-selector accepted")
	}
	if _, _, err := ParseFlags(flag.NewFlagSet("m", flag.ContinueOnError), []string{"--sync-interval=1s"}); err == nil {
		t.Fatal("tiny sync interval accepted")
	}
}

func TestMetrics_SecureByDefault(t *testing.T) {
	f, _, err := ParseFlags(flag.NewFlagSet("m", flag.ContinueOnError), nil)
	if err != nil {
		t.Fatal(err)
	}
	o := metricsOptions(f)
	if !o.SecureServing || o.FilterProvider == nil || o.BindAddress != ":8443" {
		t.Fatalf("metrics must default to HTTPS with authn/authz on :8443: %+v", o)
	}
}

func TestBackends_ActiveDirectoryFromSettings(t *testing.T) {
	open := backends()[directory.TypeActiveDirectory]
	if open == nil {
		t.Fatal("no Active Directory backend registered")
	}
	secretDir := t.TempDir() // as the connection's Secret is mounted
	if err := os.WriteFile(filepath.Join(secretDir, "password"), []byte("from-a-secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := open("corp-ad", json.RawMessage(`{"urls":["ldaps://127.0.0.1:636"],"bindDN":"CN=svc,DC=corp","searchBases":["DC=corp"]}`), secretDir)
	if err != nil {
		t.Fatalf("valid settings: %v", err)
	}
	if d.Name() != "corp-ad" || d.Type() != directory.TypeActiveDirectory {
		t.Fatalf("got %s %s", d.Name(), d.Type())
	}
	_ = d.Close()
	if _, err := open("corp-ad", json.RawMessage(`{"urls":["ldaps://127.0.0.1:636"],"bindDN":"CN=svc","bindPassword":"hunter2"}`), ""); err == nil ||
		!strings.Contains(err.Error(), "bindPassword") {
		t.Fatalf("a password in the settings must be refused by name: %v", err)
	}
	if _, err := open("corp-ad", json.RawMessage(`{"urls":["ldap://127.0.0.1:389"],"bindDN":"CN=svc"}`), secretDir); err == nil {
		t.Fatal("plain LDAP without insecureNoTLS accepted")
	}
}

func TestParseFlags_reportAPI(t *testing.T) {
	f, _, err := ParseFlags(flag.NewFlagSet("m", flag.ContinueOnError), []string{"--report-token-namespace=fleetlaps-system"})
	if err != nil {
		t.Fatal(err)
	}
	if f.ReportAddr != ":9444" || f.ReportCertDir != "/etc/fleetlaps/report-tls" || f.ReportTokenNamespace != "fleetlaps-system" || f.AgentStaleAfter != 0 {
		t.Fatalf("report flags %+v", f)
	}
	for _, args := range [][]string{
		{"--heartbeat-interval=10m", "--agent-stale-after=10m"},
		{"--report-burst=0"},
		{"--report-max-skew=0s"},
	} {
		if _, _, err := ParseFlags(flag.NewFlagSet("m", flag.ContinueOnError), args); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
