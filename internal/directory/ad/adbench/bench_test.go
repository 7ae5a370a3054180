package adbench

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/fleetlaps/fleetlaps/internal/directory/ad/adtest"
)

// BenchmarkMeasure runs the whole measurement once on a DC of $FLEETLAPS_BENCH_COMPUTERS
// computers (default 10000; loaded once per machine, then started from bin/samba) and prints
// the Result as JSON on stderr:
//
//	FLEETLAPS_BENCH_COMPUTERS=100000 go test -run '^$' -bench Measure -benchtime 1x ./internal/directory/ad/adbench
func BenchmarkMeasure(b *testing.B) {
	n, err := adtest.BenchComputers()
	if err != nil {
		b.Fatal(err)
	}
	s, err := StartDC(n)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Stop() }()
	var r Result
	for b.Loop() {
		if r, err = Measure(context.Background(), Options{Server: s, Computers: n}); err != nil {
			b.Fatal(err)
		}
	}
	out, _ := json.MarshalIndent(r, "", "  ")
	os.Stderr.Write(append(out, '\n'))
	b.ReportMetric(float64(r.FullRoundTrips), "roundtrips")
	b.ReportMetric(float64(r.FullRoundTripAnchor), "anchor")
	b.ReportMetric(r.FullSeconds, "full-s")
	b.ReportMetric(r.BareSeconds, "bare-s")
	b.ReportMetric(r.FullOverBare, "full/bare")
	b.ReportMetric(float64(r.IncrementalRoundTrips), "inc-roundtrips")
	b.ReportMetric(r.IncrementalSeconds, "inc-s")
	b.ReportMetric(float64(r.SambaRSSBytes)/(1<<20), "samba-rss-MiB")
	b.ReportMetric(float64(r.HeapInUseBytes)/(1<<20), "heap-MiB")
}
