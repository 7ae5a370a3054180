package controllers

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/render"
)

// Conditions derived from what the endpoint agent reported (status.agent, written only by the
// report API): AgentReporting, and the device's side of PolicyApplied.

// Reasons of the agent-derived conditions.
const (
	ReasonOtherRootActive = "OtherRootActive"
	ReasonNotYetApplied   = "NotYetApplied"
)

// setAgentReportingCondition: True while the last report is younger than the stale-after time
// (lastReportTime moves at most once per heartbeat interval, so this must exceed it), False
// after, Unknown before the first report. Its message moves only when the status does.
func setAgentReportingCondition(s *deviceScope, heartbeat time.Duration) {
	const t = lapsv1.ConditionAgentReporting
	staleAfter := s.agentStaleAfter
	if staleAfter <= 0 {
		staleAfter = 3 * heartbeat
	}
	a := s.device.Status.Agent
	if a == nil || a.LastReportTime == nil {
		s.set(t, metav1.ConditionUnknown, ReasonNoAgentReport, "no agent report received")
		return
	}
	stale := a.LastReportTime.Add(staleAfter)
	if !s.now.Before(stale) {
		s.set(t, metav1.ConditionFalse, ReasonReportOverdue, fmt.Sprintf("last report at %s; a report older than %s counts as stale (reports are expected every %s)",
			rfc3339(a.LastReportTime.Time), staleAfter, heartbeat))
		return
	}
	s.next = append(s.next, stale)
	// No report time in the message: it would change with every heartbeat and cost a status
	// write each time (status.agent.lastReportTime holds it).
	s.set(t, metav1.ConditionTrue, ReasonReporting, fmt.Sprintf("last report less than %s ago", staleAfter))
}

// setPolicyNotAppliedOnDevice sets PolicyApplied=False and returns true when the agent reports
// that the device applies something other than the effective policy: another policy root won
// on the device, or the values under the root hash differently from what the policy renders
// to (the device has not refreshed its policy yet, or something else writes the key). Without
// an agent report the effective policy alone decides.
func setPolicyNotAppliedOnDevice(s *deviceScope) bool {
	const t = lapsv1.ConditionPolicyApplied
	a, w := s.device.Status.Agent, s.sel.Winner
	if a == nil || a.AppliedPolicyHash == "" || w == nil || s.settings == nil {
		return false
	}
	root := s.settings.PolicyRoot
	if a.ActivePolicyRoot != "" && a.ActivePolicyRoot != root && !deliveredByAgent(root, a.ActivePolicyRoot) {
		s.set(t, metav1.ConditionFalse, ReasonOtherRootActive, fmt.Sprintf(
			"the device applies policy root %s, LapsPolicy %s is delivered through %s: Windows uses the first root that holds settings (CSP, GroupPolicy, LocalConfiguration, LegacyLAPS)",
			a.ActivePolicyRoot, w.Name, root))
		return true
	}
	want := render.AppliedHash(render.RegistryValues(*s.settings))
	if a.AppliedPolicyHash != want {
		s.set(t, metav1.ConditionFalse, ReasonNotYetApplied, fmt.Sprintf(
			"the device applied settings with hash %s, LapsPolicy %s renders to %s: the device takes the policy at its next policy refresh",
			a.AppliedPolicyHash, w.Name, want))
		return true
	}
	return false
}

// deliveredByAgent: the agent writes a policy of any Windows LAPS root into the
// LocalConfiguration root (render's agent format), so that root being active is the policy's.
func deliveredByAgent(policyRoot, active lapsv1.PolicyRoot) bool {
	return active == lapsv1.PolicyRootLocalConfiguration && policyRoot != lapsv1.PolicyRootLegacyLAPS
}
