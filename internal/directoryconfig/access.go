package directoryconfig

import (
	"errors"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ErrNamespaceNotAllowed: the connection does not admit the object's namespace. Stalled, reason
// DirectoryNotAllowed; no directory call is made for the object.
var ErrNamespaceNotAllowed = errors.New("DirectoryNotAllowed")

// The namespace gate: a directory connection is shared by every namespace that may reference it
// in spec.directoryRef, so the cluster admin who owns the connection (and its credentials) says
// which namespaces those are. A connection that lists none is closed: forgetting the list must
// not open another tenant's directory to every namespace. The discovery namespace is always
// admitted, since the admin named it in the same entry.

func validateAccess(p *field.Path, c Connection) field.ErrorList {
	var errs field.ErrorList
	for i, ns := range c.Namespaces {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p.Child("namespaces").Index(i), ns, "must be a namespace name (a DNS label)"))
		}
	}
	if c.NamespaceSelector != nil {
		if _, err := metav1.LabelSelectorAsSelector(c.NamespaceSelector); err != nil {
			errs = append(errs, field.Invalid(p.Child("namespaceSelector"), c.NamespaceSelector.String(), err.Error()))
		}
	}
	return errs
}

// NeedsNamespaceLabels says whether Allows must be given the namespace's labels (a non-empty
// selector is set). Other callers skip reading the Namespace.
func (c *Connection) NeedsNamespaceLabels() bool {
	sel := c.NamespaceSelector
	return sel != nil && (len(sel.MatchLabels) > 0 || len(sel.MatchExpressions) > 0)
}

// Allows decides whether objects in namespace may use the connection; nsLabels are the
// Namespace's labels (only read when a selector is set). The error wraps
// ErrNamespaceNotAllowed and names the connection and the namespace.
func (c *Connection) Allows(namespace string, nsLabels map[string]string) error {
	if slices.Contains(c.Namespaces, namespace) {
		return nil
	}
	if d := c.Discovery; d != nil && d.Enabled && d.Namespace == namespace {
		return nil
	}
	if c.NamespaceSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(c.NamespaceSelector)
		if err != nil {
			return fmt.Errorf("%w: directory %q may not be used from namespace %q: its namespaceSelector is invalid: %v", ErrNamespaceNotAllowed, c.Name, namespace, err)
		}
		if sel.Matches(labels.Set(nsLabels)) {
			return nil
		}
	}
	return fmt.Errorf("%w: directory %q may not be used from namespace %q (%s)", ErrNamespaceNotAllowed, c.Name, namespace, c.accessSummary())
}

// AllowedNamespaces lists the namespaces named explicitly (namespaces and the discovery
// namespace), sorted: where the per-namespace RoleBindings go. A selector admits more at run time.
func (c *Connection) AllowedNamespaces() []string {
	out := slices.Clone(c.Namespaces)
	if d := c.Discovery; d != nil && d.Enabled && d.Namespace != "" {
		out = append(out, d.Namespace)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (c *Connection) accessSummary() string {
	ns := c.AllowedNamespaces()
	switch {
	case len(ns) == 0 && c.NamespaceSelector == nil:
		return "the connection lists no namespaces"
	case c.NamespaceSelector == nil:
		return fmt.Sprintf("allowed: %v", ns)
	case len(ns) == 0:
		return "the namespace's labels do not match the connection's namespaceSelector"
	default:
		return fmt.Sprintf("allowed: %v and namespaces matching the connection's namespaceSelector", ns)
	}
}

// AllowedNamespaces is the union of every connection's explicitly allowed namespaces, sorted.
func (f *File) AllowedNamespaces() []string {
	var out []string
	for i := range f.Directories {
		out = append(out, f.Directories[i].AllowedNamespaces()...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
