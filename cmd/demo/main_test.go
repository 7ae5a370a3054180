package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHeadlessDirectoryAndFleet runs the demo without a control plane: 50 devices for 72
// simulated hours on the shared fast clock, and checks the summary it writes.
func TestHeadlessDirectoryAndFleet(t *testing.T) {
	for _, channel := range []string{channelInProcess, channelLDAP} {
		t.Run(channel, func(t *testing.T) { testHeadless(t, channel) })
	}
}

func testHeadless(t *testing.T, channel string) {
	dir := t.TempDir()
	file := filepath.Join(dir, "summary.json")
	start := time.Now()
	err := run(options{workDir: dir, devices: 50, simulate: 72 * time.Hour, speed: 40000, seed: 3, summaryFile: file, channel: channel})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var s summary
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	t.Logf("wall %v: %s", time.Since(start), data)
	if s.Devices != 50 || s.PasswordCurrent != 50 || s.BackedUp != 50 || !s.Converged {
		t.Fatalf("not converged: %+v", s)
	}
	if s.RotationsPerDevice.Min < 2 {
		t.Errorf("a device rotated only %d times in 72h", s.RotationsPerDevice.Min)
	}
	if s.Fleet.RollbacksDetected != 1 || s.Fleet.Failures["10027"] == 0 {
		t.Errorf("scripted faults not seen: rollbacks %d, 10027 %d", s.Fleet.RollbacksDetected, s.Fleet.Failures["10027"])
	}
	if s.LDAPRoundTrips != 1 { // the summary's own paged read of 50 devices
		t.Errorf("controller LDAP round trips %d, want 1", s.LDAPRoundTrips)
	}
	if (s.DeviceLDAPRoundTrips > 0) != (channel == channelLDAP) {
		t.Errorf("device LDAP round trips %d on the %s channel", s.DeviceLDAPRoundTrips, channel)
	}
	if s.SimulatedSeconds < 72*3600 || s.Ready != nil || s.APIServerWrites != nil {
		t.Errorf("summary fields: %+v", s)
	}
	conn, err := os.ReadFile(filepath.Join(dir, "directories.yaml"))
	if err != nil || !strings.Contains(string(conn), "ldaps://127.0.0.1:") || !strings.Contains(string(conn), "passwordFile") {
		t.Errorf("directories.yaml: %s %v", conn, err)
	}
}

// TestInteractiveStopsCleanly runs the interactive mode (no --simulate) on a terminal until
// --run-for ends it: the status view redraws in place with the scripted incidents, and the run
// still cleans up and writes the summary.
func TestInteractiveStopsCleanly(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "summary.json")
	var out bytes.Buffer
	if err := run(options{workDir: dir, devices: 10, runFor: 2500 * time.Millisecond, speed: 3600, seed: 1, summaryFile: file,
		out: &out, terminal: true, logFile: filepath.Join(dir, "manager.log")}); err != nil {
		t.Fatal(err)
	}
	view := out.String()
	for _, want := range []string{"\x1b[H\x1b[2J", "Scripted incidents", "restore an old OS image on WS-0001", "Manager logs: " + dir, ">> stopping: cleaning up", ">> summary written to"} {
		if !strings.Contains(view, want) {
			t.Errorf("output lacks %q:\n%s", want, view)
		}
	}
	if n := strings.Count(view, "\x1b[2J"); n != 1 {
		t.Errorf("the screen was cleared %d times; the view must redraw in place", n)
	}
	var s summary
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if s.Devices != 10 || s.BackedUp == 0 || s.SimulatedSeconds < 3600 {
		t.Fatalf("summary %s", data)
	}
}
