package ad

import (
	"context"
	"strings"
	"testing"

	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/logcapture"
)

// TestLogs_directoryKeyOncePerLine: every line the backend logs names its connection exactly
// once (New adds the key; lines do not repeat it).
func TestLogs_directoryKeyOncePerLine(t *testing.T) {
	logs, logger := logcapture.New(1)
	ctx := context.Background()
	d := newDir(t, testConfig(t, fleetBase), logger)
	if _, err := d.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	r := byName(mustSnapshot(t, d))["fleet-01234"]
	if err := d.RequestRotation(ctx, directory.DeviceRef{Key: r.Key, DistinguishedName: r.DistinguishedName}, fixtureExpiry(1234)); err != nil {
		t.Fatal(err)
	}
	down := newDir(t, testConfig(t, func(c *Config) { c.URLs = []string{"ldaps://127.0.0.1:1"} }), logger)
	if _, err := down.Snapshot(ctx); err == nil {
		t.Fatal("snapshot of a closed port succeeded")
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) < 4 {
		t.Fatalf("too few lines to judge:\n%s", logs.String())
	}
	for _, line := range lines {
		if n := strings.Count(line, `"directory"=`); n != 1 {
			t.Errorf("%d directory keys in %s", n, line)
		}
	}
}

func mustSnapshot(t *testing.T, d *Directory) *directory.Snapshot {
	t.Helper()
	s, err := d.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}
