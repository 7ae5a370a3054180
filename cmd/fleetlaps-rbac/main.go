// Command fleetlaps-rbac prints the RoleBindings that let the manager write rendered-policy
// ConfigMaps and events in the namespaces its directory connections admit, from the same
// --directories file the manager reads:
//
//	fleetlaps-rbac role-bindings --directories directories.yaml | kubectl apply -f -
//	fleetlaps-rbac role-bindings --namespace team-c            # a namespace admitted by a selector
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/fleetlaps/fleetlaps/internal/directoryconfig"
	"github.com/fleetlaps/fleetlaps/internal/tenantrbac"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "fleetlaps-rbac:", err)
		os.Exit(1)
	}
}

type namespaceList []string

func (n *namespaceList) String() string     { return fmt.Sprint(*n) }
func (n *namespaceList) Set(v string) error { *n = append(*n, v); return nil }

func run(args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "role-bindings" {
		return fmt.Errorf("usage: fleetlaps-rbac role-bindings [--directories FILE] [--namespace NS]... [--cluster-role %s] [--service-account %s]",
			tenantrbac.DefaultClusterRole, tenantrbac.DefaultServiceAccount)
	}
	fs := flag.NewFlagSet("role-bindings", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dirs := fs.String("directories", "", "the manager's --directories file; every namespace it admits by name gets a RoleBinding")
	var extra namespaceList
	fs.Var(&extra, "namespace", "a further namespace (one admitted by a namespaceSelector); repeatable")
	var o tenantrbac.Options
	fs.StringVar(&o.ClusterRole, "cluster-role", tenantrbac.DefaultClusterRole, "the tenant ClusterRole to bind")
	fs.StringVar(&o.ServiceAccount, "service-account", tenantrbac.DefaultServiceAccount, "the manager's service account, namespace/name")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *dirs == "" && len(extra) == 0 {
		return fmt.Errorf("role-bindings: give --directories and/or --namespace")
	}
	var bindings []rbacv1.RoleBinding
	if *dirs != "" {
		f, err := directoryconfig.Load(*dirs)
		if err != nil {
			return err
		}
		if bindings, err = tenantrbac.RoleBindings(f, o); err != nil {
			return err
		}
	}
	for _, ns := range extra {
		b, err := tenantrbac.Binding(ns, o)
		if err != nil {
			return err
		}
		bindings = append(bindings, b)
	}
	data, err := tenantrbac.YAML(bindings)
	if err != nil {
		return err
	}
	_, err = out.Write(data)
	return err
}
