package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/fleetlaps/fleetlaps/internal/directoryconfig"
)

// ReasonDirectoryNotAllowed: the connection does not admit the object's namespace (Stalled).
const ReasonDirectoryNotAllowed = "DirectoryNotAllowed"

// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// directoryFor looks the connection up and applies its namespace gate. A refused namespace and a
// connection without a backend are Stalled errors (directoryconfig.Reason names the reason); a
// failed Namespace read is a plain error (retried).
func directoryFor(ctx context.Context, c client.Reader, dirs *directoryconfig.Set, name, namespace string) (*directoryconfig.Entry, error) {
	e, err := dirs.Lookup(name)
	if err != nil {
		return nil, stalled(directoryconfig.Reason(err), err)
	}
	var nsLabels map[string]string
	if e.Config.NeedsNamespaceLabels() {
		var ns corev1.Namespace
		if err := c.Get(ctx, client.ObjectKey{Name: namespace}, &ns); err != nil {
			return nil, fmt.Errorf("reading Namespace %s for directory %q's namespaceSelector: %w", namespace, name, err)
		}
		nsLabels = ns.Labels
	}
	if err := e.Config.Allows(namespace, nsLabels); err != nil {
		return nil, stalled(ReasonDirectoryNotAllowed, err)
	}
	return e, nil
}

// hasNamespaceSelector says whether any connection's gate depends on namespace labels (only
// then is the Namespace watch worth having).
func hasNamespaceSelector(dirs *directoryconfig.Set) bool {
	for _, e := range dirs.Entries() {
		if e.Config.NeedsNamespaceLabels() {
			return true
		}
	}
	return false
}

// objectsInNamespace maps a Namespace event to every object of one kind in it: the gate is
// decided again when the namespace's labels change.
func objectsInNamespace(c client.Reader, newList func() client.ObjectList, names func(client.ObjectList) []string) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		list := newList()
		if err := c.List(ctx, list, client.InNamespace(o.GetName()), client.UnsafeDisableDeepCopy); err != nil { // names only
			return nil
		}
		var out []reconcile.Request
		for _, n := range names(list) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKey{Namespace: o.GetName(), Name: n}})
		}
		return out
	}
}
