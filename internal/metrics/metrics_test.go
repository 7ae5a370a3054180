package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestConditionTracker(t *testing.T) {
	tr := NewConditionTracker()
	g := func(c, s, r string) float64 { return testutil.ToFloat64(DevicesByCondition.WithLabelValues(c, s, r)) }
	base := g("Ready", "True", "Compliant")
	tr.Observe("ns/a", map[string]Condition{"Ready": {"True", "Compliant"}})
	tr.Observe("ns/b", map[string]Condition{"Ready": {"True", "Compliant"}})
	tr.Observe("ns/a", map[string]Condition{"Ready": {"False", "CleartextPasswordStored"}})
	if g("Ready", "True", "Compliant")-base != 1 || g("Ready", "False", "CleartextPasswordStored") != 1 {
		t.Fatalf("Ready True +%v False %v", g("Ready", "True", "Compliant")-base, g("Ready", "False", "CleartextPasswordStored"))
	}
	// A new reason with the same status moves the device between series.
	tr.Observe("ns/a", map[string]Condition{"Ready": {"False", "NoPasswordStored"}})
	if g("Ready", "False", "CleartextPasswordStored") != 0 || g("Ready", "False", "NoPasswordStored") != 1 {
		t.Fatalf("reason change not followed: Cleartext %v NoPassword %v", g("Ready", "False", "CleartextPasswordStored"), g("Ready", "False", "NoPasswordStored"))
	}
	tr.Observe("ns/a", nil)
	if g("Ready", "False", "NoPasswordStored") != 0 {
		t.Fatal("forgotten device still counted")
	}
}
