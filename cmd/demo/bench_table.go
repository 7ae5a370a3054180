package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"
)

// benchFigure is one line of a size's table: what was measured, the target and the anchor it
// is compared with (a physical limit or a bare-client baseline measured in the same run).
type benchFigure struct {
	Name, Measured, Target, Anchor string
}

const kib = 1024.0

// figures turns a size's row into its table lines.
func (r benchRow) figures() []benchFigure {
	n := float64(r.Devices)
	pages := int(math.Ceil(n / float64(max(r.PageSize, 1))))
	perDev := func(b int64) string { return fmt.Sprintf("%.1f KiB", float64(b)/n/kib) }
	gib := func(b int64) string { return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30)) }
	var total float64
	for _, p := range r.Phases {
		total += p.Seconds
	}
	kinds := make([]string, 0, len(r.WritesByKind))
	for k, v := range r.WritesByKind {
		kinds = append(kinds, fmt.Sprintf("%s %.0f", k, float64(v)/r.WindowHours))
	}
	sort.Strings(kinds)
	restartKinds := make([]string, 0, len(r.Restart.WritesByKind))
	for k, v := range r.Restart.WritesByKind {
		restartKinds = append(restartKinds, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(restartKinds)
	sel := r.Selector
	sb := r.Samba
	samba := "measured"
	if sb.DCCached {
		samba = "cached"
	}
	f := []benchFigure{
		{"Samba AD DC: full sync round trips", fmt.Sprint(sb.FullRoundTrips), fmt.Sprintf("= floor(N/page)+1 = %d", sb.FullRoundTripAnchor), "ceil(N/page) pages + the empty page Samba ends with"},
		{"Samba AD DC: full sync wall / bare go-ldap paged search", fmt.Sprintf("%.2f s / %.2f s = %.2fx", sb.FullSeconds, sb.BareSeconds, sb.FullOverBare), "<= 1.5x", fmt.Sprintf("same attributes, same run, median of %d each, interleaved", len(sb.FullSecondsEach))},
		{"Samba AD DC: incremental pass after changes: round trips", fmt.Sprintf("%d (%d entries, %.3f s)", sb.IncrementalRoundTrips, sb.IncrementalEntries, sb.IncrementalSeconds), fmt.Sprintf("= %d (1 per page of changes)", sb.IncrementalRoundTripAnchor), fmt.Sprintf("%d computers changed", sb.IncrementalChanges)},
		{"Samba AD DC: load / start, RSS", fmt.Sprintf("%.0f s (%s) / %.0f s, %.0f MiB", sb.DCLoadSeconds, samba, sb.DCStartSeconds, float64(sb.SambaRSSBytes)/(1<<20)), "", "loaded once per machine into bin/samba"},
		{"ManagedDevice as stored in etcd: mean / p99 / max", fmt.Sprintf("%.0f / %d / %d B", r.Stored.MeanBytes, r.Stored.P99Bytes, r.Stored.MaxBytes), "<= 3 KiB (3072 B)", fmt.Sprintf("%d objects; managedFields %d B in all", r.Stored.Count, r.Stored.ManagedFieldsBytes)},
		{"etcd database size / in use", fmt.Sprintf("%s / %s", gib(r.EtcdDB.DBSize), gib(r.EtcdDB.DBSizeInUse)), "", ""},
		{"directory sync, first full pass: round trips", fmt.Sprint(r.FirstSyncRoundTrips), fmt.Sprintf("= ceil(N/page) = %d", pages), fmt.Sprintf("page %d", r.PageSize)},
		{"directory sync in the window: round trips per sync (mean)", fmt.Sprintf("%.2f over %.0f syncs", r.RoundTripsPerSync, r.Syncs), "1 per page of changes", "incremental passes; a full pass every simulated hour"},
		{"controller apiserver writes per simulated hour", fmt.Sprintf("%.0f (%s)", r.WritesPerSimHour, strings.Join(kinds, ", ")), "= rotations (0 per sync cycle)", fmt.Sprintf("%.0f rotations per simulated hour", r.RotationsPerSimHour)},
		{"report API status.agent writes per simulated hour", fmt.Sprintf("%.0f", r.AgentWritesPerHour), "<= heartbeats + rotations", fmt.Sprintf("%.0f heartbeats (N / %s)", r.HeartbeatsPerHour, agentHeartbeat)},
		{"RotationRequest create -> directory write p50 / p99", fmt.Sprintf("%.3f s / %.3f s", r.LatencyP50, r.LatencyP99), "p99 <= 2 s", fmt.Sprintf("%d requests, one at a time, fleet running", benchProbes)},
		{"selector request: most writes in any minute", fmt.Sprint(sel.MaxWritesInMinute), fmt.Sprintf("= ratePerMinute %d", sel.RatePerMinute), fmt.Sprintf("%d targets, %d written, %d rotated in %.0f simulated min", sel.Targets, sel.Written, sel.Rotated, sel.SimulatedMinutes)},
		{"selector request: most devices in flight", fmt.Sprint(sel.MaxInFlight), fmt.Sprintf("= maxConcurrent %d", sel.MaxConcurrent), fmt.Sprintf("status %.0f KiB (etcd's request limit 1.5 MiB)", float64(sel.StatusBytes)/kib)},
		{"manager restart: caches synced / settled", fmt.Sprintf("%.1f s / %.1f s", r.Restart.CachesSyncedSeconds, r.Restart.SettledSeconds), "", fmt.Sprintf("%.0f device reconciles", r.Restart.Reconciles)},
		{"manager restart: writes", fmt.Sprintf("%d %s", r.Restart.Writes, strings.Join(restartKinds, ", ")), "0", "nothing changed (fleet stopped, clock frozen)"},
		{"manager heap in use after GC per device", perDev(r.Memory.ManagerHeapBytes), "<= 4 KiB", "restarted manager: caches, snapshot, queues, report API"},
		{"demo process RSS per device (peak)", fmt.Sprintf("%s (%s)", perDev(r.Memory.ProcessRSSBytes), perDev(r.Memory.ProcessPeakBytes)), "", "manager + embedded directory + simulated fleet and agents"},
		{"kube-apiserver RSS (peak) / heap in use after GC, per device", fmt.Sprintf("%s (%s) / %s", perDev(r.Memory.APIServerRSSBytes), perDev(r.Memory.APIServerPeakBytes), perDev(r.Memory.APIServerHeapBytes)), "", "the watch cache keeps every event of the last 75 s real time: at x240 that is hours of writes"},
		{"etcd RSS per device (peak)", fmt.Sprintf("%s (%s)", perDev(r.Memory.EtcdRSSBytes), perDev(r.Memory.EtcdPeakBytes)), "", ""},
		{"machine memory in use, peak", gib(r.Memory.MachinePeakBytes), "< 20 GiB", fmt.Sprintf("%s before the run", gib(r.Memory.MachineBaseBytes))},
		{"wall time", (time.Duration(total) * time.Second).String(), "< 45 min at 100k", fmt.Sprintf("speed x%g, %.1f simulated h per real min", r.Speed, r.SimHoursPerSecond*60)},
	}
	for _, p := range r.Phases {
		f = append(f, benchFigure{"  phase: " + p.Name, fmt.Sprintf("%.0f s", p.Seconds), "", ""})
	}
	return f
}

func printBenchTable(w io.Writer, r benchRow) {
	fmt.Fprintf(w, "\n### %d devices\n\n| figure | measured | target | anchor |\n|---|---|---|---|\n", r.Devices)
	for _, f := range r.figures() {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", f.Name, f.Measured, f.Target, f.Anchor)
	}
}
