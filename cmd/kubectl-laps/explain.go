package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/policy"
)

type explainOptions struct {
	*globals
	output string
}

func newExplainCommand(g *globals) *cobra.Command {
	o := &explainOptions{globals: g}
	cmd := &cobra.Command{
		Use:   "explain DEVICE",
		Short: "Explain why a device has its effective policy",
		Long: `Explain lists every LapsPolicy in the device's namespace that selects it, with its root and
priority, the one that wins and why (Windows reads the policy roots in the order CSP, GroupPolicy,
LocalConfiguration, LegacyLAPS, uses the first root that holds settings and never merges settings
across roots; within a root the higher priority and then the smaller name win), the settings that
the winner's root or the device's OS build ignores, and the rendered policy's hash and where it
was published. Policies that do not select the device are listed with the reason.`,
		Example: `  kubectl laps explain -n fleet pc-0042`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(o.output); err != nil {
				return err
			}
			c, ns, err := o.client()
			if err != nil {
				return err
			}
			e, err := explain(cmd.Context(), c, ns, args[0])
			if err != nil {
				return err
			}
			if o.output != outputTable {
				return printStructured(o.streams.Out, o.output, e)
			}
			return printExplanation(o.streams.Out, e)
		},
	}
	addOutputFlag(cmd, &o.output)
	return cmd
}

// Explanation is why a device has its effective policy.
type Explanation struct {
	Namespace string `json:"namespace"`
	Device    string `json:"device"`
	Directory string `json:"directory"`
	// Candidates are the policies that select the device, winner first (precedence order).
	Candidates []Candidate `json:"candidates"`
	// NotSelecting are the namespace's other policies, with why they do not select the device.
	NotSelecting []NotSelecting `json:"notSelecting,omitempty"`
	// Winner is the effective policy by the rules above; StatusPolicy the one the controller
	// last wrote into the device's status (they differ until it reconciles a change).
	Winner       string `json:"winner,omitempty"`
	StatusPolicy string `json:"statusPolicy,omitempty"`
	// AppliedHash is the hash the device's status records for its effective policy.
	// Ignored lists settings of the winner that Windows will not act on: by the winner's root and
	// backup directory, and by the device's reported OS build.
	Ignored      []string                 `json:"ignoredSettings,omitempty"`
	RenderedHash string                   `json:"renderedHash,omitempty"`
	AppliedHash  string                   `json:"appliedHash,omitempty"`
	Published    []lapsv1.PublishedPolicy `json:"published,omitempty"`
}

// Candidate is one policy that selects the device.
type Candidate struct {
	Name     string            `json:"name"`
	Root     lapsv1.PolicyRoot `json:"policyRoot"`
	Priority int32             `json:"priority"`
	Winner   bool              `json:"winner"`
	// Why this policy wins, or loses to the winner.
	Why string `json:"why"`
}

// NotSelecting is a policy of the namespace that does not select the device.
type NotSelecting struct {
	Name string `json:"name"`
	Why  string `json:"why"`
}

func explain(ctx context.Context, c client.Client, ns, name string) (*Explanation, error) {
	if ns == "" {
		return nil, fmt.Errorf("explain needs a namespace: use -n NAMESPACE")
	}
	var d lapsv1.ManagedDevice
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &d); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("ManagedDevice %q not found in namespace %q", name, ns)
		}
		return nil, err
	}
	var list lapsv1.LapsPolicyList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("listing LapsPolicies: %w", err)
	}
	e := &Explanation{Namespace: ns, Device: d.Name, Directory: d.Spec.DirectoryRef.Name, Candidates: []Candidate{}}
	if ep := d.Status.EffectivePolicy; ep != nil {
		e.StatusPolicy = ep.Name
		e.AppliedHash = ep.Hash
	}
	var selecting []lapsv1.LapsPolicy
	for _, p := range list.Items {
		if why := notSelecting(&p, &d); why != "" {
			e.NotSelecting = append(e.NotSelecting, NotSelecting{Name: p.Name, Why: why})
			continue
		}
		selecting = append(selecting, p)
	}
	// The same ordering the controller uses (policy.Less), so the winner here is its winner.
	sel, _ := policy.Select(&d, selecting)
	if sel.Winner == nil {
		return e, nil
	}
	w := sel.Winner
	e.Winner = w.Name
	e.Candidates = append(e.Candidates, Candidate{Name: w.Name, Root: rootOf(w), Priority: w.Spec.Priority, Winner: true, Why: winnerWhy(w, len(selecting))})
	losers := make([]*lapsv1.LapsPolicy, 0, len(selecting)-1)
	for i := range selecting {
		if selecting[i].Name != w.Name {
			losers = append(losers, &selecting[i])
		}
	}
	sortByPrecedence(losers)
	for _, l := range losers {
		e.Candidates = append(e.Candidates, Candidate{Name: l.Name, Root: rootOf(l), Priority: l.Spec.Priority, Why: loserWhy(w, l)})
	}
	for _, ig := range policy.Ignored(&w.Spec) {
		e.Ignored = append(e.Ignored, ig.String())
	}
	if a := d.Status.Agent; a != nil && a.OSBuild != "" {
		if compat := policy.CheckCompatibility(policy.Effective(&w.Spec), a.OSBuild); !compat.Compatible && !compat.Unknown {
			e.Ignored = append(e.Ignored, "OS build "+a.OSBuild+": "+compat.Message)
		}
	}
	e.RenderedHash = w.Status.RenderedHash
	e.Published = w.Status.Published
	return e, nil
}

// notSelecting says why p does not select d ("" when it does).
func notSelecting(p *lapsv1.LapsPolicy, d *lapsv1.ManagedDevice) string {
	switch {
	case p.DeletionTimestamp != nil:
		return "being deleted"
	case p.Spec.DirectoryRef.Name != d.Spec.DirectoryRef.Name:
		return fmt.Sprintf("directory %s, the device's is %s", p.Spec.DirectoryRef.Name, d.Spec.DirectoryRef.Name)
	case p.Spec.DeviceSelector == nil:
		return ""
	}
	sel, err := metav1.LabelSelectorAsSelector(p.Spec.DeviceSelector)
	if err != nil {
		return "invalid deviceSelector: " + err.Error()
	}
	if !sel.Matches(labels.Set(d.Labels)) {
		return fmt.Sprintf("deviceSelector %s does not match the device's labels", sel.String())
	}
	return ""
}

func winnerWhy(w *lapsv1.LapsPolicy, selecting int) string {
	if selecting == 1 {
		return "the only policy that selects the device"
	}
	return fmt.Sprintf("root %s, priority %d: first in precedence", rootOf(w), w.Spec.Priority)
}

// loserWhy says why l loses to the winner w, in the terms of the precedence rule.
func loserWhy(w, l *lapsv1.LapsPolicy) string {
	rw, rl := rootOf(w), rootOf(l)
	switch {
	case rw != rl:
		return fmt.Sprintf("root %s: Windows uses the first root that holds settings (%s before %s) and never merges settings across roots", rl, rw, rl)
	case w.Spec.Priority != l.Spec.Priority:
		return fmt.Sprintf("priority %d is lower than %s's %d", l.Spec.Priority, w.Name, w.Spec.Priority)
	default:
		return fmt.Sprintf("same root and priority as %s; the lexically smaller name wins", w.Name)
	}
}

func sortByPrecedence(ps []*lapsv1.LapsPolicy) {
	slices.SortFunc(ps, func(a, b *lapsv1.LapsPolicy) int {
		switch {
		case policy.Less(a, b):
			return -1
		case policy.Less(b, a):
			return 1
		}
		return 0
	})
}

func printExplanation(w io.Writer, e *Explanation) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Device %s/%s (directory %s)\n", e.Namespace, e.Device, e.Directory)
	if e.Winner == "" {
		b.WriteString("\nNo policy selects this device.\n")
	} else {
		fmt.Fprintf(&b, "\nEffective policy: %s\n", e.Winner)
	}
	if e.StatusPolicy != e.Winner {
		fmt.Fprintf(&b, "The controller's status still names %s: it has not reconciled the change yet.\n", orNone(e.StatusPolicy))
	}
	if len(e.Candidates) > 0 {
		b.WriteString("\nPolicies that select the device, in precedence order:\n")
		if _, err := io.WriteString(w, b.String()); err != nil {
			return err
		}
		b.Reset()
		t := newTable(w, "  POLICY", "ROOT", "PRIORITY", "RESULT", "WHY")
		for _, c := range e.Candidates {
			result := "loses"
			if c.Winner {
				result = "wins"
			}
			t.add("  "+c.Name, string(c.Root), itoa(c.Priority), result, c.Why)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	if len(e.NotSelecting) > 0 {
		b.WriteString("\nPolicies that do not select it:\n")
		for _, n := range e.NotSelecting {
			fmt.Fprintf(&b, "  %s: %s\n", n.Name, n.Why)
		}
	}
	if e.Winner != "" {
		b.WriteString("\nIgnored settings:\n")
		if len(e.Ignored) == 0 {
			b.WriteString("  <none>\n")
		}
		for _, s := range e.Ignored {
			fmt.Fprintf(&b, "  %s\n", s)
		}
		fmt.Fprintf(&b, "\nRendered hash: %s (LapsPolicy status.renderedHash)\n", orNone(e.RenderedHash))
		fmt.Fprintf(&b, "Device's policy hash: %s (ManagedDevice status.effectivePolicy.hash)\n", orNone(e.AppliedHash))
		b.WriteString("Published:\n")
		if len(e.Published) == 0 {
			b.WriteString("  <nowhere yet>\n")
		}
		for _, p := range e.Published {
			fmt.Fprintf(&b, "  %s %s in directory %s (hash %s)\n", p.Kind, p.Ref, p.Directory, orNone(p.Hash))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
