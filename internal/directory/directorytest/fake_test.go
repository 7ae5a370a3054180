package directorytest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fleetlaps/fleetlaps/internal/directory"
)

func TestFake_SnapshotReportsOnlyChanges(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	f := New("corp-ad", directory.TypeActiveDirectory, func() time.Time { return now })
	f.Put(directory.DeviceRecord{Key: "a", CurrentPasswordVersion: "v1"})
	f.Put(directory.DeviceRecord{Key: "b", CurrentPasswordVersion: "v1"})

	s1, err := f.Snapshot(ctx)
	if err != nil || len(s1.Changed) != 2 || !s1.Taken.Equal(now) {
		t.Fatalf("first snapshot: %+v, %v", s1, err)
	}
	s2, _ := f.Snapshot(ctx)
	if len(s2.Changed) != 0 {
		t.Fatalf("unchanged directory reported changes: %v", s2.Changed)
	}
	f.Update("b", func(r *directory.DeviceRecord) { r.CurrentPasswordVersion = "v2" })
	f.Delete("a")
	s3, _ := f.Snapshot(ctx)
	if len(s3.Changed) != 1 || s3.Changed[0] != "b" || len(s3.Removed) != 1 || s3.Removed[0] != "a" {
		t.Fatalf("changed %v removed %v", s3.Changed, s3.Removed)
	}
}

func TestFake_RequestRotationWritesExpiryAndRecords(t *testing.T) {
	ctx := context.Background()
	f := New("corp-ad", directory.TypeActiveDirectory, nil)
	f.Put(directory.DeviceRecord{Key: "pc1"})
	f.Put(directory.DeviceRecord{Key: "old", Source: directory.SourceLegacy})
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

	if err := f.RequestRotation(ctx, directory.DeviceRef{Key: "pc1"}, at); err != nil {
		t.Fatal(err)
	}
	if err := f.RequestRotation(ctx, directory.DeviceRef{Key: "old", Legacy: true}, at); err != nil {
		t.Fatal(err)
	}
	if r, _ := f.Get("pc1"); !r.PasswordExpirationTime.Equal(at) {
		t.Errorf("expiry %v", r.PasswordExpirationTime)
	}
	if r, _ := f.Get("old"); !r.LegacyExpirationTime.Equal(at) || !r.PasswordExpirationTime.IsZero() {
		t.Errorf("legacy device: %+v", r)
	}
	if err := f.RequestRotation(ctx, directory.DeviceRef{Key: "missing"}, at); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("unknown device: %v", err)
	}
	if n := len(f.CallsOf("requestRotation")); n != 3 {
		t.Errorf("recorded %d calls", n)
	}
}

func TestFake_InjectedFailures(t *testing.T) {
	ctx := context.Background()
	f := New("corp-ad", directory.TypeActiveDirectory, nil)
	down := directory.NewError(directory.ErrUnreachable, "corp-ad", "snapshot", nil)

	f.FailNext("snapshot", down)
	if _, err := f.Snapshot(ctx); !errors.Is(err, directory.ErrUnreachable) {
		t.Fatalf("FailNext: %v", err)
	}
	if _, err := f.Snapshot(ctx); err != nil {
		t.Fatalf("FailNext must fail once: %v", err)
	}
	f.FailAlways("snapshot", down)
	for i := 0; i < 3; i++ {
		if _, err := f.Snapshot(ctx); !errors.Is(err, directory.ErrUnreachable) {
			t.Fatalf("FailAlways call %d: %v", i, err)
		}
	}
	f.Recover("snapshot")
	if _, err := f.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	f.AddPrincipal(`CORP\LAPS-Readers`, "S-1-5-21-1-2-3-1105")
	if sid, err := f.ResolvePrincipal(ctx, `CORP\LAPS-Readers`); err != nil || sid != "S-1-5-21-1-2-3-1105" {
		t.Fatalf("resolve: %q %v", sid, err)
	}
	if _, err := f.ResolvePrincipal(ctx, "nobody@corp"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("unknown principal: %v", err)
	}
}
