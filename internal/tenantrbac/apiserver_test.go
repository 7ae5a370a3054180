package tenantrbac

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/fleetlaps/fleetlaps/internal/directoryconfig"
	"github.com/fleetlaps/fleetlaps/internal/testenv"
)

var (
	admin   client.Client
	restCfg *rest.Config
)

func TestMain(m *testing.M) {
	cfg, stop, err := testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	restCfg = cfg
	if admin, err = client.New(cfg, client.Options{Scheme: scheme.Scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = stop()
	os.Exit(code)
}

// On a real apiserver (RBAC authorizer): the bindings printed from the directories file let the
// manager's service account write ConfigMaps and events in the namespaces the connections name,
// and nothing in any other namespace.
func TestRoleBindings_grantWritesOnlyInAdmittedNamespaces(t *testing.T) {
	ctx := context.Background()
	for _, ns := range []string{"fleetlaps-system", "team-a", "fleet", "team-z"} {
		if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "rbac", "tenant_role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(data, &role); err != nil {
		t.Fatal(err)
	}
	role.Name = DefaultClusterRole // config/default's namePrefix
	if err := admin.Create(ctx, &role); err != nil {
		t.Fatal(err)
	}
	f, err := directoryconfig.Parse([]byte("directories:\n- {name: corp, type: activeDirectory, namespaces: [team-a], discovery: {enabled: true, namespace: fleet}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	bindings, err := RoleBindings(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range bindings {
		if err := admin.Create(ctx, &bindings[i]); err != nil {
			t.Fatal(err)
		}
	}
	cfg := rest.CopyConfig(restCfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:fleetlaps-system:fleetlaps-controller-manager"}
	manager, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	cm := func(ns string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "base-rendered", Namespace: ns}, Data: map[string]string{"a": "b"}}
	}
	for _, ns := range []string{"team-a", "fleet"} {
		c := cm(ns)
		if err := manager.Create(ctx, c); err != nil {
			t.Fatalf("ConfigMap in admitted namespace %s: %v", ns, err)
		}
		c.Data["a"] = "c"
		if err := manager.Update(ctx, c); err != nil {
			t.Fatalf("updating it: %v", err)
		}
		ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{GenerateName: "e-", Namespace: ns}, InvolvedObject: corev1.ObjectReference{Kind: "ConfigMap", Name: c.Name, Namespace: ns}, Reason: "Test", Message: "m"}
		if err := manager.Create(ctx, ev); err != nil {
			t.Fatalf("event in %s: %v", ns, err)
		}
	}
	if err := manager.Create(ctx, cm("team-z")); !apierrors.IsForbidden(err) {
		t.Fatalf("ConfigMap in a namespace no connection admits: %v, want Forbidden", err)
	}
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "team-a"}}
	if err := manager.Create(ctx, lease); !apierrors.IsForbidden(err) {
		t.Fatalf("Lease in a tenant namespace: %v, want Forbidden", err)
	}
	var secrets corev1.SecretList
	if err := manager.List(ctx, &secrets, client.InNamespace("team-a")); !apierrors.IsForbidden(err) {
		t.Fatalf("listing Secrets: %v, want Forbidden", err)
	}
}
