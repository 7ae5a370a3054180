package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/yaml"
)

// The alerts and the dashboard are checked against the metrics this binary registers: the test
// runs in package main, so controller-runtime's registry holds exactly the families of the
// manager (internal/metrics, controller-runtime's controller, work queue, client and leader
// election metrics), including vectors that have no series yet.
const (
	rulesFile     = "../../config/prometheus/rules.yaml"
	monitorFile   = "../../config/prometheus/monitor.yaml"
	dashboardFile = "../../config/grafana/fleetlaps-dashboard.json"
)

// targetLabels are attached by Prometheus when it scrapes the manager through a ServiceMonitor.
var targetLabels = []string{"job", "instance", "namespace", "pod", "service", "container", "endpoint"}

var (
	descName   = regexp.MustCompile(`^Desc\{fqName: "([^"]+)"`)
	descLabels = regexp.MustCompile(`variableLabels: \{([^}]*)\}\}$`)
)

// registeredFamilies returns every registered metric family with its label names.
func registeredFamilies(t *testing.T) map[string][]string {
	t.Helper()
	collector, ok := metrics.Registry.(prometheus.Collector)
	if !ok {
		t.Fatalf("controller-runtime's registry %T cannot describe its collectors", metrics.Registry)
	}
	ch := make(chan *prometheus.Desc)
	go func() { collector.Describe(ch); close(ch) }()
	families := map[string][]string{}
	for d := range ch {
		// Desc has no accessors; its String form is the documented way to read it.
		s := d.String()
		name, lbls := descName.FindStringSubmatch(s), descLabels.FindStringSubmatch(s)
		if name == nil || lbls == nil {
			t.Fatalf("unreadable metric description %s", s)
		}
		for l := range strings.SplitSeq(lbls[1], ",") {
			if l = strings.TrimSuffix(strings.TrimPrefix(l, "c("), ")"); l != "" {
				families[name[1]] = append(families[name[1]], l)
			}
		}
		if _, ok := families[name[1]]; !ok {
			families[name[1]] = nil
		}
	}
	return families
}

// labelsOf returns the labels a selector of name may use, and whether name is registered
// (histogram and summary series carry _bucket, _count and _sum suffixes).
func labelsOf(families map[string][]string, name string) ([]string, bool) {
	allowed := slices.Clone(targetLabels)
	if l, ok := families[name]; ok {
		return append(allowed, l...), true
	}
	for _, suffix := range []string{"_bucket", "_count", "_sum"} {
		if l, ok := families[strings.TrimSuffix(name, suffix)]; ok && strings.HasSuffix(name, suffix) {
			if suffix == "_bucket" {
				allowed = append(allowed, "le")
			}
			return append(allowed, l...), true
		}
	}
	return nil, false
}

// checkExpr parses expr with Prometheus' parser and returns the metrics it names and its
// problems: every metric that is not registered, every label matcher and every by/without label
// the metrics do not carry.
func checkExpr(families map[string][]string, expr string) (metricNames, problems []string) {
	ast, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, []string{fmt.Sprintf("%q does not parse: %v", expr, err)}
	}
	parser.Inspect(ast, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			allowed, ok := labelsOf(families, n.Name)
			if n.Name == "" || !ok {
				problems = append(problems, fmt.Sprintf("metric %q is not registered by the manager", n.Name))
				return nil
			}
			metricNames = append(metricNames, n.Name)
			for _, m := range n.LabelMatchers {
				if m.Name != model.MetricNameLabel && !slices.Contains(allowed, m.Name) {
					problems = append(problems, fmt.Sprintf("%s has no label %q (it has %v)", n.Name, m.Name, allowed))
				}
			}
		case *parser.AggregateExpr:
			var inner []string
			parser.Inspect(n.Expr, func(node parser.Node, _ []parser.Node) error {
				if vs, ok := node.(*parser.VectorSelector); ok {
					l, _ := labelsOf(families, vs.Name)
					inner = append(inner, l...)
				}
				return nil
			})
			for _, g := range n.Grouping {
				if !slices.Contains(inner, g) {
					problems = append(problems, fmt.Sprintf("aggregation by %q, which none of its metrics carries", g))
				}
			}
		}
		return nil
	})
	return metricNames, problems
}

// mustCheckExpr reports the problems of expr as test errors.
func mustCheckExpr(t *testing.T, families map[string][]string, where, expr string) []string {
	t.Helper()
	names, problems := checkExpr(families, expr)
	for _, p := range problems {
		t.Errorf("%s: %s", where, p)
	}
	return names
}

func readRules(t *testing.T) monitoringv1.PrometheusRule {
	t.Helper()
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var rule monitoringv1.PrometheusRule
	if err := yaml.UnmarshalStrict(b, &rule); err != nil {
		t.Fatalf("%s is not a PrometheusRule: %v", rulesFile, err)
	}
	return rule
}

// Prometheus expands alert annotations with text/template, after this header and with these
// functions among others.
const alertTemplateHeader = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$value := .Value}}"

var alertTemplateFuncs = template.FuncMap{
	"humanize": fmtAny, "humanizeDuration": fmtAny, "humanizePercentage": fmtAny,
}

func fmtAny(v any) string { return "" }

func TestAlerts_ParseAndNameRegisteredMetrics(t *testing.T) {
	families := registeredFamilies(t)
	rule := readRules(t)
	// What the alerts must cover, and the metric each must be built on.
	required := map[string]string{
		"FleetlapsPasswordsExpired":          "fleetlaps_devices_by_condition",
		"FleetlapsRotationFailures":          "fleetlaps_rotations_total",
		"FleetlapsDirectoryUnreachable":      "fleetlaps_directory_unavailable",
		"FleetlapsAgentReportsStale":         "fleetlaps_devices_by_condition",
		"FleetlapsPasswordStorageDrift":      "fleetlaps_devices_by_condition",
		"FleetlapsDirectorySyncNearInterval": "fleetlaps_directory_sync_interval_seconds",
	}
	seen := map[string]bool{}
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			where := g.Name + "/" + r.Alert
			if r.Alert == "" || seen[r.Alert] {
				t.Errorf("%s: every rule is an alert with a unique name", where)
			}
			seen[r.Alert] = true
			names := mustCheckExpr(t, families, where, r.Expr.String())
			if want, ok := required[r.Alert]; ok && !slices.Contains(names, want) {
				t.Errorf("%s: expression does not use %s: %s", where, want, r.Expr.String())
			}
			if r.For != nil {
				if _, err := model.ParseDuration(string(*r.For)); err != nil {
					t.Errorf("%s: for %q: %v", where, *r.For, err)
				}
			}
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q, want warning or critical", where, s)
			}
			for _, a := range []string{"summary", "description"} {
				text := r.Annotations[a]
				if text == "" {
					t.Errorf("%s: no %s annotation", where, a)
				}
				if _, err := template.New(a).Funcs(alertTemplateFuncs).Parse(alertTemplateHeader + text); err != nil {
					t.Errorf("%s: %s annotation: %v", where, a, err)
				}
			}
		}
	}
	for name := range required {
		if !seen[name] {
			t.Errorf("no alert %s in %s", name, rulesFile)
		}
	}
}

func TestServiceMonitor_ScrapesTheMetricsService(t *testing.T) {
	b, err := os.ReadFile(monitorFile)
	if err != nil {
		t.Fatal(err)
	}
	var sm monitoringv1.ServiceMonitor
	if err := yaml.UnmarshalStrict(b, &sm); err != nil {
		t.Fatalf("%s is not a ServiceMonitor: %v", monitorFile, err)
	}
	var svc struct {
		Spec struct {
			Ports    []struct{ Name string } `json:"ports"`
			Selector map[string]string       `json:"selector"`
		} `json:"spec"`
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
	}
	b, err = os.ReadFile("../../config/manager/metrics_service.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &svc); err != nil {
		t.Fatal(err)
	}
	for k, v := range sm.Spec.Selector.MatchLabels {
		if svc.Metadata.Labels[k] != v {
			t.Errorf("ServiceMonitor selects %s=%s, which the metrics Service does not carry (%v)", k, v, svc.Metadata.Labels)
		}
	}
	for _, e := range sm.Spec.Endpoints {
		if !slices.ContainsFunc(svc.Spec.Ports, func(p struct{ Name string }) bool { return p.Name == e.Port }) {
			t.Errorf("ServiceMonitor scrapes port %q, which the metrics Service does not name", e.Port)
		}
		if e.Scheme == nil || *e.Scheme != "https" {
			t.Errorf("the manager serves metrics over HTTPS; endpoint scheme %v", e.Scheme)
		}
	}
}

// grafanaVariable matches $name, ${name} and ${name:format} in dashboard queries.
var grafanaVariable = regexp.MustCompile(`\$\{?(\w+)(?::\w+)?\}?`)

func TestDashboard_QueriesParseAndNameRegisteredMetrics(t *testing.T) {
	families := registeredFamilies(t)
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID        string `json:"uid"`
		Templating struct {
			List []struct {
				Name     string `json:"name"`
				AllValue string `json:"allValue"`
				Query    any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
		Panels []dashboardPanel `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if dash.UID == "" {
		t.Error("the dashboard needs a stable uid so links to it survive re-imports")
	}
	// Values a variable takes when the expression is parsed: Grafana's own interval variables
	// become a duration, a label-value variable its "All" regular expression.
	values := map[string]string{"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}
	for _, v := range dash.Templating.List {
		values[v.Name] = v.AllValue
		if q, ok := v.Query.(map[string]any); ok {
			if s, _ := q["query"].(string); strings.HasPrefix(s, "label_values(") {
				metric := strings.TrimSpace(strings.Split(strings.TrimPrefix(s, "label_values("), ",")[0])
				if _, ok := labelsOf(families, metric); !ok {
					t.Errorf("variable %s: metric %q is not registered by the manager", v.Name, metric)
				}
			}
		}
	}
	queries := 0
	var walk func([]dashboardPanel)
	walk = func(panels []dashboardPanel) {
		for _, p := range panels {
			walk(p.Panels)
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, target := range p.Targets {
				expr := grafanaVariable.ReplaceAllStringFunc(target.Expr, func(m string) string {
					name := grafanaVariable.FindStringSubmatch(m)[1]
					v, ok := values[name]
					if !ok {
						t.Errorf("panel %q: variable $%s is not defined", p.Title, name)
					}
					return v
				})
				mustCheckExpr(t, families, "panel "+p.Title, expr)
				queries++
			}
		}
	}
	walk(dash.Panels)
	if queries < 10 {
		t.Errorf("only %d queries in the dashboard", queries)
	}
}

type dashboardPanel struct {
	Title   string           `json:"title"`
	Type    string           `json:"type"`
	Panels  []dashboardPanel `json:"panels"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// The checks above must be able to fail: a misspelt metric, an unknown label and a grouping by
// a label no metric carries are each reported.
func TestCheckExpr_RefusesUnknownMetricsAndLabels(t *testing.T) {
	families := registeredFamilies(t)
	for _, expr := range []string{
		`fleetlaps_rotation_total`,
		`fleetlaps_rotations_total{reason="failed"}`,
		`sum by (directroy) (fleetlaps_directory_unavailable)`,
		`fleetlaps_reconcile_errors_total`,
		`rate(fleetlaps_rotations_total[5m]`,
	} {
		if _, problems := checkExpr(families, expr); len(problems) == 0 {
			t.Errorf("%q passed the check", expr)
		}
	}
	if got := mustCheckExpr(t, families, "probe", `histogram_quantile(0.9, sum by (le, directory) (rate(fleetlaps_directory_sync_duration_seconds_bucket[5m])))`); len(got) != 1 {
		t.Errorf("histogram buckets: %v", got)
	}
}
