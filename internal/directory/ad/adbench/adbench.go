// Package adbench measures directory sync of the AD backend against a Samba AD DC: full passes
// of the fleet next to a bare go-ldap paged search of the same attributes, and an incremental
// pass after a number of changes. The figures are printed by benchmarks (cmd/demo --bench,
// go test -bench Snapshot); nothing here asserts a speed.
package adbench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/go-logr/logr"
	dto "github.com/prometheus/client_model/go"

	"github.com/fleetlaps/fleetlaps/internal/adsyntax"
	"github.com/fleetlaps/fleetlaps/internal/directory/ad"
	"github.com/fleetlaps/fleetlaps/internal/directory/ad/adtest"
	"github.com/fleetlaps/fleetlaps/internal/footprint"
	"github.com/fleetlaps/fleetlaps/internal/metrics"
)

// Defaults of Options.
const (
	DefaultPageSize = ad.DefaultPageSize
	DefaultRepeats  = 3
	DefaultChanges  = 100
	// RatioTarget is the bound on a full pass against the bare search (wall time).
	RatioTarget = 1.5
)

// Options say what to measure.
type Options struct {
	// Server is the running DC; its OU=Fleet must hold exactly Computers computers (StartDC).
	Server    *adtest.Server
	Computers int
	// PageSize of both searches (default 1000, AD's MaxPageSize).
	PageSize int
	// Repeats is how many full passes of each kind run, interleaved (fleetlaps, bare, bare,
	// fleetlaps, ...) so that neither profits from the other's warm caches; the medians are
	// reported (default 3).
	Repeats int
	// Changes is how many computers get a new expiry before the incremental pass (default 100).
	Changes int
}

// Result is one measurement. Times are wall-clock seconds.
type Result struct {
	Computers int `json:"computers"`
	PageSize  int `json:"pageSize"`

	// DC start: DCLoadSeconds is the provisioning and computer load done by this start (0 when
	// DCCached); DCCachedLoadSeconds is what loading the cached tree took when it was built;
	// DCStartSeconds is the whole start (copy of the cached tree, new certificates, samba up).
	DCCached            bool    `json:"dcCached"`
	DCLoadSeconds       float64 `json:"dcLoadSeconds"`
	DCCachedLoadSeconds float64 `json:"dcCachedLoadSeconds,omitempty"`
	DCStartSeconds      float64 `json:"dcStartSeconds"`

	// Attributes is what both searches request (the backend's allow-list).
	Attributes []string `json:"attributes"`

	// Full pass. RoundTripAnchor is the fewest paged requests that can return Computers
	// entries from Samba: ceil(N/page), plus the one empty page Samba (like AD) returns after a
	// last page that is exactly full, i.e. floor(N/page)+1. FullRoundTrips counts the pass's
	// paged requests; each pass also reads the rootDSE and the DC's NTDS Settings object (two
	// base-object reads for the uSN watermark), not counted here.
	FullRoundTrips      int       `json:"fullRoundTrips"`
	FullRoundTripAnchor int       `json:"fullRoundTripAnchor"`
	FullEntries         int       `json:"fullEntries"`
	FullSeconds         float64   `json:"fullSeconds"`
	FullSecondsEach     []float64 `json:"fullSecondsEach"`
	BareEntries         int       `json:"bareEntries"`
	BareSeconds         float64   `json:"bareSeconds"`
	BareSecondsEach     []float64 `json:"bareSecondsEach"`
	// FullOverBare is FullSeconds / BareSeconds (target: <= RatioTarget).
	FullOverBare float64 `json:"fullOverBare"`
	// Allocations of the backend per entry during the full passes.
	FullAllocsPerEntry float64 `json:"fullAllocsPerEntry"`
	FullBytesPerEntry  float64 `json:"fullBytesPerEntry"`

	// Incremental pass after Changes computers got a new expiry: its paged requests (anchor
	// floor(changes/page)+1), the entries the search returned, how many of them the snapshot
	// reports changed, and its wall time.
	IncrementalChanges         int     `json:"incrementalChanges"`
	IncrementalFull            bool    `json:"incrementalFull"`
	IncrementalRoundTrips      int     `json:"incrementalRoundTrips"`
	IncrementalRoundTripAnchor int     `json:"incrementalRoundTripAnchor"`
	IncrementalEntries         int     `json:"incrementalEntries"`
	IncrementalChanged         int     `json:"incrementalChanged"`
	IncrementalSeconds         float64 `json:"incrementalSeconds"`

	// Samba's memory at the end (VmRSS) and its peak (VmHWM), summed over its processes.
	SambaRSSBytes     int64 `json:"sambaRSSBytes"`
	SambaPeakRSSBytes int64 `json:"sambaPeakRSSBytes"`
	// HeapInUseBytes is this process's Go heap after GC while one Directory holds its view of
	// the fleet and its caller the last snapshot (as the manager does).
	HeapInUseBytes uint64 `json:"heapInUseBytes"`
}

// measurements makes each measurement's expiry value its own.
var measurements atomic.Int64

// RoundTripAnchor is the fewest paged requests that return n entries in pages of page from
// Samba or AD: ceil(n/page) pages with entries plus, when the last one is exactly full (or n is
// 0), the empty page the server sends because it still returned a cookie.
func RoundTripAnchor(n, page int) int { return n/page + 1 }

// StartDC starts a Samba AD DC with computers computers in OU=Fleet from the machine's cache
// (adtest.DefaultCacheDir, bin/samba), loading them first when the cache has no such tree.
// The caller stops it (Server.Stop).
func StartDC(computers int) (*adtest.Server, error) {
	dir, err := adtest.DefaultCacheDir()
	if err != nil {
		return nil, err
	}
	return adtest.Start(adtest.Options{Computers: computers, CacheDir: dir})
}

// Measure runs the measurement on opts.Server. It changes the expiry of opts.Changes computers
// on that DC.
func Measure(ctx context.Context, opts Options) (Result, error) {
	s := opts.Server
	if s == nil {
		return Result{}, errors.New("adbench: Options.Server is nil")
	}
	if opts.Computers <= 0 {
		return Result{}, fmt.Errorf("adbench: Options.Computers = %d, want the number of computers in OU=Fleet (> 0)", opts.Computers)
	}
	if opts.PageSize == 0 {
		opts.PageSize = DefaultPageSize
	}
	if opts.Repeats == 0 {
		opts.Repeats = DefaultRepeats
	}
	if opts.Changes == 0 {
		opts.Changes = DefaultChanges
	}
	if opts.PageSize < 1 || opts.Repeats < 1 || opts.Changes < 1 || opts.Changes > opts.Computers {
		return Result{}, fmt.Errorf("adbench: PageSize %d, Repeats %d, Changes %d: each must be >= 1 and Changes <= Computers (%d)",
			opts.PageSize, opts.Repeats, opts.Changes, opts.Computers)
	}
	r := Result{
		Computers: opts.Computers, PageSize: opts.PageSize,
		DCCached: s.Cached, DCLoadSeconds: s.Load.Seconds(), DCCachedLoadSeconds: s.CachedLoad.Seconds(),
		DCStartSeconds:      s.Elapsed.Seconds(),
		Attributes:          ad.SnapshotAttributes(),
		FullRoundTripAnchor: RoundTripAnchor(opts.Computers, opts.PageSize),
		IncrementalChanges:  opts.Changes, IncrementalRoundTripAnchor: RoundTripAnchor(opts.Changes, opts.PageSize),
	}
	base := "OU=Fleet," + s.Base
	pw, err := s.WriteSecret("adbench", s.BindPassword)
	if err != nil {
		return r, err
	}
	cfg := ad.Config{Name: "adbench-full", URLs: []string{s.LDAPSURL}, CAFile: s.CAFile, BindDN: s.BindDN,
		PasswordFile: pw, SearchBases: []string{base}, PageSize: opts.PageSize, Timeout: ad.Duration{Duration: 5 * time.Minute},
		// Every pass of this one is full.
		FullResyncInterval: ad.Duration{Duration: time.Nanosecond}}
	if err := measureFull(ctx, opts, cfg, &r); err != nil {
		return r, err
	}
	if err := measureIncremental(ctx, opts, cfg, &r); err != nil {
		return r, err
	}
	r.SambaRSSBytes, r.SambaPeakRSSBytes = processTreeMemory(s.Pid())
	return r, nil
}

// measureFull times opts.Repeats full passes of the backend and as many bare paged searches,
// interleaved, after one untimed pass of each.
func measureFull(ctx context.Context, opts Options, cfg ad.Config, r *Result) error {
	s, base := opts.Server, cfg.SearchBases[0]
	full, err := ad.New(cfg, ad.Options{Logger: logr.Discard()})
	if err != nil {
		return err
	}
	defer full.Close()
	bare, err := dialBare(s, cfg.Timeout.Duration)
	if err != nil {
		return err
	}
	defer bare.Close()

	fullPass := func() (time.Duration, error) {
		start := time.Now()
		snap, err := full.Snapshot(ctx)
		if err != nil {
			return 0, err
		}
		d := time.Since(start)
		if !snap.Full {
			return 0, errors.New("adbench: the backend made an incremental pass where a full one was forced")
		}
		r.FullRoundTrips, r.FullEntries = snap.RoundTrips, len(snap.Devices)
		return d, nil
	}
	barePass := func() (time.Duration, error) {
		// A new request each time: SearchWithPaging leaves the last cookie in its control.
		req := ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, int(cfg.Timeout.Seconds()),
			false, "(objectClass=computer)", r.Attributes, nil)
		start := time.Now()
		res, err := bare.SearchWithPaging(req, uint32(opts.PageSize))
		if err != nil {
			return 0, fmt.Errorf("adbench: bare paged search: %w", err)
		}
		d := time.Since(start)
		r.BareEntries = len(res.Entries)
		return d, nil
	}
	// Warm-up, not timed: connect, bind, read the schema ids, bring Samba's caches up.
	if _, err := fullPass(); err != nil {
		return err
	}
	if _, err := barePass(); err != nil {
		return err
	}
	var fullEach, bareEach []time.Duration
	var mallocs, allocBytes uint64
	for i := range opts.Repeats {
		for _, fleetlapsTurn := range []bool{i%2 == 0, i%2 != 0} {
			if !fleetlapsTurn {
				d, err := barePass()
				if err != nil {
					return err
				}
				bareEach = append(bareEach, d)
				continue
			}
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			d, err := fullPass()
			if err != nil {
				return err
			}
			runtime.ReadMemStats(&m1)
			mallocs += m1.Mallocs - m0.Mallocs
			allocBytes += m1.TotalAlloc - m0.TotalAlloc
			fullEach = append(fullEach, d)
		}
	}
	r.FullSeconds, r.FullSecondsEach = median(fullEach)
	r.BareSeconds, r.BareSecondsEach = median(bareEach)
	if r.BareSeconds > 0 {
		r.FullOverBare = r.FullSeconds / r.BareSeconds
	}
	if n := float64(opts.Repeats * max(r.FullEntries, 1)); n > 0 {
		r.FullAllocsPerEntry, r.FullBytesPerEntry = float64(mallocs)/n, float64(allocBytes)/n
	}
	if r.FullEntries != opts.Computers || r.BareEntries != opts.Computers {
		return fmt.Errorf("adbench: %s holds %d computers (bare search: %d), want %d", base, r.FullEntries, r.BareEntries, opts.Computers)
	}
	return nil
}

// measureIncremental: one Directory makes its full pass, opts.Changes computers spread over the
// fleet get a new expiry (as the domain Administrator), and the next pass is timed.
func measureIncremental(ctx context.Context, opts Options, cfg ad.Config, r *Result) error {
	s := opts.Server
	cfg.Name = "adbench-incremental"
	cfg.FullResyncInterval = ad.Duration{}
	inc, err := ad.New(cfg, ad.Options{Logger: logr.Discard()})
	if err != nil {
		return err
	}
	defer inc.Close()
	if _, err := inc.Snapshot(ctx); err != nil {
		return err
	}
	admin, err := s.Admin()
	if err != nil {
		return fmt.Errorf("adbench: admin bind: %w", err)
	}
	defer admin.Close()
	// A value no fixture has (those expire FixtureT0 + 30 days + i minutes) and no earlier
	// measurement wrote: an unchanged value would not be a change.
	at := adsyntax.FormatFiletime(time.Now().UTC().Add(90*24*time.Hour + time.Duration(measurements.Add(1))*time.Second))
	names := changedNames(opts.Computers, opts.Changes)
	for _, name := range names {
		m := ldap.NewModifyRequest("CN="+name+",OU=Fleet,"+s.Base, nil)
		m.Replace("msLAPS-PasswordExpirationTime", []string{at})
		if err := admin.Modify(m); err != nil {
			return fmt.Errorf("adbench: changing the expiry of %s: %w", name, err)
		}
	}
	entries0 := counterValue(cfg.Name)
	start := time.Now()
	snap, err := inc.Snapshot(ctx)
	if err != nil {
		return err
	}
	r.IncrementalSeconds = time.Since(start).Seconds()
	r.IncrementalFull = snap.Full
	r.IncrementalRoundTrips = snap.RoundTrips
	r.IncrementalEntries = int(counterValue(cfg.Name) - entries0)
	r.IncrementalChanged = len(snap.Changed)
	// The heap while a Directory holds the whole fleet (its view and the last snapshot).
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r.HeapInUseBytes = ms.HeapInuse
	runtime.KeepAlive(snap)
	return nil
}

// changedNames picks n of the computers fleet-00001..fleet-N, spread evenly.
func changedNames(computers, n int) []string {
	out := make([]string, 0, n)
	for k := range n {
		out = append(out, fmt.Sprintf("fleet-%05d", 1+k*computers/n))
	}
	return out
}

// counterValue reads the backend's entries counter of one connection.
func counterValue(connection string) float64 {
	var m dto.Metric
	if err := metrics.DirectoryEntries.WithLabelValues(connection).Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

func dialBare(s *adtest.Server, timeout time.Duration) (*ldap.Conn, error) {
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	// The backend's TLS settings: the DC's CA, its address as the server name, TLS 1.2 or later.
	conn, err := ldap.DialURL(s.LDAPSURL, ldap.DialWithTLSConfig(&tls.Config{RootCAs: pool, ServerName: s.IP, MinVersion: tls.VersionTLS12}))
	if err != nil {
		return nil, fmt.Errorf("adbench: bare dial: %w", err)
	}
	conn.SetTimeout(timeout)
	if err := conn.Bind(s.BindDN, s.BindPassword); err != nil {
		conn.Close()
		return nil, fmt.Errorf("adbench: bare bind: %w", err)
	}
	return conn, nil
}

// median returns the median in seconds and every value in seconds.
func median(ds []time.Duration) (float64, []float64) {
	each := make([]float64, len(ds))
	for i, d := range ds {
		each[i] = d.Seconds()
	}
	sorted := slices.Clone(each)
	slices.Sort(sorted)
	if len(sorted) == 0 {
		return 0, each
	}
	if len(sorted)%2 == 1 {
		return sorted[len(sorted)/2], each
	}
	return (sorted[len(sorted)/2-1] + sorted[len(sorted)/2]) / 2, each
}

// processTreeMemory sums VmRSS and VmHWM of pid and its descendants (bytes).
func processTreeMemory(pid int) (rss, peak int64) {
	if pid <= 0 {
		return 0, 0
	}
	for _, p := range processTree(pid) {
		if m, err := footprint.ReadProcessMemory(p); err == nil {
			rss += m.RSS
			peak += m.PeakRSS
		}
	}
	return rss, peak
}
