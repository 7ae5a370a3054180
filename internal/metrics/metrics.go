// Package metrics registers the fleetlaps_ metrics with controller-runtime's registry.
package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	// SyncRoundTrips counts directory requests made by sync passes (LDAP pages, Graph pages).
	SyncRoundTrips = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fleetlaps_directory_sync_round_trips_total",
		Help: "Directory requests made by sync passes.",
	}, []string{"directory"})
	// SyncDuration observes one sync pass.
	SyncDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "fleetlaps_directory_sync_duration_seconds",
		Help:    "Duration of one directory sync pass.",
		Buckets: prometheus.ExponentialBuckets(0.05, 2, 12),
	}, []string{"directory", "result"})
	// SyncDevices is the number of devices in the latest snapshot.
	SyncDevices = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "fleetlaps_directory_snapshot_devices",
		Help: "Devices in the latest directory snapshot.",
	}, []string{"directory"})
	// DevicesByCondition counts ManagedDevices by condition type and status.
	DevicesByCondition = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "fleetlaps_devices_by_condition",
		Help: "ManagedDevices by condition type and status.",
	}, []string{"condition", "status"})
	// Rotations counts per-device rotation outcomes.
	Rotations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fleetlaps_rotations_total",
		Help: "Per-device rotation outcomes (requested, rotated, failed, write_error).",
	}, []string{"result"})
	// ReconcileErrors counts reconcile errors by controller and reason.
	ReconcileErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fleetlaps_reconcile_errors_total",
		Help: "Reconcile errors by controller and reason.",
	}, []string{"controller", "reason"})
)

func init() {
	metrics.Registry.MustRegister(SyncRoundTrips, SyncDuration, SyncDevices, DevicesByCondition, Rotations, ReconcileErrors)
}

// ConditionTracker keeps DevicesByCondition exact as devices change and disappear.
type ConditionTracker struct {
	mu   sync.Mutex
	seen map[string]map[string]string // device -> condition type -> status
}

// DeviceConditions is the global tracker used by the ManagedDevice controller.
var DeviceConditions = &ConditionTracker{seen: map[string]map[string]string{}}

// Observe records the current condition statuses of one device (nil forgets it).
func (t *ConditionTracker) Observe(device string, conds map[string]string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.seen[device]
	for ty, st := range old {
		if conds[ty] != st {
			DevicesByCondition.WithLabelValues(ty, st).Dec()
		}
	}
	for ty, st := range conds {
		if old[ty] != st {
			DevicesByCondition.WithLabelValues(ty, st).Inc()
		}
	}
	if conds == nil {
		delete(t.seen, device)
		return
	}
	t.seen[device] = conds
}
