package config_test

import (
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// writeVerbs change stored state.
var writeVerbs = []string{"create", "update", "patch", "delete", "deletecollection", "*"}

// reviewResources are created to ask the apiserver a question and store nothing (the metrics
// endpoint's authentication and authorization checks).
var reviewResources = []string{"tokenreviews", "subjectaccessreviews"}

const ownGroup = "laps.fleetlaps.io"

func TestDefault_RBACIsScopedToTheProjectAndTenantNamespaces(t *testing.T) {
	m := build(t, "default")
	clusterRoles := map[string][]rbacv1.PolicyRule{}
	roles := map[string][]rbacv1.PolicyRule{}
	var crbs []rbacv1.ClusterRoleBinding
	var rbs []rbacv1.RoleBinding
	for _, r := range m.Resources() {
		obj, err := r.Map()
		if err != nil {
			t.Fatal(err)
		}
		switch r.GetKind() {
		case "ClusterRole":
			var cr rbacv1.ClusterRole
			mustConvert(t, obj, &cr)
			clusterRoles[cr.Name] = cr.Rules
		case "Role":
			var ro rbacv1.Role
			mustConvert(t, obj, &ro)
			roles[ro.Namespace+"/"+ro.Name] = ro.Rules
		case "ClusterRoleBinding":
			var b rbacv1.ClusterRoleBinding
			mustConvert(t, obj, &b)
			crbs = append(crbs, b)
		case "RoleBinding":
			var b rbacv1.RoleBinding
			mustConvert(t, obj, &b)
			rbs = append(rbs, b)
		}
	}
	all := map[string][]rbacv1.PolicyRule{}
	for n, r := range clusterRoles {
		all["ClusterRole/"+n] = r
	}
	for n, r := range roles {
		all["Role/"+n] = r
	}
	for name, rules := range all {
		for _, rule := range rules {
			for _, list := range [][]string{rule.APIGroups, rule.Resources, rule.Verbs, rule.ResourceNames} {
				if slices.Contains(list, "*") {
					t.Errorf("%s has a wildcard: %+v", name, rule)
				}
			}
			// The one exception: the report API's agent-token hashes, through Roles in the
			// manager's own namespace (config/rbac/report_token_roles.yaml).
			if slices.Contains(rule.Resources, "secrets") && !strings.HasPrefix(name, "Role/fleetlaps-system/fleetlaps-report-token-") {
				t.Errorf("%s grants access to Secrets: %+v", name, rule)
			}
		}
	}
	for _, b := range crbs {
		if b.RoleRef.Kind != "ClusterRole" {
			continue
		}
		for _, rule := range clusterRoles[b.RoleRef.Name] {
			if !writes(rule) || (len(rule.APIGroups) == 1 && rule.APIGroups[0] == ownGroup) {
				continue
			}
			if onlyReviews(rule) {
				continue
			}
			t.Errorf("ClusterRoleBinding %s grants write outside %s through %s: %+v", b.Name, ownGroup, b.RoleRef.Name, rule)
		}
	}
	// Leases only through a Role in the manager's namespace.
	leases := false
	for name, rules := range roles {
		for _, rule := range rules {
			if slices.Contains(rule.Resources, "leases") {
				leases = true
				if name[:len("fleetlaps-system/")] != "fleetlaps-system/" {
					t.Errorf("Lease access in %s", name)
				}
			}
		}
	}
	if !leases {
		t.Error("no Role grants the manager's Leases")
	}
	bound := func(role string) bool {
		for _, b := range rbs {
			if b.RoleRef.Name == role && b.Namespace == "fleetlaps-system" {
				return true
			}
		}
		return false
	}
	if !bound("fleetlaps-leader-election-role") {
		t.Error("the leader-election Role is not bound in fleetlaps-system")
	}
	// ConfigMap and event writes: the tenant ClusterRole, which nothing binds cluster-wide.
	tenant, ok := clusterRoles["fleetlaps-tenant-role"]
	if !ok {
		t.Fatal("no fleetlaps-tenant-role")
	}
	for _, want := range [][2]string{{"configmaps", "create"}, {"configmaps", "update"}, {"configmaps", "delete"}, {"events", "create"}} {
		if !grants(tenant, want[0], want[1]) {
			t.Errorf("tenant-role does not grant %s %s", want[1], want[0])
		}
	}
	for _, b := range crbs {
		if b.RoleRef.Name == "fleetlaps-tenant-role" {
			t.Errorf("ClusterRoleBinding %s binds the tenant role cluster-wide", b.Name)
		}
	}
}

func writes(rule rbacv1.PolicyRule) bool {
	for _, v := range rule.Verbs {
		if slices.Contains(writeVerbs, v) {
			return true
		}
	}
	return false
}

func onlyReviews(rule rbacv1.PolicyRule) bool {
	for _, r := range rule.Resources {
		if !slices.Contains(reviewResources, r) {
			return false
		}
	}
	return len(rule.Resources) > 0
}

func grants(rules []rbacv1.PolicyRule, resource, verb string) bool {
	for _, r := range rules {
		if slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb) {
			return true
		}
	}
	return false
}

func mustConvert(t *testing.T, obj map[string]any, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, into); err != nil {
		t.Fatal(err)
	}
}
