package ad

import (
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/metrics"
)

// countError counts a failed directory operation by its kind. Round trips and pass durations are
// counted by the sync pass (internal/dirsync), once for every backend.
func countError(name string, err error) {
	if err == nil {
		return
	}
	kind := directory.KindOf(err)
	if kind == "" {
		kind = "Unknown"
	}
	metrics.DirectoryErrors.WithLabelValues(name, string(kind)).Inc()
}
