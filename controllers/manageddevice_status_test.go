package controllers

import (
	"errors"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/conditions"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/dirsync"
)

// TestSetPasswordCurrentCondition: scope in, condition out; no client (STYLE.md §2).
func TestSetPasswordCurrentCondition(t *testing.T) {
	updated := t0.Add(-10 * 24 * time.Hour)
	base := newRecord("pc1", 1, updated)
	st := effectiveSettings(&newPolicy("p", lapsv1.PolicyRootCSP, 0, nil).Spec)
	snap := dirsync.State{Snapshot: &directory.Snapshot{}, LastSuccess: t0.Add(-time.Hour)}
	cases := map[string]struct {
		scope       func(s *deviceScope)
		wantStatus  metav1.ConditionStatus
		wantReason  string
		wantMessage string
	}{
		"should be True with the absolute expiry": {
			wantStatus: metav1.ConditionTrue, wantReason: ReasonNotExpired, wantMessage: "password expires at 2026-12-10T10:00:00Z",
		},
		"should be False once the expiry passed": {
			scope:      func(s *deviceScope) { s.now = updated.Add(30*24*time.Hour + time.Second) },
			wantStatus: metav1.ConditionFalse, wantReason: ReasonExpired,
			wantMessage: "password expired at 2026-12-10T10:00:00Z and was not rotated yet; the device rotates at its next hourly cycle",
		},
		"should name the rotation in progress once expired": {
			scope: func(s *deviceScope) {
				s.now = updated.Add(31 * 24 * time.Hour)
				s.active = []string{"rot1"}
			},
			wantStatus: metav1.ConditionFalse, wantReason: ReasonExpired,
			wantMessage: "password expired at 2026-12-10T10:00:00Z and was not rotated yet; the device rotates at its next hourly cycle; rotation requested by RotationRequest rot1",
		},
		"should name the device's failure event once expired": {
			scope: func(s *deviceScope) {
				s.now = updated.Add(30*24*time.Hour + 2*time.Hour)
				s.device.Status.Agent = &lapsv1.AgentStatus{RecentEvents: []lapsv1.AgentEvent{
					{ID: 10005, Time: metav1.NewTime(updated.Add(30*24*time.Hour + time.Hour)), Message: "cycle failed"},
					{ID: 10027, Time: metav1.NewTime(updated.Add(30*24*time.Hour + time.Hour)), Message: "cannot meet the local policy"},
					{ID: 10027, Time: metav1.NewTime(updated.Add(-time.Hour))}, // before the expiry: not this rotation
					{ID: 10004, Time: metav1.NewTime(updated.Add(30*24*time.Hour + 90*time.Minute))},
				}}
			},
			wantStatus: metav1.ConditionFalse, wantReason: ReasonRotationFailing,
			wantMessage: "password expired at 2026-12-10T10:00:00Z and the device's rotation fails: it reported event 10027 at 2026-12-10T11:00:00Z (cannot meet the local policy)",
		},
		"should flag an expiry later than update time plus age when protection is on": {
			scope:      func(s *deviceScope) { s.record.PasswordExpirationTime = updated.Add(60 * 24 * time.Hour) },
			wantStatus: metav1.ConditionFalse, wantReason: ReasonExpirationProtection,
		},
		"should accept the same expiry when protection is off": {
			scope: func(s *deviceScope) {
				s.record.PasswordExpirationTime = updated.Add(60 * 24 * time.Hour)
				s.settings.PasswordExpirationProtectionEnabled = false
			},
			wantStatus: metav1.ConditionTrue, wantReason: ReasonNotExpired,
		},
		"should be False for a device without a LAPS password": {
			scope: func(s *deviceScope) {
				s.record.Source, s.record.PasswordExpirationTime = "", time.Time{}
			},
			wantStatus: metav1.ConditionFalse, wantReason: ReasonNeverBackedUp,
		},
		"should be False for a device missing from the directory": {
			scope:      func(s *deviceScope) { s.haveRecord = false },
			wantStatus: metav1.ConditionFalse, wantReason: ReasonNotInDirectory,
			wantMessage: "directory corp has no object for objectGUID " + guidOf(1),
		},
		"should be False on malformed directory data, naming it": {
			scope:      func(s *deviceScope) { s.record.BadData = []string{"msLAPS-CurrentPasswordVersion: 15 bytes"} },
			wantStatus: metav1.ConditionFalse, wantReason: ReasonDirectoryDataInvalid,
			wantMessage: "malformed directory values: msLAPS-CurrentPasswordVersion: 15 bytes",
		},
		"should be Unknown DirectoryUnavailable once the grace period passed": {
			scope: func(s *deviceScope) {
				s.state.Unavailable, s.state.FailingSince, s.state.LastError = true, t0.Add(-30*time.Minute), directory.NewError(directory.ErrAuthFailed, "corp", "snapshot", errors.New("x"))
			},
			wantStatus: metav1.ConditionUnknown, wantReason: ReasonDirectoryUnavailable,
			wantMessage: "directory corp unreachable since 2026-11-20T09:30:00Z (AuthenticationFailed); last snapshot taken at 2026-11-20T09:00:00Z",
		},
		"should be Unknown until the first snapshot": {
			scope:      func(s *deviceScope) { s.haveState = false },
			wantStatus: metav1.ConditionUnknown, wantReason: ReasonWaitingForSnapshot,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			settings := st
			s := &deviceScope{device: newDevice("pc1", 1, nil), now: t0, settings: &settings,
				state: snap, haveState: true, record: base, haveRecord: true}
			s.record.BadData = nil
			if tc.scope != nil {
				tc.scope(s)
			}
			setPasswordCurrentCondition(s)
			c := conditions.Get(s.device.Status.Conditions, lapsv1.ConditionPasswordCurrent)
			if c.Status != tc.wantStatus || c.Reason != tc.wantReason || (tc.wantMessage != "" && c.Message != tc.wantMessage) {
				t.Fatalf("PasswordCurrent = %s/%s %q", c.Status, c.Reason, c.Message)
			}
		})
	}
}

// TestSetRollbackDetectedCondition covers the abnormal-true condition's inputs.
func TestSetRollbackDetectedCondition(t *testing.T) {
	cases := map[string]struct {
		agent      *lapsv1.AgentStatus
		entra      bool
		dirVersion string
		dirExpiry  time.Time
		dirUpdated time.Time
		want       metav1.ConditionStatus
		reason     string
	}{
		"should be True when the versions differ":        {agent: &lapsv1.AgentStatus{LocalPasswordVersion: "A"}, dirVersion: "B", want: metav1.ConditionTrue, reason: ReasonVersionMismatch},
		"should be False when they match, ignoring case": {agent: &lapsv1.AgentStatus{LocalPasswordVersion: "abc"}, dirVersion: "ABC", want: metav1.ConditionFalse, reason: ReasonVersionsMatch},
		"should be Unknown without an agent report":      {dirVersion: "B", want: metav1.ConditionUnknown, reason: ReasonNoAgentReport},
		"should be Unknown without a directory version":  {agent: &lapsv1.AgentStatus{LocalPasswordVersion: "A"}, want: metav1.ConditionUnknown, reason: ReasonNoDirectoryVersion},
		"should be False (not applicable) for Entra ID":  {entra: true, want: metav1.ConditionFalse, reason: ReasonNotApplicable},
		"should wait when the device rotated after the snapshot": {agent: &lapsv1.AgentStatus{LocalPasswordVersion: "A", LocalExpirationTime: &metav1.Time{Time: t0.Add(48 * time.Hour)}},
			dirVersion: "B", dirExpiry: t0.Add(time.Hour), want: metav1.ConditionUnknown, reason: ReasonReportOutOfStep},
		"should wait when the agent has not reported since the directory changed": {agent: &lapsv1.AgentStatus{LocalPasswordVersion: "A", LastReportTime: &metav1.Time{Time: t0.Add(-2 * time.Hour)}},
			dirVersion: "B", dirUpdated: t0.Add(-time.Hour), want: metav1.ConditionUnknown, reason: ReasonReportOutOfStep},
		"should be True for an older local state reported after the directory's write": {agent: &lapsv1.AgentStatus{LocalPasswordVersion: "A",
			LastReportTime: &metav1.Time{Time: t0}, LocalExpirationTime: &metav1.Time{Time: t0.Add(-time.Hour)}},
			dirVersion: "B", dirUpdated: t0.Add(-time.Hour), dirExpiry: t0.Add(23 * time.Hour), want: metav1.ConditionTrue, reason: ReasonVersionMismatch},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d := newDevice("pc1", 1, nil)
			d.Status.Agent = tc.agent
			if tc.entra {
				d.Spec.Identity = lapsv1.DeviceIdentity{EntraID: &lapsv1.EntraIDIdentity{DeviceID: guidOf(1)}}
			}
			s := &deviceScope{device: d, now: t0, state: dirsync.State{Snapshot: &directory.Snapshot{}}, haveState: true,
				record: directory.DeviceRecord{CurrentPasswordVersion: tc.dirVersion, PasswordExpirationTime: tc.dirExpiry}, haveRecord: true}
			d.Status.PasswordUpdateTime = mtime(tc.dirUpdated)
			setRollbackDetectedCondition(s)
			c := conditions.Get(d.Status.Conditions, lapsv1.ConditionRollbackDetected)
			if c.Status != tc.want || c.Reason != tc.reason {
				t.Fatalf("RollbackDetected = %s/%s %q", c.Status, c.Reason, c.Message)
			}
		})
	}
	_ = ptr.To(1)
}
