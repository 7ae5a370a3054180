package main

import (
	"flag"
	"testing"

	"github.com/fleetlaps/fleetlaps/internal/directoryconfig"
)

// TestStartupKeys: the start-up line shows each connection's effective sync interval, not only
// the --sync-interval default a connection may override.
func TestStartupKeys(t *testing.T) {
	f, _, err := ParseFlags(flag.NewFlagSet("m", flag.ContinueOnError), []string{"--sync-interval=5m"})
	if err != nil {
		t.Fatal(err)
	}
	file, err := directoryconfig.Parse([]byte(`
directories:
- name: corp
  type: activeDirectory
  syncInterval: 30s
- name: branch
  type: activeDirectory
`))
	if err != nil {
		t.Fatal(err)
	}
	keys := startupKeys(f, directoryconfig.Open(file, directoryconfig.Registry{}))
	var intervals map[string]string
	for i := 0; i+1 < len(keys); i += 2 {
		if keys[i] == "syncIntervals" {
			intervals, _ = keys[i+1].(map[string]string)
		}
		if keys[i] == "syncInterval" {
			t.Errorf("start-up line still has the bare default syncInterval")
		}
	}
	if intervals["corp"] != "30s" || intervals["branch"] != "5m0s" || len(intervals) != 2 {
		t.Fatalf("syncIntervals = %v, want corp 30s (its own) and branch 5m0s (--sync-interval)", intervals)
	}
}
