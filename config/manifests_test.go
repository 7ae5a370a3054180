// Package config_test renders the kustomize trees the way `kubectl apply -k` does and checks that
// what a cluster would receive is wired together: every RBAC binding names a role that exists,
// the manager runs as non-root with a read-only root file system, the CRDs are all there, and
// the samples pass the same admission rules as in api/v1 (checked there against a real apiserver).
package config_test

import (
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

func build(t *testing.T, dir string) resmap.ResMap {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	return m
}

func TestDefault_RendersAWiredManager(t *testing.T) {
	m := build(t, "default")
	kinds := map[string][]string{}
	for _, r := range m.Resources() {
		kinds[r.GetKind()] = append(kinds[r.GetKind()], r.GetName())
		if ns := r.GetNamespace(); ns != "" && ns != "fleetlaps-system" {
			t.Errorf("%s/%s in namespace %q, want fleetlaps-system", r.GetKind(), r.GetName(), ns)
		}
	}
	if got := len(kinds["CustomResourceDefinition"]); got != 3 {
		t.Errorf("CRDs: %d, want 3 (%v)", got, kinds["CustomResourceDefinition"])
	}
	roles := map[string]bool{}
	for _, k := range []string{"ClusterRole", "Role"} {
		for _, n := range kinds[k] {
			roles[k+"/"+n] = true
		}
	}
	for _, r := range m.Resources() {
		if r.GetKind() != "ClusterRoleBinding" && r.GetKind() != "RoleBinding" {
			continue
		}
		obj, err := r.Map()
		if err != nil {
			t.Fatal(err)
		}
		ref := obj["roleRef"].(map[string]any)
		if key := ref["kind"].(string) + "/" + ref["name"].(string); !roles[key] {
			t.Errorf("%s %s refers to %s, which the build does not contain", r.GetKind(), r.GetName(), key)
		}
	}
	if len(kinds["Deployment"]) != 1 {
		t.Fatalf("deployments: %v", kinds["Deployment"])
	}
	for _, r := range m.Resources() {
		if r.GetKind() != "Deployment" {
			continue
		}
		obj, _ := r.Map()
		pod := obj["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
		if pod["securityContext"].(map[string]any)["runAsNonRoot"] != true {
			t.Error("manager pod must run as non-root")
		}
		c := pod["containers"].([]any)[0].(map[string]any)
		sc := c["securityContext"].(map[string]any)
		if sc["readOnlyRootFilesystem"] != true || sc["allowPrivilegeEscalation"] != false {
			t.Errorf("manager container security context: %v", sc)
		}
		for _, a := range c["args"].([]any) {
			if s := a.(string); len(s) > 0 && (strings.Contains(s, "password") || strings.Contains(s, "token")) {
				t.Errorf("credential-like flag %q: credentials come from mounted Secrets only", s)
			}
		}
	}
}

func TestSamples_Render(t *testing.T) {
	m := build(t, "samples")
	if m.Size() < 4 {
		t.Fatalf("samples: %d objects", m.Size())
	}
}

func TestDefault_WebhookReachesTheManagerWithACertificate(t *testing.T) {
	m := build(t, "default")
	var services, certs, secretsMounted []string
	var webhookService, inject string
	for _, r := range m.Resources() {
		obj, err := r.Map()
		if err != nil {
			t.Fatal(err)
		}
		switch r.GetKind() {
		case "Service":
			services = append(services, r.GetNamespace()+"/"+r.GetName())
		case "Certificate":
			certs = append(certs, r.GetNamespace()+"/"+r.GetName())
			if sec := obj["spec"].(map[string]any)["secretName"]; sec != "webhook-server-cert" && sec != "report-tls" {
				t.Errorf("certificate secret %v", sec)
			}
		case "MutatingWebhookConfiguration":
			inject = r.GetAnnotations()["cert-manager.io/inject-ca-from"]
			svc := obj["webhooks"].([]any)[0].(map[string]any)["clientConfig"].(map[string]any)["service"].(map[string]any)
			webhookService = svc["namespace"].(string) + "/" + svc["name"].(string)
		case "Deployment":
			pod := obj["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
			for _, v := range pod["volumes"].([]any) {
				if s, ok := v.(map[string]any)["secret"]; ok {
					secretsMounted = append(secretsMounted, s.(map[string]any)["secretName"].(string))
				}
			}
		}
	}
	if !slices.Contains(services, webhookService) {
		t.Errorf("webhook calls service %q; services in the build: %v", webhookService, services)
	}
	if !slices.Contains(certs, inject) {
		t.Errorf("CA injected from %q; certificates in the build: %v", inject, certs)
	}
	if !slices.Contains(secretsMounted, "webhook-server-cert") {
		t.Errorf("manager does not mount the webhook certificate: %v", secretsMounted)
	}
}

// TestDefault_ReportAPI: the agents' report API has its port, Service, certificate, an open
// NetworkPolicy port, and reads Secrets only through a Role in the manager's namespace.
func TestDefault_ReportAPI(t *testing.T) {
	m := build(t, "default")
	var haveService, haveCert, havePolicy, mounted, haveArg bool
	for _, r := range m.Resources() {
		obj, err := r.Map()
		if err != nil {
			t.Fatal(err)
		}
		spec, _ := obj["spec"].(map[string]any)
		switch r.GetKind() {
		case "Service":
			if r.GetName() == "fleetlaps-report" && r.GetNamespace() == "fleetlaps-system" {
				port := spec["ports"].([]any)[0].(map[string]any)
				haveService = port["port"] == 9444 && port["targetPort"] == "report"
			}
		case "Certificate":
			if spec["secretName"] == "report-tls" {
				haveCert = slices.Contains(spec["dnsNames"].([]any), any("fleetlaps-report.fleetlaps-system.svc"))
			}
		case "NetworkPolicy":
			for _, in := range spec["ingress"].([]any) {
				for _, p := range in.(map[string]any)["ports"].([]any) {
					havePolicy = havePolicy || p.(map[string]any)["port"] == 9444
				}
			}
		case "Deployment":
			pod := spec["template"].(map[string]any)["spec"].(map[string]any)
			for _, v := range pod["volumes"].([]any) {
				if s, ok := v.(map[string]any)["secret"]; ok && s.(map[string]any)["secretName"] == "report-tls" {
					mounted = true
				}
			}
			for _, a := range pod["containers"].([]any)[0].(map[string]any)["args"].([]any) {
				haveArg = haveArg || a == "--report-bind-address=:9444"
			}
		case "ClusterRole":
			for _, rule := range obj["rules"].([]any) {
				// Only the manager (the report API) writes status.agent.
				res, _ := rule.(map[string]any)["resources"].([]any)
				if r.GetName() != "fleetlaps-manager-role" && slices.Contains(res, any("manageddevices/status")) && !slices.Equal(rule.(map[string]any)["verbs"].([]any), []any{"get"}) {
					t.Errorf("ClusterRole %s may write ManagedDevice status", r.GetName())
				}
				if res, ok := rule.(map[string]any)["resources"]; ok && slices.Contains(res.([]any), any("secrets")) {
					t.Errorf("ClusterRole %s grants Secrets", r.GetName())
				}
			}
		case "Role":
			if r.GetName() == "fleetlaps-report-token-reader" {
				rule := obj["rules"].([]any)[0].(map[string]any)
				if r.GetNamespace() != "fleetlaps-system" || len(obj["rules"].([]any)) != 1 || !slices.Equal(rule["verbs"].([]any), []any{"get", "list", "watch"}) {
					t.Errorf("report-token-reader grants %v in %s", obj["rules"], r.GetNamespace())
				}
			}
		}
	}
	if !haveService || !haveCert || !havePolicy || !mounted || !haveArg {
		t.Errorf("report API wiring: service %v, certificate %v, network policy %v, certificate mounted %v, listen flag %v", haveService, haveCert, havePolicy, mounted, haveArg)
	}
}
