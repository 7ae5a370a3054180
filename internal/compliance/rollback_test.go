package compliance

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/directory"
)

func TestRollbackDetected(t *testing.T) {
	cases := map[string]struct {
		agent      *lapsv1.AgentStatus
		entra      bool
		noSnapshot bool
		dirVersion string
		dirExpiry  time.Time
		dirUpdated time.Time
		want       metav1.ConditionStatus
		reason     string
		keep       bool
	}{
		"should be True when the versions differ":        {agent: &lapsv1.AgentStatus{LocalPasswordVersion: "A"}, dirVersion: "B", want: metav1.ConditionTrue, reason: ReasonVersionMismatch},
		"should be False when they match, ignoring case": {agent: &lapsv1.AgentStatus{LocalPasswordVersion: "abc"}, dirVersion: "ABC", want: metav1.ConditionFalse, reason: ReasonVersionsMatch},
		"should be Unknown without an agent report":      {dirVersion: "B", want: metav1.ConditionUnknown, reason: ReasonNoAgentReport},
		"should be Unknown without a directory version":  {agent: &lapsv1.AgentStatus{LocalPasswordVersion: "A"}, want: metav1.ConditionUnknown, reason: ReasonNoDirectoryVersion},
		"should be False (not applicable) for Entra ID":  {entra: true, want: metav1.ConditionFalse, reason: ReasonNotApplicable},
		"should keep the last judgement before the first snapshot": {agent: &lapsv1.AgentStatus{LocalPasswordVersion: "A"}, noSnapshot: true,
			want: metav1.ConditionUnknown, reason: ReasonWaitingForSnapshot, keep: true},
		"should wait when the device rotated after the snapshot": {agent: &lapsv1.AgentStatus{LocalPasswordVersion: "A", LocalExpirationTime: &metav1.Time{Time: t0.Add(48 * time.Hour)}},
			dirVersion: "B", dirExpiry: t0.Add(time.Hour), want: metav1.ConditionUnknown, reason: ReasonReportOutOfStep, keep: true},
		"should wait when the agent has not reported since the directory changed": {agent: &lapsv1.AgentStatus{LocalPasswordVersion: "A", LastReportTime: &metav1.Time{Time: t0.Add(-2 * time.Hour)}},
			dirVersion: "B", dirUpdated: t0.Add(-time.Hour), want: metav1.ConditionUnknown, reason: ReasonReportOutOfStep, keep: true},
		"should be True for an older local state reported after the directory's write": {agent: &lapsv1.AgentStatus{LocalPasswordVersion: "A",
			LastReportTime: &metav1.Time{Time: t0}, LocalExpirationTime: &metav1.Time{Time: t0.Add(-time.Hour)}},
			dirVersion: "B", dirUpdated: t0.Add(-time.Hour), dirExpiry: t0.Add(23 * time.Hour), want: metav1.ConditionTrue, reason: ReasonVersionMismatch},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			v := RollbackDetected(RollbackInput{
				EntraID: tc.entra, Agent: tc.agent, SnapshotTaken: !tc.noSnapshot,
				Record:             &directory.DeviceRecord{CurrentPasswordVersion: tc.dirVersion, PasswordExpirationTime: tc.dirExpiry},
				PasswordUpdateTime: tc.dirUpdated,
			})
			if v.Status != tc.want || v.Reason != tc.reason || v.Keep != tc.keep {
				t.Fatalf("RollbackDetected = %s/%s keep=%v %q", v.Status, v.Reason, v.Keep, v.Message)
			}
		})
	}
}

func TestReportOutOfStep(t *testing.T) {
	at := func(d time.Duration) *metav1.Time { m := metav1.NewTime(t0.Add(d)); return &m }
	cases := map[string]struct {
		agent         *lapsv1.AgentStatus
		expiry, upd   time.Time
		wantOutOfStep bool
	}{
		"should wait for the snapshot when the local expiry is later":      {agent: &lapsv1.AgentStatus{LocalExpirationTime: at(48 * time.Hour)}, expiry: t0.Add(time.Hour), wantOutOfStep: true},
		"should wait for the report when it predates the directory write":  {agent: &lapsv1.AgentStatus{LastReportTime: at(-2 * time.Hour)}, upd: t0.Add(-time.Hour), wantOutOfStep: true},
		"should judge a report after the write with an older local expiry": {agent: &lapsv1.AgentStatus{LastReportTime: at(0), LocalExpirationTime: at(-time.Hour)}, expiry: t0.Add(time.Hour), upd: t0.Add(-time.Hour)},
		"should judge when the directory has no expiry or update time":     {agent: &lapsv1.AgentStatus{LastReportTime: at(0), LocalExpirationTime: at(time.Hour)}},
		"should judge without an agent":                                    {},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := ReportOutOfStep(tc.agent, tc.expiry, tc.upd); (got != "") != tc.wantOutOfStep {
				t.Errorf("ReportOutOfStep = %q, want out of step %v", got, tc.wantOutOfStep)
			}
		})
	}
}
