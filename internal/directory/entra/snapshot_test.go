package entra_test

import (
	"context"
	"testing"
	"time"

	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/graphemu"
)

// A pass over 25 devices at page size 10 takes 3 pages; records carry metadata only; a second
// pass reports exactly what changed and what left.
func TestSnapshot_ThreePages(t *testing.T) {
	e := newEnv(t, graphemu.Options{}, map[string]any{"pageSize": 10})
	ids := e.emu.AddFleet("pc", 25, t0.Add(-24*time.Hour))
	e.emu.AddDevice(graphemu.Device{ID: "0f0f0f0f-0000-4000-8000-000000000001", Name: "never-backed-up"})
	ctx := context.Background()
	snap, err := e.dir.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.RoundTrips != 3 || len(snap.Devices) != 25 || len(snap.Changed) != 25 || !snap.Full {
		t.Fatalf("first pass: %d round trips, %d devices, %d changed, full=%v; want 3, 25, 25, true", snap.RoundTrips, len(snap.Devices), len(snap.Changed), snap.Full)
	}
	if got := e.emu.Count("listCredentials"); got != 3 {
		t.Fatalf("emulator saw %d list requests, want 3", got)
	}
	rec := snap.Devices[ids[0]]
	want := directory.DeviceRecord{Key: ids[0], DeviceID: ids[0], Name: "pc-00001", Source: directory.SourceEntraID,
		PasswordUpdateTime: t0.Add(-24 * time.Hour), UpdateTimeSource: directory.UpdateTimeDirectory,
		PasswordExpirationTime: t0.Add(-24*time.Hour + 30*24*time.Hour)}
	if rec.Key != want.Key || rec.Name != want.Name || rec.Source != want.Source || !rec.PasswordUpdateTime.Equal(want.PasswordUpdateTime) ||
		rec.UpdateTimeSource != want.UpdateTimeSource || !rec.PasswordExpirationTime.Equal(want.PasswordExpirationTime) || len(rec.BadData) > 0 {
		t.Fatalf("record\n got %+v\nwant %+v", rec, want)
	}

	// One device rotates at its check-in, one leaves the tenant.
	e.emu.AddDevice(graphemu.Device{ID: ids[3], Name: "pc-00004", ManagedDeviceID: "m4", LastBackup: t0})
	e.emu.RemoveDevice(ids[7])
	snap, err = e.dir.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Changed) != 1 || snap.Changed[0] != ids[3] || len(snap.Removed) != 1 || snap.Removed[0] != ids[7] {
		t.Fatalf("second pass: changed %v removed %v; want [%s] [%s]", snap.Changed, snap.Removed, ids[3], ids[7])
	}
}
