package entra_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/directory/entra"
	"github.com/fleetlaps/fleetlaps/internal/graphemu"
)

// 429 with Retry-After, then success: the pass succeeds, the retry is counted, and a Retry-After
// beyond the bound fails the pass with ErrThrottled instead of waiting.
func TestThrottle_RetryAfterThenSuccess(t *testing.T) {
	e := newEnv(t, graphemu.Options{}, map[string]any{"pageSize": 5})
	e.emu.AddFleet("pc", 12, t0)
	before := testutil.ToFloat64(entra.ThrottledRetries.WithLabelValues("tenant-a", "429"))
	e.emu.Throttle(1, time.Second)
	snap, err := e.dir.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Devices) != 12 || snap.RoundTrips != 3 {
		t.Fatalf("%d devices in %d round trips, want 12 in 3", len(snap.Devices), snap.RoundTrips)
	}
	if got := testutil.ToFloat64(entra.ThrottledRetries.WithLabelValues("tenant-a", "429")) - before; got != 1 {
		t.Fatalf("throttled retries counted %v, want 1", got)
	}
	e.emu.ServerErrors(2, 503)
	if _, err := e.dir.Snapshot(context.Background()); err != nil {
		t.Fatalf("two 503s then success: %v", err)
	}
	e.emu.Throttle(1, 10*time.Minute)
	start := time.Now()
	_, err = e.dir.Snapshot(context.Background())
	if !errors.Is(err, directory.ErrThrottled) || time.Since(start) > 30*time.Second {
		t.Fatalf("Retry-After 10m: %v after %v; want ErrThrottled without waiting", err, time.Since(start))
	}
}

// 403 becomes ErrPermissionDenied naming the Graph permission the call needs; a wrong secret is
// ErrAuthFailed.
func TestPermissionAndAuthErrors(t *testing.T) {
	e := newEnv(t, graphemu.Options{}, nil)
	ids := e.emu.AddFleet("pc", 2, t0.Add(-time.Hour))
	ctx := context.Background()
	e.emu.SetPermission(graphemu.PermLAPSMetadata, false)
	_, err := e.dir.Snapshot(ctx)
	if !errors.Is(err, directory.ErrPermissionDenied) || !strings.Contains(err.Error(), "DeviceLocalCredential.ReadBasic.All") {
		t.Fatalf("snapshot without ReadBasic: %v", err)
	}
	e.emu.SetPermission(graphemu.PermLAPSMetadata, true)
	snapshot(t, e.dir)
	e.emu.SetPermission(graphemu.PermPrivilegedOps, false)
	err = e.dir.RequestRotation(ctx, directory.DeviceRef{Key: ids[0]}, e.clk.Now())
	if !errors.Is(err, directory.ErrPermissionDenied) || !strings.Contains(err.Error(), "DeviceManagementManagedDevices.PrivilegedOperations.All") {
		t.Fatalf("rotate without PrivilegedOperations: %v", err)
	}
	pub := e.dir.(directory.PolicyPublisher)
	e.emu.SetPermission(graphemu.PermConfiguration, false)
	_, err = pub.PublishPolicy(ctx, "ns-p", []byte(`{}`))
	if !errors.Is(err, directory.ErrPermissionDenied) || !strings.Contains(err.Error(), "DeviceManagementConfiguration.ReadWrite.All") {
		t.Fatalf("publish without DeviceManagementConfiguration.ReadWrite.All: %v", err)
	}

	if err := os.WriteFile(filepath.Join(e.creds, entra.SecretFile), []byte("wrong"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := e.open(t, nil)
	_, err = bad.Snapshot(ctx)
	if !errors.Is(err, directory.ErrAuthFailed) || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("wrong secret: %v; want ErrAuthFailed that does not echo the secret", err)
	}
}

// The tenant's LAPS switch is read from the device registration policy.
func TestTenantLAPSSwitch(t *testing.T) {
	e := newEnv(t, graphemu.Options{}, nil)
	chk := e.dir.(directory.TenantLAPSChecker)
	for _, on := range []bool{true, false} {
		e.emu.SetTenantLAPSEnabled(on)
		got, err := chk.TenantLAPSEnabled(context.Background())
		if err != nil || got != on {
			t.Fatalf("isEnabled=%v: got %v, %v", on, got, err)
		}
	}
	e.emu.SetPermission(graphemu.PermPolicyRead, false)
	_, err := chk.TenantLAPSEnabled(context.Background())
	if !errors.Is(err, directory.ErrPermissionDenied) || !strings.Contains(err.Error(), "Policy.Read.DeviceConfiguration") {
		t.Fatalf("without Policy.Read.DeviceConfiguration: %v", err)
	}
}
