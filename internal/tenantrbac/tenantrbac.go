// Package tenantrbac makes the per-namespace RoleBindings that grant the manager tenant-role
// (writing rendered-policy ConfigMaps and events) in exactly the namespaces the directory
// connections admit by name. The manager has no cluster-wide write outside its own kinds.
package tenantrbac

import (
	"bytes"
	"fmt"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/fleetlaps/fleetlaps/internal/directoryconfig"
)

// Defaults match config/default (namePrefix fleetlaps-, namespace fleetlaps-system).
const (
	DefaultClusterRole    = "fleetlaps-tenant-role"
	DefaultServiceAccount = "fleetlaps-system/fleetlaps-controller-manager"
	// BindingName is the name of the RoleBinding in each namespace.
	BindingName = "fleetlaps-tenant"
)

// Options name the role and the manager's service account ("namespace/name").
type Options struct {
	ClusterRole    string
	ServiceAccount string
}

// RoleBindings returns one RoleBinding per namespace the file admits by name (namespaces lists
// and discovery namespaces), sorted. Namespaces admitted only by a namespaceSelector are not
// known here: each needs the same RoleBinding, which Binding makes.
func RoleBindings(f *directoryconfig.File, o Options) ([]rbacv1.RoleBinding, error) {
	var out []rbacv1.RoleBinding
	for _, ns := range f.AllowedNamespaces() {
		b, err := Binding(ns, o)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// Binding is the RoleBinding of tenant-role in one namespace.
func Binding(namespace string, o Options) (rbacv1.RoleBinding, error) {
	if o.ClusterRole == "" {
		o.ClusterRole = DefaultClusterRole
	}
	if o.ServiceAccount == "" {
		o.ServiceAccount = DefaultServiceAccount
	}
	if msgs := validation.IsDNS1123Label(namespace); len(msgs) > 0 {
		return rbacv1.RoleBinding{}, fmt.Errorf("namespace %q: %s", namespace, strings.Join(msgs, "; "))
	}
	saNS, saName, ok := strings.Cut(o.ServiceAccount, "/")
	if !ok || saNS == "" || saName == "" {
		return rbacv1.RoleBinding{}, fmt.Errorf("service account %q: want namespace/name", o.ServiceAccount)
	}
	return rbacv1.RoleBinding{
		TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: BindingName, Namespace: namespace,
			Labels: map[string]string{"app.kubernetes.io/name": "fleetlaps", "app.kubernetes.io/component": "tenant-rbac"}},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: o.ClusterRole},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: saName, Namespace: saNS}},
	}, nil
}

// YAML renders bindings as one multi-document stream.
func YAML(bindings []rbacv1.RoleBinding) ([]byte, error) {
	var buf bytes.Buffer
	for i := range bindings {
		data, err := yaml.Marshal(&bindings[i])
		if err != nil {
			return nil, err
		}
		buf.WriteString("---\n")
		buf.Write(data)
	}
	return buf.Bytes(), nil
}
