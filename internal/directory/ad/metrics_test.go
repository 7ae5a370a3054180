package ad

import (
	"context"
	"testing"

	"github.com/go-logr/logr"
	dto "github.com/prometheus/client_model/go"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

func TestMetricsInControllerRuntimeRegistry(t *testing.T) {
	d := newDir(t, testConfig(t, fleetBase, func(c *Config) { c.Name = "metrics-ad" }), logr.Discard())
	if _, err := d.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	bad := newDir(t, testConfig(t, func(c *Config) { c.Name = "metrics-ad"; c.CAFile = srv.WrongCAFile }), logr.Discard())
	if _, err := bad.Snapshot(context.Background()); err == nil {
		t.Fatal("wrong CA should fail")
	}
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["directory"] != "metrics-ad" {
				continue
			}
			key := f.GetName()
			if k := labels["kind"]; k != "" {
				key += "/" + k
			}
			got[key] = value(m)
		}
	}
	want := map[string]float64{
		"fleetlaps_directory_entries_total":                   fleetSize,
		"fleetlaps_directory_errors_total/CertificateInvalid": 1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}

func value(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetHistogram() != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return 0
}
