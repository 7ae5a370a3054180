// Package charts_test renders the Helm chart charts/fleetlaps with Helm's Go SDK, applies what it
// renders to a real kube-apiserver (envtest) as a server-side dry run, and checks that with its
// default values it installs the same objects as `kubectl apply -k config/default`. The chart
// reads config/ through symlinks (charts/fleetlaps/files), so a change to config/ reaches both;
// this test catches what the chart's own templates (the Deployment, the directories ConfigMap,
// the certificates) would miss.
package charts_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/fleetlaps/fleetlaps/internal/directoryconfig"
	"github.com/fleetlaps/fleetlaps/internal/testenv"
)

const chartDir = "fleetlaps"

func TestMain(m *testing.M) {
	// Helm's loader logs every symlink it follows; the chart's symlinks into config/ are intended.
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	os.Exit(m.Run())
}

// render renders the chart as `helm install NAME --namespace NS --values` would.
func render(name, namespace string, values map[string]any) ([]*unstructured.Unstructured, error) {
	return renderAgainst(nil, name, namespace, values)
}

// renderAgainst renders with the chart's lookup function reading the cluster of cfg (nil: no
// cluster, as `helm template`).
func renderAgainst(cfg *rest.Config, name, namespace string, values map[string]any) ([]*unstructured.Unstructured, error) {
	chrt, err := loader.Load(chartDir)
	if err != nil {
		return nil, fmt.Errorf("loading the chart: %w", err)
	}
	vals, err := chartutil.ToRenderValues(chrt, values, common.ReleaseOptions{Name: name, Namespace: namespace, IsInstall: true, Revision: 1}, nil)
	if err != nil {
		return nil, err
	}
	var files map[string]string
	if cfg != nil {
		files, err = engine.RenderWithClient(chrt, vals, cfg)
	} else {
		files, err = engine.Render(chrt, vals)
	}
	if err != nil {
		return nil, err
	}
	var paths []string
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var out []*unstructured.Unstructured
	for _, p := range paths {
		if !strings.HasSuffix(p, ".yaml") {
			continue
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(files[p]), 4096)
		for {
			var m map[string]any
			if err := dec.Decode(&m); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			if len(m) > 0 {
				out = append(out, &unstructured.Unstructured{Object: m})
			}
		}
	}
	return out, nil
}

func mustRender(t *testing.T, name, namespace string, values map[string]any) []*unstructured.Unstructured {
	t.Helper()
	objs, err := render(name, namespace, values)
	if err != nil {
		t.Fatalf("rendering the chart: %v", err)
	}
	return objs
}

func key(u *unstructured.Unstructured) string {
	return u.GetKind() + " " + u.GetNamespace() + "/" + u.GetName()
}

func byKey(objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	m := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		m[key(o)] = o
	}
	return m
}

// kustomizeBuild builds a config/ directory as `kubectl apply -k config/DIR` would.
func kustomizeBuild(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), "../config/"+dir)
	if err != nil {
		t.Fatalf("kustomize build config/%s: %v", dir, err)
	}
	var out []*unstructured.Unstructured
	for _, r := range m.Resources() {
		b, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var obj map[string]any
		if err := json.Unmarshal(b, &obj); err != nil {
			t.Fatal(err)
		}
		out = append(out, &unstructured.Unstructured{Object: obj})
	}
	return out
}

// Labels and annotations only the chart sets: Helm's own, the CRDs' keep policy and the pod's
// checksum of the directories file.
var chartOnly = []string{
	"app.kubernetes.io/instance", "app.kubernetes.io/managed-by", "helm.sh/chart",
	"helm.sh/resource-policy", "fleetlaps.io/directories-sha256",
}

func withoutChartOnly(u *unstructured.Unstructured) map[string]any {
	c := u.DeepCopy()
	strip := func(fields ...string) {
		m, found, _ := unstructured.NestedStringMap(c.Object, fields...)
		if !found {
			return
		}
		for _, k := range chartOnly {
			delete(m, k)
		}
		if len(m) == 0 {
			unstructured.RemoveNestedField(c.Object, fields...)
		} else {
			_ = unstructured.SetNestedStringMap(c.Object, m, fields...)
		}
	}
	strip("metadata", "labels")
	strip("metadata", "annotations")
	strip("spec", "template", "metadata", "annotations")
	// The directories file is compared parsed: config/ carries a commented example.
	if c.GetKind() == "ConfigMap" {
		if s, ok, _ := unstructured.NestedString(c.Object, "data", "directories.yaml"); ok {
			var parsed any
			_ = yaml.Unmarshal([]byte(s), &parsed)
			b, _ := yaml.Marshal(parsed)
			_ = unstructured.SetNestedField(c.Object, string(b), "data", "directories.yaml")
		}
	}
	// JSON round trip: the same numbers have the same types whichever decoder read them.
	b, _ := yaml.Marshal(c.Object)
	var norm map[string]any
	_ = yaml.Unmarshal(b, &norm)
	return norm
}

func TestChart_DefaultsInstallWhatKustomizeInstalls(t *testing.T) {
	compareWithKustomize(t, nil, "default")
}

// With the optional parts on, the chart adds what the optional kustomize trees install.
func TestChart_OptionalPartsInstallWhatTheirKustomizeTreesInstall(t *testing.T) {
	compareWithKustomize(t, map[string]any{
		"serviceMonitor":   map[string]any{"enabled": true},
		"prometheusRule":   map[string]any{"enabled": true},
		"kubeStateMetrics": map[string]any{"enabled": true},
	}, "default", "prometheus", "kube-state-metrics")
}

func compareWithKustomize(t *testing.T, values map[string]any, dirs ...string) {
	t.Helper()
	chart := byKey(mustRender(t, "fleetlaps", "fleetlaps-system", values))
	var built []*unstructured.Unstructured
	for _, d := range dirs {
		built = append(built, kustomizeBuild(t, d)...)
	}
	kust := byKey(built)
	for k, want := range kust {
		if want.GetKind() == "Namespace" {
			continue // Helm installs into an existing namespace (or --create-namespace).
		}
		got, ok := chart[k]
		if !ok {
			t.Errorf("kustomize (%v) installs %s; the chart does not", dirs, k)
			continue
		}
		if g, w := withoutChartOnly(got), withoutChartOnly(want); !equality.Semantic.DeepEqual(g, w) {
			gb, _ := yaml.Marshal(g)
			wb, _ := yaml.Marshal(w)
			t.Errorf("%s differs from kustomize's:\n--- chart\n%s\n--- kustomize\n%s", k, gb, wb)
		}
	}
	for k := range chart {
		if _, ok := kust[k]; !ok {
			t.Errorf("the chart installs %s; kustomize (%v) does not", k, dirs)
		}
	}
	for _, k := range []string{"CustomResourceDefinition /manageddevices.laps.fleetlaps.io", "Deployment fleetlaps-system/fleetlaps-controller-manager"} {
		if chart[k] == nil {
			t.Errorf("no %s", k)
		}
	}
}

// nonDefault are values that change every part of the chart a value reaches.
var nonDefault = map[string]any{
	"image":          map[string]any{"repository": "registry.corp.example/fleetlaps/manager", "tag": "v0.1.0", "pullPolicy": "IfNotPresent"},
	"replicas":       3,
	"leaderElection": map[string]any{"enabled": false},
	"crds":           map[string]any{"keep": false},
	"directories": []any{map[string]any{
		"name": "corp-ad", "type": "activeDirectory", "credentialsSecret": "corp-ad-bind",
		"namespaces": []any{"frontline"},
		"settings": map[string]any{
			"urls": []any{"ldaps://dc1.corp.example:636"}, "bindDN": "CN=svc-fleetlaps,DC=corp,DC=example",
			"searchBases": []any{"OU=Workstations,DC=corp,DC=example"}, "caFile": "/etc/fleetlaps/credentials/corp-ad/ca.crt",
		},
	}},
	"extraArgs":        []any{"--sync-interval=10m"},
	"resources":        map[string]any{"requests": map[string]any{"cpu": "100m", "memory": "256Mi"}},
	"nodeSelector":     map[string]any{"kubernetes.io/os": "linux"},
	"serviceAccount":   map[string]any{"annotations": map[string]any{"iam.example/role": "fleetlaps"}},
	"webhook":          map[string]any{"certificates": "selfSigned"},
	"networkPolicy":    map[string]any{"enabled": false},
	"serviceMonitor":   map[string]any{"enabled": true, "labels": map[string]any{"release": "prometheus"}},
	"prometheusRule":   map[string]any{"enabled": true, "labels": map[string]any{"release": "prometheus"}},
	"grafanaDashboard": map[string]any{"enabled": true},
	"kubeStateMetrics": map[string]any{"enabled": true},
}

func TestChart_NonDefaultValues(t *testing.T) {
	objs := mustRender(t, "corp", "laps", nonDefault)
	all := byKey(objs)
	find := func(kind, name string) *unstructured.Unstructured {
		t.Helper()
		for _, o := range objs {
			if o.GetKind() == kind && o.GetName() == name {
				return o
			}
		}
		t.Fatalf("no %s %s in %v", kind, name, slices.Sorted(func(yield func(string) bool) {
			for k := range all {
				if !yield(k) {
					return
				}
			}
		}))
		return nil
	}
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			if _, keep := o.GetAnnotations()["helm.sh/resource-policy"]; keep {
				t.Errorf("crds.keep=false but %s keeps the keep policy", o.GetName())
			}
			continue
		}
		if ns := o.GetNamespace(); ns != "" && ns != "laps" {
			t.Errorf("%s in namespace %q, want the release namespace", key(o), ns)
		}
		if o.GetKind() != "Secret" && !strings.HasPrefix(o.GetName(), "corp-fleetlaps-") {
			t.Errorf("%s is not named after the release", key(o))
		}
		if o.GetKind() == "NetworkPolicy" || o.GetKind() == "Issuer" || o.GetKind() == "Certificate" {
			t.Errorf("%s rendered although its values turn it off", key(o))
		}
	}

	// The Deployment.
	var dep struct {
		Spec struct {
			Replicas int32
			Template struct{ Spec corev1.PodSpec }
		}
	}
	b, _ := yaml.Marshal(find("Deployment", "corp-fleetlaps-controller-manager").Object)
	if err := yaml.Unmarshal(b, &dep); err != nil {
		t.Fatal(err)
	}
	pod := dep.Spec.Template.Spec
	c := pod.Containers[0]
	if dep.Spec.Replicas != 3 || c.Image != "registry.corp.example/fleetlaps/manager:v0.1.0" || c.ImagePullPolicy != "IfNotPresent" {
		t.Errorf("replicas %d image %s %s", dep.Spec.Replicas, c.Image, c.ImagePullPolicy)
	}
	if slices.Contains(c.Args, "--leader-elect") || !slices.Contains(c.Args, "--sync-interval=10m") {
		t.Errorf("args %v: want no --leader-elect and the extra --sync-interval", c.Args)
	}
	if c.Resources.Requests.Memory().String() != "256Mi" || pod.NodeSelector["kubernetes.io/os"] != "linux" {
		t.Errorf("resources %v nodeSelector %v", c.Resources, pod.NodeSelector)
	}
	if pod.ServiceAccountName != "corp-fleetlaps-controller-manager" || all["ServiceAccount laps/corp-fleetlaps-controller-manager"] == nil {
		t.Errorf("service account %q is not the chart's", pod.ServiceAccountName)
	}
	if a := all["ServiceAccount laps/corp-fleetlaps-controller-manager"].GetAnnotations(); a["iam.example/role"] != "fleetlaps" {
		t.Errorf("service account annotations %v", a)
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	for _, m := range c.VolumeMounts {
		v, ok := volumes[m.Name]
		switch {
		case !ok:
			t.Errorf("mount %s has no volume", m.Name)
		case v.ConfigMap != nil && all["ConfigMap laps/"+v.ConfigMap.Name] == nil:
			t.Errorf("volume %s: no ConfigMap %s", v.Name, v.ConfigMap.Name)
		case v.Secret != nil && v.Secret.SecretName != "corp-ad-bind" && all["Secret laps/"+v.Secret.SecretName] == nil:
			t.Errorf("volume %s: no Secret %s (selfSigned generates the serving certificates)", v.Name, v.Secret.SecretName)
		}
		if v.Secret != nil && v.Secret.SecretName == "corp-ad-bind" && m.MountPath != "/etc/fleetlaps/credentials/corp-ad" {
			t.Errorf("credentials of corp-ad mounted at %s", m.MountPath)
		}
	}

	// The directories file as the manager parses it.
	cm := find("ConfigMap", "corp-fleetlaps-directories")
	data, _, _ := unstructured.NestedString(cm.Object, "data", "directories.yaml")
	file, err := directoryconfig.Parse([]byte(data))
	if err != nil {
		t.Fatalf("the manager refuses the rendered directories file: %v\n%s", err, data)
	}
	if len(file.Directories) != 1 || file.Directories[0].CredentialsDir != "/etc/fleetlaps/credentials/corp-ad" || strings.Contains(data, "credentialsSecret") {
		t.Errorf("directories file:\n%s", data)
	}

	// Self-signed certificates: the webhook trusts the CA that signed the serving certificate,
	// for the name of the webhook Service.
	secret := find("Secret", "webhook-server-cert")
	tlsCrt, _, _ := unstructured.NestedString(secret.Object, "data", "tls.crt")
	hook := find("MutatingWebhookConfiguration", "corp-fleetlaps-mutating-webhook-configuration")
	webhooks, _, _ := unstructured.NestedSlice(hook.Object, "webhooks")
	if len(webhooks) == 0 {
		t.Fatal("no webhooks")
	}
	for _, w := range webhooks {
		svc, _, _ := unstructured.NestedMap(w.(map[string]any), "clientConfig", "service")
		if svc["name"] != "corp-fleetlaps-webhook-service" || svc["namespace"] != "laps" || all["Service laps/corp-fleetlaps-webhook-service"] == nil {
			t.Errorf("webhook service %v", svc)
		}
		bundle, _, _ := unstructured.NestedString(w.(map[string]any), "clientConfig", "caBundle")
		verifyServing(t, bundle, tlsCrt, "corp-fleetlaps-webhook-service.laps.svc")
	}
	if _, ok := hook.GetAnnotations()["cert-manager.io/inject-ca-from"]; ok {
		t.Error("selfSigned must not ask cert-manager to inject a CA")
	}

	// Monitoring objects are the Prometheus Operator's types.
	for kind, into := range map[string]any{"ServiceMonitor": &monitoringv1.ServiceMonitor{}, "PrometheusRule": &monitoringv1.PrometheusRule{}} {
		var o *unstructured.Unstructured
		for _, x := range objs {
			if x.GetKind() == kind {
				o = x
			}
		}
		if o == nil {
			t.Errorf("no %s although enabled", kind)
			continue
		}
		b, _ := yaml.Marshal(o.Object)
		if err := yaml.UnmarshalStrict(b, into); err != nil {
			t.Errorf("%s: %v", kind, err)
		}
		if o.GetLabels()["release"] != "prometheus" {
			t.Errorf("%s labels %v", kind, o.GetLabels())
		}
	}
	dash, _, _ := unstructured.NestedString(find("ConfigMap", "corp-fleetlaps-grafana-dashboard").Object, "data", "fleetlaps-dashboard.json")
	if want, _ := os.ReadFile("../config/grafana/fleetlaps-dashboard.json"); dash != string(want) {
		t.Error("the dashboard ConfigMap is not config/grafana's dashboard")
	}
	find("ConfigMap", "corp-fleetlaps-kube-state-metrics-config")
	find("ClusterRole", "corp-fleetlaps-kube-state-metrics-reader")
}

func verifyServing(t *testing.T, caBundle, tlsCrt, host string) {
	t.Helper()
	ca, err := base64.StdEncoding.DecodeString(caBundle)
	if err != nil || len(ca) == 0 {
		t.Fatalf("caBundle: %v", err)
	}
	crtPEM, err := base64.StdEncoding.DecodeString(tlsCrt)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(crtPEM)
	if block == nil {
		t.Fatal("tls.crt is not PEM")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca) {
		t.Fatal("caBundle holds no certificate")
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: host}); err != nil {
		t.Errorf("serving certificate does not verify for %s against the caBundle: %v", host, err)
	}
}

// Bad values fail the install with an error naming the value (values.schema.json), and change
// nothing.
func TestChart_RefusesBadValues(t *testing.T) {
	for _, tc := range []struct {
		values map[string]any
		want   []string
	}{
		{map[string]any{"webhook": map[string]any{"certificates": "letsencrypt"}}, []string{"/webhook/certificates", "certManager", "selfSigned"}},
		{map[string]any{"replica": 3}, []string{"replica"}},
		{map[string]any{"replicas": 0}, []string{"/replicas"}},
		{map[string]any{"directories": []any{map[string]any{"name": "corp-ad", "type": "activeDirectory", "credentialsDir": "/x"}}}, []string{"credentialsDir"}},
		{map[string]any{"directories": []any{map[string]any{"type": "activeDirectory"}}}, []string{"name"}},
	} {
		_, err := render("fleetlaps", "fleetlaps-system", tc.values)
		if err == nil {
			t.Errorf("%v rendered", tc.values)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error does not name %q: %v", tc.values, w, err)
			}
		}
	}
}

// Helm's own linter (`helm lint`): no errors or warnings with default or non-default values.
func TestChart_Lint(t *testing.T) {
	for name, values := range map[string]map[string]any{"defaults": nil, "non-default values": nonDefault} {
		for _, m := range lint.RunAll(chartDir, values, "fleetlaps-system").Messages {
			if m.Severity >= support.WarningSev {
				t.Errorf("%s: helm lint: %s", name, m)
			}
		}
	}
}

// Kinds whose CRDs belong to other projects (cert-manager, the Prometheus Operator) that this
// machine cannot fetch: checked above by their types instead of the apiserver.
var foreignKinds = []string{"Issuer", "Certificate", "ServiceMonitor", "PrometheusRule"}

func TestChart_ApiserverAcceptsEveryObject(t *testing.T) {
	ctrllog.SetLogger(logr.Discard())
	assets, err := testenv.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	// No CRDs installed beforehand: the chart's own CRDs are among the objects tried.
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	c, err := client.New(cfg, client.Options{Scheme: runtime.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name, release, namespace string
		values                   map[string]any
	}{
		{"defaults", "fleetlaps", "fleetlaps-system", nil},
		{"non-default values", "corp", "laps", nonDefault},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := &unstructured.Unstructured{}
			ns.SetAPIVersion("v1")
			ns.SetKind("Namespace")
			ns.SetName(tc.namespace)
			if err := c.Create(ctx, ns); err != nil {
				t.Fatal(err)
			}
			tried := 0
			for _, o := range mustRender(t, tc.release, tc.namespace, tc.values) {
				if slices.Contains(foreignKinds, o.GetKind()) {
					continue
				}
				if err := c.Create(ctx, o.DeepCopy(), client.DryRunAll); err != nil {
					t.Errorf("%s: the apiserver refuses it: %v", key(o), err)
				}
				tried++
			}
			t.Logf("%d objects accepted by a server-side dry run", tried)
		})
	}

	// An upgrade keeps the self-signed certificates a previous release created, so the CA in the
	// webhook configuration goes on matching the serving certificate the pods mounted.
	t.Run("self-signed certificates survive an upgrade", func(t *testing.T) {
		first, err := renderAgainst(cfg, "corp", "laps", nonDefault)
		if err != nil {
			t.Fatal(err)
		}
		stored := map[string]map[string]any{}
		for _, o := range first {
			if o.GetKind() == "Secret" {
				if err := c.Create(ctx, o.DeepCopy()); err != nil {
					t.Fatal(err)
				}
				stored[o.GetName()], _, _ = unstructured.NestedMap(o.Object, "data")
			}
		}
		if len(stored) != 2 {
			t.Fatalf("self-signed mode rendered Secrets %v, want webhook-server-cert and report-tls", stored)
		}
		again, err := renderAgainst(cfg, "corp", "laps", nonDefault)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range again {
			switch o.GetKind() {
			case "Secret":
				data, _, _ := unstructured.NestedMap(o.Object, "data")
				if !equality.Semantic.DeepEqual(data, stored[o.GetName()]) {
					t.Errorf("the upgrade replaced the certificate in Secret %s", o.GetName())
				}
			case "MutatingWebhookConfiguration":
				webhooks, _, _ := unstructured.NestedSlice(o.Object, "webhooks")
				for _, w := range webhooks {
					bundle, _, _ := unstructured.NestedString(w.(map[string]any), "clientConfig", "caBundle")
					if bundle != stored["webhook-server-cert"]["ca.crt"] {
						t.Error("the upgraded webhook configuration trusts another CA than the stored certificate's")
					}
				}
			}
		}
	})
}

// The chart must not carry copies of what `make manifests` generates into config/: the CRDs,
// role.yaml and the webhook configuration reach it only through the symlinks in files/.
func TestChart_ReadsConfigThroughSymlinks(t *testing.T) {
	err := filepath.WalkDir(chartDir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&os.ModeSymlink != 0 {
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			if !strings.HasPrefix(filepath.Clean(filepath.Join(filepath.Dir(path), target)), filepath.Clean("../config")) {
				t.Errorf("%s links to %s, outside config/", path, target)
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, generated := range []string{"controller-gen.kubebuilder.io/version", "name: manager-role", "kind: CustomResourceDefinition"} {
			if bytes.Contains(b, []byte(generated)) {
				t.Errorf("%s holds generated config (%q): read it from config/ through files/", path, generated)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, link := range []string{"crd", "rbac", "webhook", "manager", "default"} {
		if fi, err := os.Lstat(filepath.Join(chartDir, "files", link)); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("files/%s must be a symlink into config/: %v", link, err)
		}
	}
}
