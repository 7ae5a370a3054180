package entra_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/fleetlaps/fleetlaps/internal/graphemu"
)

// BenchmarkSnapshot100k reads 100,000 devices from the emulator at page size 1000: requests must
// be ceil(N/page) (plus one retry per injected 429). Allocation figures include the in-process
// emulator's encoding.
func BenchmarkSnapshot100k(b *testing.B) {
	const n, page = 100_000, 1000
	for _, c := range []struct {
		name          string
		throttleEvery int
	}{{"plain", 0}, {"one429per10pages", 10}} {
		b.Run(c.name, func(b *testing.B) {
			e := newEnv(b, graphemu.Options{}, map[string]any{"pageSize": page})
			e.emu.AddFleet("pc", n, t0)
			e.emu.ThrottleEvery(c.throttleEvery, time.Second)
			ctx := context.Background()
			var ms0, ms1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms0)
			listed0, throttled0 := e.emu.Count("listCredentials"), e.emu.Count("throttled")
			b.ResetTimer()
			for range b.N {
				snap, err := e.dir.Snapshot(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if len(snap.Devices) != n || snap.RoundTrips != (n+page-1)/page {
					b.Fatalf("%d devices in %d round trips", len(snap.Devices), snap.RoundTrips)
				}
			}
			b.StopTimer()
			runtime.ReadMemStats(&ms1)
			perOp := float64(b.N)
			b.ReportMetric(float64(e.emu.Count("listCredentials")-listed0)/perOp, "requests/op")
			b.ReportMetric(float64(e.emu.Count("throttled")-throttled0)/perOp, "throttled/op")
			b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/perOp/n, "B/device")
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/perOp/n, "allocs/device")
		})
	}
}
