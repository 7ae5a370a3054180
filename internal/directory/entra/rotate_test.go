package entra_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/graphemu"
)

func snapshot(t *testing.T, d directory.Directory) *directory.Snapshot {
	t.Helper()
	s, err := d.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// One device rotated end to end: the action is sent once to the looked-up managed device id,
// the device backs up at its next check-in, and the next snapshot shows the later backup.
func TestRotation_EndToEnd(t *testing.T) {
	e := newEnv(t, graphemu.Options{}, nil)
	ids := e.emu.AddFleet("pc", 3, t0.Add(-48*time.Hour))
	before := snapshot(t, e.dir).Devices[ids[1]]
	intent := e.clk.Advance(time.Minute)
	ctx := context.Background()
	if err := e.dir.RequestRotation(ctx, directory.DeviceRef{Key: ids[1]}, intent); err != nil {
		t.Fatal(err)
	}
	dev, _ := e.emu.DeviceState(ids[1])
	if dev.Rotations != 1 || len(dev.Actions) != 1 || dev.Actions[0].State != "pending" {
		t.Fatalf("device after the call: %+v; want one pending rotate action", dev)
	}
	checkIn := e.clk.Advance(10 * time.Minute)
	e.emu.CheckIn(checkIn)
	after := snapshot(t, e.dir).Devices[ids[1]]
	if !after.PasswordUpdateTime.After(intent) || !after.PasswordUpdateTime.After(before.PasswordUpdateTime) {
		t.Fatalf("lastBackupDateTime %v, want after the intent %v", after.PasswordUpdateTime, intent)
	}
	// The managed device id lookup was made once and is now in the records.
	if after.ManagedDeviceID != dev.ManagedDeviceID || e.emu.Count("findManagedDevice") != 1 {
		t.Fatalf("managed id %q (want %q), %d lookups (want 1)", after.ManagedDeviceID, dev.ManagedDeviceID, e.emu.Count("findManagedDevice"))
	}
}

// A crash between the rotate call and the status patch makes the controller call again for the
// same intent: the backend finds the action it sent (and later the new backup) and sends nothing.
func TestRotation_ReplayAfterCrashSendsNoSecondAction(t *testing.T) {
	e := newEnv(t, graphemu.Options{}, nil)
	ids := e.emu.AddFleet("pc", 2, t0.Add(-48*time.Hour))
	snapshot(t, e.dir)
	intent := e.clk.Now()
	ctx := context.Background()
	ref := directory.DeviceRef{Key: ids[0]}
	if err := e.dir.RequestRotation(ctx, ref, intent); err != nil {
		t.Fatal(err)
	}
	// The manager restarts: a new backend with empty caches replays the claimed write.
	restarted := e.open(t, nil)
	snapshot(t, restarted)
	e.clk.Advance(time.Minute)
	if err := restarted.RequestRotation(ctx, ref, intent); err != nil {
		t.Fatal(err)
	}
	e.emu.CheckIn(e.clk.Advance(time.Hour))
	snapshot(t, restarted)
	if err := restarted.RequestRotation(ctx, ref, intent); err != nil {
		t.Fatal(err)
	}
	if dev, _ := e.emu.DeviceState(ids[0]); dev.Rotations != 1 || e.emu.Count("rotate") != 1 {
		t.Fatalf("%d rotate actions, want exactly 1", dev.Rotations)
	}
	// A later request (a new intent after the backup) does rotate again.
	if err := restarted.RequestRotation(ctx, ref, e.clk.Advance(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if e.emu.Count("rotate") != 2 {
		t.Fatalf("new intent: %d rotate calls, want 2", e.emu.Count("rotate"))
	}
}

// Tenancy: the action goes only to the managed device the backend looked up for a device its own
// snapshot holds. A foreign managed device id, or a device outside the snapshot, gets no call.
func TestRotation_ForeignTargetGetsNoCall(t *testing.T) {
	e := newEnv(t, graphemu.Options{}, nil)
	ids := e.emu.AddFleet("pc", 2, t0.Add(-48*time.Hour))
	snapshot(t, e.dir)
	other, _ := e.emu.DeviceState(ids[1])
	ctx := context.Background()
	err := e.dir.RequestRotation(ctx, directory.DeviceRef{Key: ids[0], ManagedDeviceID: other.ManagedDeviceID}, e.clk.Now())
	if !errors.Is(err, directory.ErrOutOfScope) || !strings.Contains(err.Error(), other.ManagedDeviceID) {
		t.Fatalf("foreign managed id: %v, want ErrOutOfScope naming it", err)
	}
	e.emu.AddDevice(graphemu.Device{ID: "7a7a7a7a-0000-4000-8000-000000000009", Name: "added-later", ManagedDeviceID: "m9", LastBackup: t0})
	err = e.dir.RequestRotation(ctx, directory.DeviceRef{Key: "7a7a7a7a-0000-4000-8000-000000000009"}, e.clk.Now())
	if !errors.Is(err, directory.ErrOutOfScope) {
		t.Fatalf("device outside the snapshot: %v, want ErrOutOfScope", err)
	}
	if e.emu.Count("rotate") != 0 {
		t.Fatalf("%d rotate calls, want 0", e.emu.Count("rotate"))
	}
}

// A device gone from Graph after the snapshot fails only its own call, with ErrNotFound.
func TestRotation_DeviceGoneIsNotFound(t *testing.T) {
	e := newEnv(t, graphemu.Options{}, nil)
	ids := e.emu.AddFleet("pc", 2, t0.Add(-48*time.Hour))
	snapshot(t, e.dir)
	e.emu.RemoveDevice(ids[0])
	err := e.dir.RequestRotation(context.Background(), directory.DeviceRef{Key: ids[0]}, e.clk.Now())
	if !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
	if err := e.dir.RequestRotation(context.Background(), directory.DeviceRef{Key: ids[1]}, e.clk.Now()); err != nil {
		t.Fatalf("the other device: %v", err)
	}
}
