package footprint

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"k8s.io/client-go/rest"
)

// HeapStats is a Go process's heap after a forced garbage collection, from the runtime's
// MemStats that /debug/pprof/heap?debug=1 prints.
type HeapStats struct {
	// HeapInuse is the bytes in in-use heap spans: what the process holds live (plus span
	// fragmentation), the figure RSS converges to once the runtime returns freed memory.
	HeapInuse int64 `json:"heapInuseBytes"`
	// HeapAlloc is the bytes of live heap objects.
	HeapAlloc int64 `json:"heapAllocBytes"`
	// Sys is the memory obtained from the OS.
	Sys int64 `json:"sysBytes"`
}

// APIServerHeap asks the kube-apiserver for its heap profile with gc=1 (the apiserver collects
// garbage first) and returns its MemStats. It needs --profiling (the default) and a user
// allowed the nonResourceURL /debug/pprof/* (envtest's admin is). Read once the load is over:
// the garbage collection pauses the apiserver.
func APIServerHeap(ctx context.Context, cfg *rest.Config) (HeapStats, error) {
	body, err := apiserverGet(ctx, cfg, "/debug/pprof/heap?debug=1&gc=1")
	if err != nil {
		return HeapStats{}, fmt.Errorf("reading the kube-apiserver heap profile: %w", err)
	}
	return parseMemStats(body)
}

// WatchCacheCapacity is the kube-apiserver's watch-cache history capacity (events) of one
// resource, from its apiserver_watch_cache_capacity metric. The history keeps every event
// (with its object) of the last 75 s of real time, growing up to 102,400 events to do so.
func WatchCacheCapacity(ctx context.Context, cfg *rest.Config, group, resource string) (int64, error) {
	body, err := apiserverGet(ctx, cfg, "/metrics")
	if err != nil {
		return 0, fmt.Errorf("reading the kube-apiserver metrics: %w", err)
	}
	return watchCacheCapacity(body, group, resource)
}

// watchCacheInitialCapacity is the history's capacity before its first resize: the metric
// appears only with the first resize.
const watchCacheInitialCapacity = 100

func watchCacheCapacity(metrics []byte, group, resource string) (int64, error) {
	initialized := false
	sc := bufio.NewScanner(bytes.NewReader(metrics))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		name, labels, value, ok := metricLine(sc.Text())
		if !ok || !slices.Contains(labels, `group="`+group+`"`) || !slices.Contains(labels, `resource="`+resource+`"`) {
			continue
		}
		switch name {
		case "apiserver_watch_cache_capacity":
			return int64(value), nil
		case "apiserver_watch_cache_initializations_total":
			initialized = true
		}
	}
	if initialized {
		return watchCacheInitialCapacity, nil
	}
	return 0, fmt.Errorf("no watch cache for %s.%s in the kube-apiserver metrics (is --watch-cache off?)", resource, group)
}

// metricLine splits `name{a="1",b="2"} 3` into its name, labels and value.
func metricLine(line string) (string, []string, float64, bool) {
	name, rest, ok := strings.Cut(line, "{")
	if !ok || strings.HasPrefix(line, "#") {
		return "", nil, 0, false
	}
	labels, value, ok := strings.Cut(rest, "} ")
	if !ok {
		return "", nil, 0, false
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
	if err != nil {
		return "", nil, 0, false
	}
	return name, strings.Split(labels, ","), v, true
}

// apiserverGet GETs a non-resource path of the kube-apiserver with cfg's credentials.
func apiserverGet(ctx context.Context, cfg *rest.Config, path string) ([]byte, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(cfg.Host, "/")+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s: %.200s", path, resp.Status, body)
	}
	return body, nil
}

// parseMemStats reads the "# HeapInuse = N" lines of a debug=1 heap profile.
func parseMemStats(profile []byte) (HeapStats, error) {
	var h HeapStats
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(profile))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		name, value, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "# "), " = ")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "HeapInuse":
			h.HeapInuse, found = n, found+1
		case "HeapAlloc":
			h.HeapAlloc, found = n, found+1
		case "Sys":
			h.Sys, found = n, found+1
		}
	}
	if found < 3 {
		return h, fmt.Errorf("the heap profile has no runtime.MemStats lines (HeapInuse, HeapAlloc, Sys)")
	}
	return h, nil
}
