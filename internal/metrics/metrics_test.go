package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestConditionTracker(t *testing.T) {
	tr := &ConditionTracker{seen: map[string]map[string]string{}}
	g := func(c, s string) float64 { return testutil.ToFloat64(DevicesByCondition.WithLabelValues(c, s)) }
	base := g("Ready", "True")
	tr.Observe("ns/a", map[string]string{"Ready": "True"})
	tr.Observe("ns/b", map[string]string{"Ready": "True"})
	tr.Observe("ns/a", map[string]string{"Ready": "False"})
	if g("Ready", "True")-base != 1 || g("Ready", "False") != 1 {
		t.Fatalf("Ready True +%v False %v", g("Ready", "True")-base, g("Ready", "False"))
	}
	tr.Observe("ns/a", nil)
	if g("Ready", "False") != 0 {
		t.Fatal("forgotten device still counted")
	}
}
