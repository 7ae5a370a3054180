package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestConsole_LiveViewRedrawsInPlace(t *testing.T) {
	var out bytes.Buffer
	c := newConsole(&out, true)
	c.plan("rollback", "2026-12-08T09:24Z (+30h)", "restore an old OS image on WS-0001")
	c.plan("conflict", "2026-12-08T19:24Z (+40h)", "make the local password policy on WS-0002 conflict")
	c.setView("fleetlaps demo: demo", []string{"kubectl laps status -n demo"}, "Manager logs: .demo/manager.log (tail -f it).  q or Ctrl-C stops everything and cleans up.")
	c.update("sim A | devices 5 | ready 1 | expired 0 | rotating 0")
	first := out.String()
	out.Reset()
	c.happened("rollback", "2026-12-08T09:30Z", "restored an old OS image on WS-0001 (rollback)")
	if out.Len() != 0 {
		t.Errorf("an incident scrolled the live view: %q", out.String())
	}
	c.update("sim B | devices 5 | ready 5 | expired 0 | rotating 0")
	second := out.String()

	if !strings.HasPrefix(first, "\x1b[H\x1b[2J") {
		t.Errorf("first draw does not clear the screen: %q", first[:min(20, len(first))])
	}
	if !strings.HasPrefix(second, "\x1b[H") || strings.Contains(second, "\x1b[2J") || !strings.HasSuffix(second, "\x1b[J") {
		t.Errorf("redraw is not in place: %q", second)
	}
	for _, want := range []string{
		"fleetlaps demo: demo\x1b[K\n",
		"  sim B | devices 5 | ready 5 | expired 0\x1b[K\n",
		"  rotating 0\x1b[K\n",
		"Scripted incidents\x1b[K\n",
		"  done  [sim 2026-12-08T09:30Z] restored an old OS image on WS-0001 (rollback)\x1b[K\n",
		"  at    2026-12-08T19:24Z (+40h): make the local password policy on WS-0002 conflict\x1b[K\n",
		"Try in another shell\x1b[K\n",
		"  kubectl laps status -n demo\x1b[K\n",
		"Manager logs: .demo/manager.log",
	} {
		if !strings.Contains(second, want) {
			t.Errorf("view lacks %q:\n%s", want, second)
		}
	}
	if strings.Contains(second, "at    2026-12-08T09:24Z") {
		t.Error("a happened incident is still shown as planned")
	}
	out.Reset()
	c.finish()
	c.printf(">> stopping\n")
	if out.String() != "\n>> stopping\n" {
		t.Errorf("after finish: %q", out.String())
	}
}

func TestConsole_PlainOutputScrollsLines(t *testing.T) {
	var out bytes.Buffer
	c := newConsole(&out, false)
	c.plan("rollback", "later", "restore an old OS image")
	c.happened("rollback", "2026-12-08T09:30Z", "restored an old OS image on WS-0001 (rollback)")
	c.update("sim B | devices 5")
	want := ">> [sim 2026-12-08T09:30Z] restored an old OS image on WS-0001 (rollback)\n>> sim B | devices 5\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

func TestConsole_KeepsTheNewestUnplannedEvents(t *testing.T) {
	c := newConsole(&bytes.Buffer{}, true)
	for i := range maxOthers + 3 {
		c.happened("", "t", string(rune('a'+i)))
	}
	if len(c.others) != maxOthers || !strings.HasSuffix(c.others[maxOthers-1], "] "+string(rune('a'+maxOthers+2))) {
		t.Errorf("others %q", c.others)
	}
}

func TestOpenLog_WritesJSONLinesToTheFile(t *testing.T) {
	dir := t.TempDir()
	path, logger, err := openLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	logger.WithName("manageddevice").Info("reconciled", "device", "ws-0001")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var line map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(data), &line); err != nil || line["msg"] != "reconciled" || line["device"] != "ws-0001" {
		t.Errorf("log file %s: %q (%v)", path, data, err)
	}
}
