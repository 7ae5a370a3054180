package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/compliance"
	"github.com/fleetlaps/fleetlaps/internal/conditions"
)

type statusOptions struct {
	*globals
	selector      string
	allNamespaces bool
	output        string
}

func newStatusCommand(g *globals) *cobra.Command {
	o := &statusOptions{globals: g}
	cmd := &cobra.Command{
		Use:   "status [DEVICE...] [-l SELECTOR] [-A]",
		Short: "Show the fleet per policy, or devices in detail",
		Long: `Without arguments, status shows the fleet at a glance: one row per LapsPolicy with the devices
it matches, how many are compliant, expired or selected by a policy that loses to another
(conflicting), how many have a rotation in progress and how many agents stopped reporting.

With device names or -l SELECTOR it shows those ManagedDevices: the managed account, the password
expiry, the last rotation and the evidence for it, the effective policy and its root, and the
condition that holds the device back with its reason (and the Windows LAPS event id behind it).`,
		Example: `  kubectl laps status -A
  kubectl laps status -n fleet -l site=berlin
  kubectl laps status -n fleet pc-0042 -o yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(o.output); err != nil {
				return err
			}
			c, ns, err := o.client()
			if err != nil {
				return err
			}
			if o.allNamespaces {
				ns = ""
			}
			if len(args) > 0 || o.selector != "" {
				return o.devices(cmd.Context(), c, ns, args)
			}
			return o.fleet(cmd.Context(), c, ns)
		},
	}
	cmd.Flags().StringVarP(&o.selector, "selector", "l", "", "label selector of ManagedDevices to show in detail")
	cmd.Flags().BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "all namespaces")
	addOutputFlag(cmd, &o.output)
	return cmd
}

// PolicySummary is one row of the fleet view.
type PolicySummary struct {
	Namespace string            `json:"namespace"`
	Name      string            `json:"name"`
	Root      lapsv1.PolicyRoot `json:"policyRoot"`
	Priority  int32             `json:"priority"`
	// Matched, Compliant, Expired and Conflicting are the policy's status counts.
	Matched     int32 `json:"matchedDevices"`
	Compliant   int32 `json:"compliantDevices"`
	Expired     int32 `json:"expiredDevices"`
	Conflicting int32 `json:"conflictingDevices"`
	// Rotating and AgentsStale count the devices on which this policy is effective with a
	// rotation in progress, or whose agent report is overdue.
	Rotating    int32  `json:"rotatingDevices"`
	AgentsStale int32  `json:"agentsStale"`
	Ready       string `json:"ready"`
}

// FleetStatus is the fleet view.
type FleetStatus struct {
	Policies []PolicySummary `json:"policies"`
	// DevicesWithoutPolicy is the number of devices no policy is effective on.
	DevicesWithoutPolicy int `json:"devicesWithoutPolicy"`
}

func (o *statusOptions) fleet(ctx context.Context, c client.Client, ns string) error {
	var policies lapsv1.LapsPolicyList
	if err := c.List(ctx, &policies, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("listing LapsPolicies: %w", err)
	}
	var devices lapsv1.ManagedDeviceList
	if err := c.List(ctx, &devices, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("listing ManagedDevices: %w", err)
	}
	type key struct{ ns, name string }
	rotating, stale := map[key]int32{}, map[key]int32{}
	fs := FleetStatus{Policies: []PolicySummary{}}
	for i := range devices.Items {
		d := &devices.Items[i]
		ep := d.Status.EffectivePolicy
		if ep == nil || ep.Name == "" {
			fs.DevicesWithoutPolicy++
			continue
		}
		k := key{d.Namespace, ep.Name}
		if conditions.IsTrue(d.Status.Conditions, lapsv1.ConditionRotating) {
			rotating[k]++
		}
		if c := conditions.Get(d.Status.Conditions, lapsv1.ConditionAgentReporting); c != nil && c.Status == metav1.ConditionFalse {
			stale[k]++
		}
	}
	for i := range policies.Items {
		p := &policies.Items[i]
		k := key{p.Namespace, p.Name}
		fs.Policies = append(fs.Policies, PolicySummary{
			Namespace: p.Namespace, Name: p.Name, Root: rootOf(p), Priority: p.Spec.Priority,
			Matched: p.Status.MatchedDevices, Compliant: p.Status.CompliantDevices,
			Expired: p.Status.ExpiredDevices, Conflicting: p.Status.ConflictingDevices,
			Rotating: rotating[k], AgentsStale: stale[k],
			Ready: conditionStatus(p.Status.Conditions, lapsv1.ConditionReady),
		})
	}
	if o.output != outputTable {
		return printStructured(o.streams.Out, o.output, fs)
	}
	return o.printFleet(o.streams.Out, fs, ns == "")
}

func (o *statusOptions) printFleet(w io.Writer, fs FleetStatus, withNamespace bool) error {
	if len(fs.Policies) == 0 && fs.DevicesWithoutPolicy == 0 {
		_, err := fmt.Fprintln(o.streams.ErrOut, "No LapsPolicies or ManagedDevices found.")
		return err
	}
	header := []string{"POLICY", "ROOT", "PRIORITY", "MATCHED", "COMPLIANT", "EXPIRED", "CONFLICTING", "ROTATING", "AGENTS STALE", "READY"}
	if withNamespace {
		header = append([]string{"NAMESPACE"}, header...)
	}
	t := newTable(w, header...)
	for _, p := range fs.Policies {
		row := []string{p.Name, string(p.Root), itoa(p.Priority), itoa(p.Matched), itoa(p.Compliant), itoa(p.Expired),
			itoa(p.Conflicting), itoa(p.Rotating), itoa(p.AgentsStale), p.Ready}
		if withNamespace {
			row = append([]string{p.Namespace}, row...)
		}
		t.add(row...)
	}
	if err := t.flush(); err != nil {
		return err
	}
	if fs.DevicesWithoutPolicy > 0 {
		_, err := fmt.Fprintf(w, "\n%d device(s) have no effective policy: kubectl laps explain DEVICE says why.\n", fs.DevicesWithoutPolicy)
		return err
	}
	return nil
}

// DeviceStatus is the detailed view of one device.
type DeviceStatus struct {
	Namespace       string       `json:"namespace"`
	Name            string       `json:"name"`
	Account         string       `json:"account,omitempty"`
	Expires         *metav1.Time `json:"passwordExpirationTime,omitempty"`
	LastRotation    *metav1.Time `json:"lastRotation,omitempty"`
	Evidence        Evidence     `json:"evidence"`
	Policy          string       `json:"effectivePolicy,omitempty"`
	Root            string       `json:"policyRoot,omitempty"`
	Ready           string       `json:"ready"`
	Problem         *Problem     `json:"problem,omitempty"`
	ConflictsWith   []string     `json:"conflictingPolicies,omitempty"`
	AgentLastReport *metav1.Time `json:"agentLastReport,omitempty"`
}

// Evidence says how the last rotation is known: the source of the update time (the controller
// never reads a password), the directory's password version and the RotationRequest behind it.
type Evidence struct {
	UpdateTimeSource string `json:"updateTimeSource,omitempty"`
	PasswordVersion  string `json:"passwordVersion,omitempty"`
	RotationRequest  string `json:"rotationRequest,omitempty"`
	// RequestState is the device's result in that RotationRequest; PreviousPasswordVersion the
	// version the request saw before, which changed.
	RequestState            string       `json:"requestState,omitempty"`
	PreviousPasswordVersion string       `json:"previousPasswordVersion,omitempty"`
	RotatedAt               *metav1.Time `json:"rotatedAt,omitempty"`
}

// Problem is the condition that holds the device back.
type Problem struct {
	Condition string `json:"condition"`
	Status    string `json:"status"`
	Reason    string `json:"reason"`
	Message   string `json:"message,omitempty"`
	// WindowsEventID is the Windows LAPS event the agent reported behind a failing rotation.
	WindowsEventID int32 `json:"windowsEventID,omitempty"`
}

func (o *statusOptions) devices(ctx context.Context, c client.Client, ns string, names []string) error {
	var devices []lapsv1.ManagedDevice
	if len(names) > 0 {
		if ns == "" {
			return fmt.Errorf("device names need a namespace: use -n NAMESPACE instead of -A")
		}
		for _, n := range names {
			var d lapsv1.ManagedDevice
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: n}, &d); err != nil {
				if apierrors.IsNotFound(err) {
					return fmt.Errorf("ManagedDevice %q not found in namespace %q", n, ns)
				}
				return err
			}
			devices = append(devices, d)
		}
	}
	if o.selector != "" {
		sel, err := labels.Parse(o.selector)
		if err != nil {
			return fmt.Errorf("--selector %q: %w", o.selector, err)
		}
		var list lapsv1.ManagedDeviceList
		if err := c.List(ctx, &list, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: sel}); err != nil {
			return fmt.Errorf("listing ManagedDevices: %w", err)
		}
		for _, d := range list.Items {
			if len(names) == 0 || slices.Contains(names, d.Name) {
				if !slices.ContainsFunc(devices, func(x lapsv1.ManagedDevice) bool { return x.Namespace == d.Namespace && x.Name == d.Name }) {
					devices = append(devices, d)
				}
			}
		}
		if len(names) > 0 { // names and a selector: the devices named that also match
			devices = slices.DeleteFunc(devices, func(d lapsv1.ManagedDevice) bool { return !sel.Matches(labels.Set(d.Labels)) })
		}
	}
	out := make([]DeviceStatus, 0, len(devices))
	for i := range devices {
		out = append(out, deviceStatus(ctx, c, &devices[i]))
	}
	if o.output != outputTable {
		if len(names) == 1 && o.selector == "" {
			return printStructured(o.streams.Out, o.output, out[0])
		}
		return printStructured(o.streams.Out, o.output, out)
	}
	if len(out) == 0 {
		_, err := fmt.Fprintln(o.streams.ErrOut, "No ManagedDevices found.")
		return err
	}
	if len(out) == 1 && len(names) == 1 {
		return printDevice(o.streams.Out, out[0])
	}
	t := newTable(o.streams.Out)
	header := []string{"NAME", "ACCOUNT", "EXPIRES", "LAST ROTATION", "EVIDENCE", "POLICY", "ROOT", "READY", "PROBLEM"}
	if ns == "" {
		header = append([]string{"NAMESPACE"}, header...)
	}
	t.rows = [][]string{header}
	for _, d := range out {
		row := []string{d.Name, orNone(d.Account), timestamp(d.Expires), timestamp(d.LastRotation), d.Evidence.short(),
			orNone(d.Policy), orNone(d.Root), d.Ready, d.Problem.short()}
		if ns == "" {
			row = append([]string{d.Namespace}, row...)
		}
		t.add(row...)
	}
	return t.flush()
}

func deviceStatus(ctx context.Context, c client.Client, d *lapsv1.ManagedDevice) DeviceStatus {
	st := &d.Status
	ds := DeviceStatus{
		Namespace: d.Namespace, Name: d.Name, Account: st.Account,
		Expires: st.PasswordExpirationTime, LastRotation: st.PasswordUpdateTime,
		Ready:         conditionStatus(st.Conditions, lapsv1.ConditionReady),
		ConflictsWith: st.ConflictingPolicies,
		Evidence: Evidence{
			UpdateTimeSource: st.PasswordUpdateTimeSource,
			PasswordVersion:  st.CurrentPasswordVersion,
			RotationRequest:  st.LastRotationRequest,
		},
		Problem: problemOf(d),
	}
	if ep := st.EffectivePolicy; ep != nil {
		ds.Policy, ds.Root = ep.Name, string(ep.PolicyRoot)
	}
	if st.Agent != nil {
		ds.AgentLastReport = st.Agent.LastReportTime
	}
	if st.LastRotationRequest != "" {
		var rr lapsv1.RotationRequest
		// The request may have been deleted (TTL); the device's status still names it.
		if err := c.Get(ctx, client.ObjectKey{Namespace: d.Namespace, Name: st.LastRotationRequest}, &rr); err == nil {
			for _, r := range rr.Status.Results {
				if r.Device == d.Name {
					ds.Evidence.RequestState = string(r.State)
					ds.Evidence.PreviousPasswordVersion = r.PreviousPasswordVersion
					ds.Evidence.RotatedAt = r.RotatedAt
				}
			}
		}
	}
	return ds
}

// problemOrder is the order in which conditions explain a device that is not Ready: what stops
// reconciling first, then the password, then what the agent reports.
var problemOrder = []struct {
	condition string
	bad       metav1.ConditionStatus
}{
	{lapsv1.ConditionStalled, metav1.ConditionTrue},
	{lapsv1.ConditionPasswordCurrent, metav1.ConditionFalse},
	{lapsv1.ConditionRollbackDetected, metav1.ConditionTrue},
	{lapsv1.ConditionPolicyApplied, metav1.ConditionFalse},
	{lapsv1.ConditionPolicyCompatible, metav1.ConditionFalse},
	{lapsv1.ConditionAgentReporting, metav1.ConditionFalse},
	{lapsv1.ConditionPasswordCurrent, metav1.ConditionUnknown},
	{lapsv1.ConditionReady, metav1.ConditionFalse},
}

// problemOf returns the first failing condition of the device, nil when none fails.
func problemOf(d *lapsv1.ManagedDevice) *Problem {
	for _, p := range problemOrder {
		c := conditions.Get(d.Status.Conditions, p.condition)
		if c == nil || c.Status != p.bad {
			continue
		}
		pr := &Problem{Condition: c.Type, Status: string(c.Status), Reason: c.Reason, Message: c.Message}
		if c.Type == lapsv1.ConditionPasswordCurrent && c.Reason == compliance.ReasonRotationFailing {
			// The event the condition names: the newest rotation failure since the expiry.
			var since time.Time
			if exp := d.Status.PasswordExpirationTime; exp != nil {
				since = exp.Time
			}
			if e := compliance.FailureSince(d.Status.Agent, since); e != nil {
				pr.WindowsEventID = e.ID
			}
		}
		return pr
	}
	return nil
}

func (e Evidence) short() string {
	var parts []string
	if e.UpdateTimeSource != "" {
		parts = append(parts, e.UpdateTimeSource)
	}
	if e.RotationRequest != "" {
		s := "rotationrequest/" + e.RotationRequest
		if e.RequestState != "" {
			s += " " + e.RequestState
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "<none>"
	}
	return strings.Join(parts, ", ")
}

func (p *Problem) short() string {
	if p == nil {
		return "<none>"
	}
	s := p.Condition + "=" + p.Status + " " + p.Reason
	if p.WindowsEventID != 0 {
		s += " (event " + itoa(p.WindowsEventID) + ")"
	}
	return s
}

// printDevice is the table form for one named device: one field a line, like kubectl describe.
func printDevice(w io.Writer, d DeviceStatus) error {
	t := newTable(w, "Device:", d.Namespace+"/"+d.Name)
	t.add("Account:", orNone(d.Account))
	t.add("Password expires:", timestamp(d.Expires))
	t.add("Last rotation:", timestamp(d.LastRotation))
	t.add("  update time from:", orNone(d.Evidence.UpdateTimeSource))
	t.add("  password version:", orNone(d.Evidence.PasswordVersion))
	if d.Evidence.RotationRequest != "" {
		rr := "rotationrequest/" + d.Evidence.RotationRequest
		if d.Evidence.RequestState != "" {
			rr += " (" + d.Evidence.RequestState
			if d.Evidence.PreviousPasswordVersion != "" {
				rr += ", version before: " + d.Evidence.PreviousPasswordVersion
			}
			if d.Evidence.RotatedAt != nil {
				rr += ", rotated at " + timestamp(d.Evidence.RotatedAt)
			}
			rr += ")"
		}
		t.add("  rotation request:", rr)
	}
	policy := "<none>"
	if d.Policy != "" {
		policy = d.Policy + " (root " + d.Root + ")"
	}
	t.add("Effective policy:", policy)
	if len(d.ConflictsWith) > 0 {
		t.add("  also selected by:", strings.Join(d.ConflictsWith, ", "))
	}
	t.add("Agent last report:", timestamp(d.AgentLastReport))
	t.add("Ready:", d.Ready)
	if p := d.Problem; p != nil {
		t.add("Problem:", p.short())
		if p.Message != "" {
			t.add("  message:", p.Message)
		}
	}
	return t.flush()
}

func conditionStatus(conds []metav1.Condition, t string) string {
	if c := conditions.Get(conds, t); c != nil {
		return string(c.Status)
	}
	return "Unknown"
}

func rootOf(p *lapsv1.LapsPolicy) lapsv1.PolicyRoot { return p.Spec.EffectivePolicyRoot() }

func itoa(n int32) string { return strconv.FormatInt(int64(n), 10) }
