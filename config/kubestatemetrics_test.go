package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// kubeStateMetricsConfig is the part of kube-state-metrics' custom-resource-state configuration
// (docs/metrics/extend/customresourcestate-metrics.md) that config/kube-state-metrics uses.
// It is decoded strictly, so a misspelt key fails here instead of being ignored by
// kube-state-metrics.
type kubeStateMetricsConfig struct {
	Kind string `json:"kind"`
	Spec struct {
		Resources []struct {
			GroupVersionKind struct {
				Group   string `json:"group"`
				Version string `json:"version"`
				Kind    string `json:"kind"`
			} `json:"groupVersionKind"`
			MetricNamePrefix string              `json:"metricNamePrefix"`
			LabelsFromPath   map[string][]string `json:"labelsFromPath"`
			Metrics          []struct {
				Name string `json:"name"`
				Help string `json:"help"`
				Each struct {
					Type  string `json:"type"`
					Gauge *struct {
						Path           []string            `json:"path"`
						LabelsFromPath map[string][]string `json:"labelsFromPath"`
						ValueFrom      []string            `json:"valueFrom"`
					} `json:"gauge"`
				} `json:"each"`
			} `json:"metrics"`
		} `json:"resources"`
	} `json:"spec"`
}

// crdSchemas reads the generated CRDs: kind -> version -> schema.
func crdSchemas(t *testing.T) map[string]map[string]*apiextensionsv1.JSONSchemaProps {
	t.Helper()
	files, err := filepath.Glob("crd/bases/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in crd/bases: %v", err)
	}
	out := map[string]map[string]*apiextensionsv1.JSONSchemaProps{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(b, &crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, v := range crd.Spec.Versions {
			if out[crd.Spec.Group+"/"+crd.Spec.Names.Kind] == nil {
				out[crd.Spec.Group+"/"+crd.Spec.Names.Kind] = map[string]*apiextensionsv1.JSONSchemaProps{}
			}
			if v.Served {
				out[crd.Spec.Group+"/"+crd.Spec.Names.Kind][v.Name] = v.Schema.OpenAPIV3Schema
			}
		}
	}
	return out
}

// schemaAt follows path through object properties; a path that reaches an array continues in
// its items, as kube-state-metrics iterates over lists. metadata is not in CRD schemas but is
// every object's ObjectMeta; only the fields the configuration may use are allowed there.
func schemaAt(root *apiextensionsv1.JSONSchemaProps, path []string) (*apiextensionsv1.JSONSchemaProps, error) {
	if len(path) == 2 && path[0] == "metadata" && (path[1] == "name" || path[1] == "namespace") {
		return &apiextensionsv1.JSONSchemaProps{Type: "string"}, nil
	}
	s := root
	for i, p := range path {
		if s.Type == "array" && s.Items != nil && s.Items.Schema != nil {
			s = s.Items.Schema
		}
		next, ok := s.Properties[p]
		if !ok {
			return nil, fmt.Errorf("%s: no field %q (fields: %v)", strings.Join(path[:i], "."), p, keys(s.Properties))
		}
		s = &next
	}
	return s, nil
}

func keys(m map[string]apiextensionsv1.JSONSchemaProps) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// A gauge's value must be a number, a boolean, an RFC 3339 time or the strings "True"/"False"
// of a metav1.Condition status: kube-state-metrics parses nothing else.
func gaugeValueOK(s *apiextensionsv1.JSONSchemaProps) bool {
	switch {
	case s.Type == "integer" || s.Type == "number" || s.Type == "boolean":
		return true
	case s.Type == "string" && s.Format == "date-time":
		return true
	case s.Type == "string" && len(s.Enum) > 0:
		for _, e := range s.Enum {
			if v := strings.Trim(string(e.Raw), `"`); v != "True" && v != "False" && v != "Unknown" {
				return false
			}
		}
		return true
	}
	return false
}

func TestKubeStateMetrics_PathsExistInTheCRDs(t *testing.T) {
	b, err := os.ReadFile("kube-state-metrics/custom-resource-state.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg kubeStateMetricsConfig
	if err := yaml.UnmarshalStrict(b, &cfg); err != nil {
		t.Fatalf("custom-resource-state.yaml: %v", err)
	}
	if cfg.Kind != "CustomResourceStateMetrics" {
		t.Errorf("kind %q", cfg.Kind)
	}
	schemas := crdSchemas(t)
	conditionsOf := map[string]bool{}
	for _, r := range cfg.Spec.Resources {
		gvk := r.GroupVersionKind
		root := schemas[gvk.Group+"/"+gvk.Kind][gvk.Version]
		if root == nil {
			t.Errorf("%s/%s %s: no served CRD version", gvk.Group, gvk.Version, gvk.Kind)
			continue
		}
		for label, path := range r.LabelsFromPath {
			if _, err := schemaAt(root, path); err != nil {
				t.Errorf("%s label %s: %v", gvk.Kind, label, err)
			}
		}
		for _, m := range r.Metrics {
			where := gvk.Kind + " " + m.Name
			if m.Each.Type != "Gauge" || m.Each.Gauge == nil || m.Help == "" {
				t.Errorf("%s: want a Gauge with help text", where)
				continue
			}
			g := m.Each.Gauge
			at, err := schemaAt(root, g.Path)
			if err != nil {
				t.Errorf("%s path: %v", where, err)
				continue
			}
			item := at
			if at.Type == "array" {
				item = at.Items.Schema
			}
			for label, path := range g.LabelsFromPath {
				if _, err := schemaAt(item, path); err != nil {
					t.Errorf("%s label %s: %v", where, label, err)
				}
			}
			value := item
			if len(g.ValueFrom) > 0 {
				if value, err = schemaAt(item, g.ValueFrom); err != nil {
					t.Errorf("%s valueFrom: %v", where, err)
					continue
				}
			}
			if !gaugeValueOK(value) {
				t.Errorf("%s: value of type %q format %q enum %d is not one kube-state-metrics turns into a number", where, value.Type, value.Format, len(value.Enum))
			}
			if slices.Equal(g.Path, []string{"status", "conditions"}) && slices.Equal(g.ValueFrom, []string{"status"}) {
				conditionsOf[gvk.Kind] = true
			}
		}
	}
	for _, kind := range []string{"LapsPolicy", "ManagedDevice", "RotationRequest"} {
		if !conditionsOf[kind] {
			t.Errorf("no condition metric for %s", kind)
		}
	}
}

// The check must fail for a path the schema does not have.
func TestKubeStateMetrics_SchemaAtRefusesUnknownFields(t *testing.T) {
	root := crdSchemas(t)["laps.fleetlaps.io/ManagedDevice"]["v1"]
	for _, path := range [][]string{{"status", "condition"}, {"status", "conditions", "statuz"}, {"metadata", "labels"}} {
		if _, err := schemaAt(root, path); err == nil {
			t.Errorf("%v accepted", path)
		}
	}
	if s, err := schemaAt(root, []string{"status", "conditions", "status"}); err != nil || !gaugeValueOK(s) {
		t.Errorf("conditions[].status: %v %+v", err, s)
	}
}

// The optional kustomize trees build on their own, into the manager's namespace and prefix.
func TestOptionalTrees_Build(t *testing.T) {
	for dir, want := range map[string][]string{
		"kube-state-metrics": {"ClusterRole/fleetlaps-kube-state-metrics-reader", "ConfigMap/fleetlaps-kube-state-metrics-config"},
		"prometheus":         {"PrometheusRule/fleetlaps-alerts", "ServiceMonitor/fleetlaps-controller-manager-metrics-monitor"},
	} {
		var got []string
		for _, r := range build(t, dir).Resources() {
			got = append(got, r.GetKind()+"/"+r.GetName())
			if ns := r.GetNamespace(); ns != "" && ns != "fleetlaps-system" {
				t.Errorf("%s: %s/%s in namespace %q", dir, r.GetKind(), r.GetName(), ns)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s builds %v, want %v", dir, got, want)
		}
	}
}
