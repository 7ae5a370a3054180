package report

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	reportsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fleetlaps_agent_reports_total",
		Help: "Agent reports received by the report API, by reason (Accepted or why it was refused).",
	}, []string{"reason"})
	statusWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fleetlaps_agent_status_writes_total",
		Help: "status.agent writes by the report API, by cause (first report, changed, heartbeat due).",
	}, []string{"cause"})
	reportLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "fleetlaps_agent_report_duration_seconds",
		Help:    "Time to process an accepted agent report, status write included.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	})
)

func init() {
	ctrlmetrics.Registry.MustRegister(reportsTotal, statusWrites, reportLatency)
}
