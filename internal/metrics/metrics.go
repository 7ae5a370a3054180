// Package metrics registers the fleetlaps_ metrics with controller-runtime's registry.
//
// Each quantity has one family. Reconcile errors are controller-runtime's
// controller_runtime_reconcile_errors_total{controller} (the reconcilers return their errors), and
// directory round trips and pass durations are counted once, by the sync pass, for every backend.
package metrics

import (
	"encoding/binary"
	"math"
	"slices"
	"sync"
	"unique"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	// SyncRoundTrips counts directory requests made by completed sync passes (LDAP pages, Graph
	// pages).
	SyncRoundTrips = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fleetlaps_directory_sync_round_trips_total",
		Help: "Directory requests (LDAP or Graph pages) made by completed sync passes.",
	}, []string{"directory"})
	// SyncDuration observes one sync pass, successful or not. The buckets reach 410 s so that
	// passes near the default 5-minute interval stay measurable.
	SyncDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "fleetlaps_directory_sync_duration_seconds",
		Help:    "Duration of one directory sync pass, by result (success, error).",
		Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
	}, []string{"directory", "result"})
	// SyncInterval is the configured time between sync passes, so that a dashboard or an alert
	// can compare pass durations with it.
	SyncInterval = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "fleetlaps_directory_sync_interval_seconds",
		Help: "Configured time between two sync passes of the directory.",
	}, []string{"directory"})
	// SyncDevices is the number of devices in the latest snapshot.
	SyncDevices = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "fleetlaps_directory_snapshot_devices",
		Help: "Devices in the latest directory snapshot.",
	}, []string{"directory"})
	// DirectoryUnavailable is 1 while sync passes have failed for longer than the grace period
	// (when devices of the directory report it unavailable), 0 after a successful pass.
	DirectoryUnavailable = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "fleetlaps_directory_unavailable",
		Help: "1 while sync passes of the directory have failed for longer than the grace period.",
	}, []string{"directory"})
	// DirectoryEntries counts device entries read by snapshot passes (an incremental pass reads
	// only the changed ones).
	DirectoryEntries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fleetlaps_directory_entries_total",
		Help: "Device entries read from the directory by snapshot passes.",
	}, []string{"directory"})
	// DirectoryErrors counts failed directory operations by error kind.
	DirectoryErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fleetlaps_directory_errors_total",
		Help: "Directory operation failures by error kind.",
	}, []string{"directory", "kind"})
	// DevicesByCondition counts ManagedDevices by condition type, status and reason (e.g.
	// PasswordCurrent False NoPasswordStored / CleartextPasswordStored / LegacyPasswordStored).
	// Reasons are a fixed CamelCase set, so the label stays low-cardinality.
	DevicesByCondition = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "fleetlaps_devices_by_condition",
		Help: "ManagedDevices by condition type, status and reason.",
	}, []string{"condition", "status", "reason"})
	// Rotations counts per-device rotation outcomes.
	Rotations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fleetlaps_rotations_total",
		Help: "Per-device rotation outcomes (requested, rotated, failed, write_error).",
	}, []string{"result"})
)

func init() {
	metrics.Registry.MustRegister(SyncRoundTrips, SyncDuration, SyncInterval, SyncDevices, DirectoryUnavailable,
		DirectoryEntries, DirectoryErrors, DevicesByCondition, Rotations)
}

// Condition is what DevicesByCondition counts of one condition.
type Condition struct {
	Status string
	Reason string
}

// ConditionTracker keeps DevicesByCondition exact as devices change and disappear. Per device
// it keeps one shared handle: the set of (type, status, reason) a fleet's devices are in is
// small, so 100,000 devices share a few dozen sets (a map of conditions per device would cost
// about 450 bytes a device).
type ConditionTracker struct {
	mu   sync.Mutex
	seen map[string]unique.Handle[string] // device -> its conditions: tracked ids, 2 bytes each, sorted
	ids  map[tracked]uint16
	list []tracked
}

type tracked struct {
	Type string
	Condition
}

// NewConditionTracker returns an empty tracker.
func NewConditionTracker() *ConditionTracker {
	return &ConditionTracker{seen: map[string]unique.Handle[string]{}, ids: map[tracked]uint16{}}
}

// DeviceConditions is the global tracker used by the ManagedDevice controller.
var DeviceConditions = NewConditionTracker()

// Observe records the current conditions of one device (nil forgets it).
func (t *ConditionTracker) Observe(device string, conds map[string]Condition) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var old string
	if h, ok := t.seen[device]; ok {
		old = h.Value()
	}
	now := t.encode(conds)
	if now == old {
		return
	}
	for i := 0; i < len(old); i += 2 {
		if !hasID(now, old[i:i+2]) {
			c := t.list[binary.LittleEndian.Uint16([]byte(old[i:i+2]))]
			DevicesByCondition.WithLabelValues(c.Type, c.Status, c.Reason).Dec()
		}
	}
	for i := 0; i < len(now); i += 2 {
		if !hasID(old, now[i:i+2]) {
			c := t.list[binary.LittleEndian.Uint16([]byte(now[i:i+2]))]
			DevicesByCondition.WithLabelValues(c.Type, c.Status, c.Reason).Inc()
		}
	}
	if conds == nil {
		delete(t.seen, device)
		return
	}
	t.seen[device] = unique.Make(now)
}

// encode turns conditions into their sorted ids (caller holds mu). The id table only grows: it
// holds each (type, status, reason) ever seen, a bounded vocabulary.
func (t *ConditionTracker) encode(conds map[string]Condition) string {
	ids := make([]uint16, 0, len(conds))
	for ty, c := range conds {
		k := tracked{Type: ty, Condition: c}
		id, ok := t.ids[k]
		if !ok {
			if len(t.list) > math.MaxUint16 {
				continue // beyond any real vocabulary of reasons: not counted rather than miscounted
			}
			id = uint16(len(t.list))
			t.ids[k] = id
			t.list = append(t.list, k)
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	b := make([]byte, 0, 2*len(ids))
	for _, id := range ids {
		b = binary.LittleEndian.AppendUint16(b, id)
	}
	return string(b)
}

func hasID(set, id string) bool {
	for i := 0; i < len(set); i += 2 {
		if set[i:i+2] == id {
			return true
		}
	}
	return false
}
