package ad

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/fleetlaps/fleetlaps/internal/directory"
)

var (
	roundTripsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fleetlaps_directory_round_trips_total",
		Help: "Directory requests (LDAP pages) made by snapshot passes.",
	}, []string{"directory"})
	entriesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fleetlaps_directory_entries_total",
		Help: "Device entries read by snapshot passes.",
	}, []string{"directory"})
	snapshotDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "fleetlaps_directory_snapshot_duration_seconds",
		Help:    "Wall time of snapshot passes.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
	}, []string{"directory"})
	errorsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fleetlaps_directory_errors_total",
		Help: "Directory operation failures by error kind.",
	}, []string{"directory", "kind"})

	registerOnce sync.Once
)

// registerMetrics adds the collectors to controller-runtime's registry once per process.
func registerMetrics() {
	registerOnce.Do(func() {
		metrics.Registry.MustRegister(roundTripsTotal, entriesTotal, snapshotDuration, errorsTotal)
	})
}

func countError(name string, err error) {
	if err == nil {
		return
	}
	kind := directory.KindOf(err)
	if kind == "" {
		kind = "Unknown"
	}
	errorsTotal.WithLabelValues(name, string(kind)).Inc()
}
