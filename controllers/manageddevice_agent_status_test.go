package controllers

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/conditions"
	"github.com/fleetlaps/fleetlaps/internal/render"
)

func TestSetAgentReportingCondition(t *testing.T) {
	const heartbeat = 10 * time.Minute
	reported := func(ago time.Duration) *lapsv1.AgentStatus {
		return &lapsv1.AgentStatus{LastReportTime: &metav1.Time{Time: t0.Add(-ago)}}
	}
	cases := map[string]struct {
		agent      *lapsv1.AgentStatus
		staleAfter time.Duration
		want       metav1.ConditionStatus
		reason     string
		next       time.Time
	}{
		"should be Unknown before the first report":                     {want: metav1.ConditionUnknown, reason: ReasonNoAgentReport},
		"should be True inside three heartbeats by default":             {agent: reported(29 * time.Minute), want: metav1.ConditionTrue, reason: ReasonReporting, next: t0.Add(time.Minute)},
		"should be False after three heartbeats by default":             {agent: reported(30 * time.Minute), want: metav1.ConditionFalse, reason: ReasonReportOverdue},
		"should follow a configured stale-after time (still reporting)": {agent: reported(50 * time.Minute), staleAfter: time.Hour, want: metav1.ConditionTrue, reason: ReasonReporting, next: t0.Add(10 * time.Minute)},
		"should follow a configured stale-after time (stale agent)":     {agent: reported(61 * time.Minute), staleAfter: time.Hour, want: metav1.ConditionFalse, reason: ReasonReportOverdue},
		"should be Unknown for a status.agent without a report time":    {agent: &lapsv1.AgentStatus{OSBuild: "10.0.1.1"}, want: metav1.ConditionUnknown, reason: ReasonNoAgentReport},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d := newDevice("pc1", 1, nil)
			d.Status.Agent = tc.agent
			s := &deviceScope{device: d, now: t0, agentStaleAfter: tc.staleAfter}
			setAgentReportingCondition(s, heartbeat)
			c := conditions.Get(d.Status.Conditions, lapsv1.ConditionAgentReporting)
			if c.Status != tc.want || c.Reason != tc.reason || c.Message == "" {
				t.Fatalf("AgentReporting = %s/%s %q", c.Status, c.Reason, c.Message)
			}
			if !tc.next.IsZero() && (len(s.next) != 1 || !s.next[0].Equal(tc.next)) {
				t.Errorf("next wake-up %v, want %s", s.next, tc.next)
			}
		})
	}
}

// A heartbeat moves status.agent.lastReportTime; the condition it derives stays the same, so
// the controller has nothing to write after the report API's heartbeat write.
func TestSetAgentReportingCondition_heartbeatChangesNothing(t *testing.T) {
	d := newDevice("pc1", 1, nil)
	d.Status.Agent = &lapsv1.AgentStatus{LastReportTime: &metav1.Time{Time: t0.Add(-time.Hour)}}
	setAgentReportingCondition(&deviceScope{device: d, now: t0}, 6*time.Hour)
	before := d.Status.DeepCopy()
	d.Status.Agent.LastReportTime = &metav1.Time{Time: t0.Add(5 * time.Hour)}
	setAgentReportingCondition(&deviceScope{device: d, now: t0.Add(5*time.Hour + time.Minute)}, 6*time.Hour)
	if !equality.Semantic.DeepEqual(before.Conditions, d.Status.Conditions) {
		t.Fatalf("AgentReporting changed with a heartbeat: %+v -> %+v", before.Conditions, d.Status.Conditions)
	}
}

func TestSetPolicyApplied_agentHash(t *testing.T) {
	p := newPolicy("p", lapsv1.PolicyRootGroupPolicy, 0, nil)
	st := effectiveSettings(&p.Spec)
	rendered := render.AppliedHash(render.RegistryValues(st))
	cases := map[string]struct {
		agent  *lapsv1.AgentStatus
		want   metav1.ConditionStatus
		reason string
		msg    string
	}{
		"should be True without an agent report": {want: metav1.ConditionTrue, reason: ReasonApplied},
		"should be True when the applied hash is the rendered one": {agent: &lapsv1.AgentStatus{ActivePolicyRoot: lapsv1.PolicyRootGroupPolicy, AppliedPolicyHash: rendered},
			want: metav1.ConditionTrue, reason: ReasonApplied},
		"should be True when the agent delivers it as local configuration": {agent: &lapsv1.AgentStatus{ActivePolicyRoot: lapsv1.PolicyRootLocalConfiguration, AppliedPolicyHash: rendered},
			want: metav1.ConditionTrue, reason: ReasonApplied},
		"should be False while the device applies other values": {agent: &lapsv1.AgentStatus{ActivePolicyRoot: lapsv1.PolicyRootGroupPolicy, AppliedPolicyHash: "00000000000000ff"},
			want: metav1.ConditionFalse, reason: ReasonNotYetApplied, msg: "the device applied settings with hash 00000000000000ff, LapsPolicy p renders to " + rendered},
		"should be False when a higher root wins on the device": {agent: &lapsv1.AgentStatus{ActivePolicyRoot: lapsv1.PolicyRootCSP, AppliedPolicyHash: rendered},
			want: metav1.ConditionFalse, reason: ReasonOtherRootActive, msg: "the device applies policy root CSP, LapsPolicy p is delivered through GroupPolicy"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d := newDevice("pc1", 1, nil)
			d.Status.Agent = tc.agent
			settings := st
			s := &deviceScope{device: d, now: t0, sel: selection{Winner: p}, settings: &settings}
			setPolicyApplied(s)
			c := conditions.Get(d.Status.Conditions, lapsv1.ConditionPolicyApplied)
			if c.Status != tc.want || c.Reason != tc.reason || !strings.Contains(c.Message, tc.msg) {
				t.Fatalf("PolicyApplied = %s/%s %q", c.Status, c.Reason, c.Message)
			}
			if d.Status.EffectivePolicy == nil || d.Status.EffectivePolicy.Name != "p" {
				t.Errorf("effectivePolicy %+v", d.Status.EffectivePolicy)
			}
		})
	}
}
