package ad

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/go-logr/logr"

	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/directory/ad/adtest"
)

// Extra Samba instances (the benchmark's big fleet, the un-extended domain) are started on demand
// and stopped by TestMain.
var (
	extraMu      sync.Mutex
	extraServers []*adtest.Server

	benchOnce sync.Once
	benchSrv  *adtest.Server
	benchErr  error
)

func startExtra(opts adtest.Options) (*adtest.Server, error) {
	s, err := adtest.Start(opts)
	if err != nil {
		return nil, err
	}
	extraMu.Lock()
	extraServers = append(extraServers, s)
	extraMu.Unlock()
	return s, nil
}

func startBareDomain() (*adtest.Server, error) { return startExtra(adtest.Options{NoLAPSSchema: true}) }

func stopBenchServer() {
	extraMu.Lock()
	defer extraMu.Unlock()
	for _, s := range extraServers {
		_ = s.Stop()
	}
	extraServers = nil
}

// BenchmarkSnapshot compares a full snapshot pass of FLEETLAPS_BENCH_COMPUTERS computers
// (default 10,000; page size 1000) with a bare go-ldap SearchWithPaging of the same attributes
// over the same kind of connection. The big fleet is loaded only when this benchmark runs, once
// per machine (ldbadd offline, ~2 min for 10,000): later runs start from a copy of the
// provisioned tree kept in bin/samba (adtest.DefaultCacheDir).
func BenchmarkSnapshot(b *testing.B) {
	benchOnce.Do(func() {
		n, err := adtest.BenchComputers()
		if err != nil {
			benchErr = err
			return
		}
		cache, err := adtest.DefaultCacheDir()
		if err != nil {
			benchErr = err
			return
		}
		benchSrv, benchErr = startExtra(adtest.Options{Computers: n, CacheDir: cache})
		if benchErr == nil {
			how := fmt.Sprintf("loaded in %s", benchSrv.Load.Round(time.Second))
			if benchSrv.Cached {
				how = fmt.Sprintf("from the cache (its load took %s)", benchSrv.CachedLoad.Round(time.Second))
			}
			fmt.Fprintf(os.Stderr, "benchmark DC with %d computers ready in %s, %s\n", n, benchSrv.Elapsed.Round(time.Millisecond), how)
		}
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	s := benchSrv
	base := "OU=Fleet," + s.Base
	pw, err := s.WriteSecret("ctrl", s.BindPassword)
	if err != nil {
		b.Fatal(err)
	}
	cfg := Config{Name: "bench", URLs: []string{s.LDAPSURL}, CAFile: s.CAFile, BindDN: s.BindDN, PasswordFile: pw,
		SearchBases: []string{base}, PageSize: 1000, Timeout: Duration{time.Minute}}

	b.Run("fleetlaps", func(b *testing.B) {
		d, err := New(cfg, Options{Logger: logr.Discard()})
		if err != nil {
			b.Fatal(err)
		}
		defer d.Close()
		ctx := context.Background()
		if _, err := d.Snapshot(ctx); err != nil { // connect, load the schema ids
			b.Fatal(err)
		}
		var trips, entries int
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			d.mu.Lock()
			d.devices = nil // force a full pass
			d.mu.Unlock()
			snap, err := d.Snapshot(ctx)
			if err != nil {
				b.Fatal(err)
			}
			trips, entries = snap.RoundTrips, len(snap.Devices)
		}
		b.StopTimer()
		runtime.ReadMemStats(&ms1)
		reportPerEntry(b, trips, entries, ms0, ms1)
	})

	b.Run("bare-go-ldap", func(b *testing.B) {
		pem, _ := os.ReadFile(s.CAFile)
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		conn, err := ldap.DialURL(s.LDAPSURL, ldap.DialWithTLSConfig(&tls.Config{RootCAs: pool, ServerName: s.IP}))
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		if err := conn.Bind(s.BindDN, s.BindPassword); err != nil {
			b.Fatal(err)
		}
		var entries int
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			req := ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
				"(objectClass=computer)", searchAttributes, nil)
			res, err := conn.SearchWithPaging(req, 1000)
			if err != nil {
				b.Fatal(err)
			}
			entries = len(res.Entries)
		}
		b.StopTimer()
		runtime.ReadMemStats(&ms1)
		// SearchWithPaging does not expose its page count; it follows the same cookies.
		reportPerEntry(b, 0, entries, ms0, ms1)
	})
}

func reportPerEntry(b *testing.B, trips, entries int, ms0, ms1 runtime.MemStats) {
	if trips > 0 {
		b.ReportMetric(float64(trips), "roundtrips/op")
	}
	b.ReportMetric(float64(entries), "entries/op")
	if entries > 0 && b.N > 0 {
		b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(b.N*entries), "allocs/entry")
		b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(b.N*entries), "B/entry")
	}
}

// BenchmarkRequestRotation: one expiry write on the shared test DC, addressed as the controller
// does (objectGUID and DN from its snapshot), so the scope check's search is in the figure;
// dn-only is the write alone (the DN is checked against the search bases without a round trip).
func BenchmarkRequestRotation(b *testing.B) {
	ctx := context.Background()
	d := newDir(b, testConfig(b, fleetBase), logr.Discard())
	snap, err := d.Snapshot(ctx)
	if err != nil {
		b.Fatal(err)
	}
	rec := byName(snap)["fleet-00060"]
	at := time.Date(2027, 2, 3, 4, 5, 6, 0, time.UTC)
	for _, tc := range []struct {
		name string
		ref  directory.DeviceRef
	}{
		{"guid+dn", directory.DeviceRef{Key: rec.Key, DistinguishedName: rec.DistinguishedName}},
		{"dn-only", directory.DeviceRef{DistinguishedName: rec.DistinguishedName}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if err := d.RequestRotation(ctx, tc.ref, at); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
