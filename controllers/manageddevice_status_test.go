package controllers

import (
	"errors"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/compliance"
	"github.com/fleetlaps/fleetlaps/internal/conditions"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/dirsync"
)

// TestSetPasswordCurrentCondition: scope in, condition out; no client (STYLE.md §2). The
// decision itself is table-tested in internal/compliance; this covers what the scope hands it.
func TestSetPasswordCurrentCondition(t *testing.T) {
	updated := t0.Add(-10 * 24 * time.Hour)
	base := newRecord("pc1", 1, updated)
	st := effectiveSettings(&newPolicy("p", lapsv1.PolicyRootCSP, 0, nil).Spec)
	snap := dirsync.State{Loaded: true, LastSuccess: t0.Add(-time.Hour)}
	cases := map[string]struct {
		scope       func(s *deviceScope)
		wantStatus  metav1.ConditionStatus
		wantReason  string
		wantMessage string
		wantNext    time.Time
	}{
		"should be True with the absolute expiry and requeue at it": {
			wantStatus: metav1.ConditionTrue, wantReason: ReasonNotExpired, wantMessage: "password expires at 2026-12-10T10:00:00Z",
			wantNext: updated.Add(30 * 24 * time.Hour),
		},
		"should stay True, word for word, within one processing cycle after the expiry": {
			scope:      func(s *deviceScope) { s.now = updated.Add(30*24*time.Hour + time.Second) },
			wantStatus: metav1.ConditionTrue, wantReason: ReasonNotExpired, wantMessage: "password expires at 2026-12-10T10:00:00Z",
			wantNext: updated.Add(30*24*time.Hour + compliance.ExpiryGrace),
		},
		"should be False once the expiry passed more than one processing cycle ago": {
			scope:      func(s *deviceScope) { s.now = updated.Add(30*24*time.Hour + compliance.ExpiryGrace) },
			wantStatus: metav1.ConditionFalse, wantReason: ReasonExpired,
			wantMessage: "password expired at 2026-12-10T10:00:00Z and was not rotated yet; Windows LAPS rotates it at the device's next hourly processing cycle (it did not within 1h15m0s)",
		},
		"should show an operator's rotation in progress until the request's deadline": {
			scope: func(s *deviceScope) {
				s.now = updated.Add(31 * 24 * time.Hour)
				s.active, s.rotations.activeDeadline = []string{"rot1"}, s.now.Add(time.Hour)
			},
			wantStatus: metav1.ConditionUnknown, wantReason: ReasonRotationInProgress,
			wantMessage: "rotation requested by RotationRequest rot1: waiting for the device to back up a new password at its next cycle (deadline 2026-12-11T11:00:00Z)",
			wantNext:    updated.Add(31*24*time.Hour + time.Hour),
		},
		"should be False for a clear-text password under the default (encrypting) policy": {
			scope:      func(s *deviceScope) { s.record.Source = directory.SourceCleartext },
			wantStatus: metav1.ConditionFalse, wantReason: ReasonCleartextPasswordStored,
		},
		"should be False when only an expiry was ever stored": {
			scope: func(s *deviceScope) {
				s.record.Source, s.record.PasswordUpdateTime, s.record.UpdateTimeSource = "", time.Time{}, ""
			},
			wantStatus: metav1.ConditionFalse, wantReason: ReasonNoPasswordStored,
		},
		"should be False for a device missing from the directory": {
			scope:      func(s *deviceScope) { s.haveRecord = false },
			wantStatus: metav1.ConditionFalse, wantReason: ReasonNotInDirectory,
			wantMessage: "directory corp has no object for objectGUID " + guidOf(1),
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
		"should be Unknown while the directory is not usable": {
			scope:      func(s *deviceScope) { s.dirErr = errors.New("unknown directory") },
			wantStatus: metav1.ConditionUnknown, wantReason: ReasonDirectoryNotConfigured,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			settings := st
			s := &deviceScope{device: newDevice("pc1", 1, nil), now: t0, settings: &settings,
				state: snap, haveState: true, record: base, haveRecord: true}
			if tc.scope != nil {
				tc.scope(s)
			}
			setPasswordCurrentCondition(s)
			c := conditions.Get(s.device.Status.Conditions, lapsv1.ConditionPasswordCurrent)
			if c.Status != tc.wantStatus || c.Reason != tc.wantReason || (tc.wantMessage != "" && c.Message != tc.wantMessage) {
				t.Fatalf("PasswordCurrent = %s/%s %q", c.Status, c.Reason, c.Message)
			}
			if !tc.wantNext.IsZero() && !slices.ContainsFunc(s.next, tc.wantNext.Equal) {
				t.Errorf("next %v lacks %v", s.next, tc.wantNext)
			}
		})
	}
}

// TestSetDirectoryFields: the status shows what the directory holds, never a derived time.
func TestSetDirectoryFields(t *testing.T) {
	snap := dirsync.State{Loaded: true}
	st := effectiveSettings(&newPolicy("p", lapsv1.PolicyRootCSP, 0, nil).Spec)
	cases := map[string]struct {
		record     directory.DeviceRecord
		wantNever  bool
		wantExpiry *metav1.Time
		wantUpdate *metav1.Time
		wantSource string
	}{
		"should show legacy never as passwordNeverExpires, not as an expiry": {
			record:    directory.DeviceRecord{Key: guidOf(1), Source: directory.SourceLegacy, LegacyNeverExpires: true},
			wantNever: true,
		},
		"should show msLAPS never as passwordNeverExpires": {
			record:    directory.DeviceRecord{Key: guidOf(1), Source: directory.SourceEncrypted, PasswordNeverExpires: true},
			wantNever: true,
		},
		"should show the legacy expiry of a legacy device": {
			record:     directory.DeviceRecord{Key: guidOf(1), Source: directory.SourceLegacy, LegacyExpirationTime: t0},
			wantExpiry: mtime(t0),
		},
		"should not invent an update time from the expiry when no password is stored": {
			record:     directory.DeviceRecord{Key: guidOf(1), PasswordExpirationTime: t0},
			wantExpiry: mtime(t0),
		},
		"should show the update time the replication metadata states": {
			record:     directory.DeviceRecord{Key: guidOf(1), Source: directory.SourceEncrypted, PasswordExpirationTime: t0, PasswordUpdateTime: t0.Add(-time.Hour), UpdateTimeSource: directory.UpdateTimeReplicationMetadata},
			wantExpiry: mtime(t0), wantUpdate: mtime(t0.Add(-time.Hour)), wantSource: string(directory.UpdateTimeReplicationMetadata),
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			settings := st
			s := &deviceScope{device: newDevice("pc1", 1, nil), now: t0, settings: &settings, state: snap, haveState: true, record: tc.record, haveRecord: true}
			setDirectoryFields(s)
			got := s.device.Status
			if got.PasswordNeverExpires != tc.wantNever || !got.PasswordExpirationTime.Equal(tc.wantExpiry) ||
				!got.PasswordUpdateTime.Equal(tc.wantUpdate) || got.PasswordUpdateTimeSource != tc.wantSource {
				t.Errorf("never=%v expiry=%v update=%v (%q)", got.PasswordNeverExpires, got.PasswordExpirationTime, got.PasswordUpdateTime, got.PasswordUpdateTimeSource)
			}
		})
	}
}

// TestUpdateDeviceStatus_rotationInProgress: while an operator's rotation runs, the device is
// kstatus InProgress (Reconciling=True, Ready=Unknown RotationInProgress), not Failed; after the
// deadline without evidence it is Ready=False Expired.
func TestUpdateDeviceStatus_rotationInProgress(t *testing.T) {
	st := effectiveSettings(&newPolicy("p", lapsv1.PolicyRootCSP, 0, nil).Spec)
	p := newPolicy("p", lapsv1.PolicyRootCSP, 0, nil)
	rec := newRecord("pc1", 1, t0.Add(-time.Hour))
	rec.PasswordExpirationTime = t0.Add(-time.Minute) // the request wrote "now"
	deadline := t0.Add(26 * time.Hour)
	newScope := func(now time.Time) *deviceScope {
		settings := st
		return &deviceScope{device: newDevice("pc1", 1, nil), now: now, settings: &settings, sel: selection{Winner: p},
			state: dirsync.State{Loaded: true}, haveState: true, record: rec, haveRecord: true,
			active: []string{"rot1"}, rotations: rotationHistory{active: []string{"rot1"}, activeDeadline: deadline}, haveRotations: true}
	}
	s := newScope(t0)
	updateDeviceStatus(s, time.Hour, nil)
	conds := s.device.Status.Conditions
	for typ, want := range map[string]string{
		lapsv1.ConditionReady: "Unknown/" + ReasonRotationInProgress, lapsv1.ConditionReconciling: "True/" + ReasonRotationInProgress,
		lapsv1.ConditionPasswordCurrent: "Unknown/" + ReasonRotationInProgress, lapsv1.ConditionRotating: "True/" + ReasonRotationRequested,
	} {
		if c := conditions.Get(conds, typ); c == nil || string(c.Status)+"/"+c.Reason != want {
			t.Errorf("%s = %v, want %s", typ, c, want)
		}
	}
	if !slices.ContainsFunc(s.next, deadline.Equal) {
		t.Errorf("next %v lacks the deadline %v", s.next, deadline)
	}

	s = newScope(deadline.Add(time.Second))
	updateDeviceStatus(s, time.Hour, nil)
	conds = s.device.Status.Conditions
	if c := conditions.Get(conds, lapsv1.ConditionReady); c.Status != metav1.ConditionFalse || c.Reason != ReasonExpired {
		t.Errorf("after the deadline Ready = %s/%s, want False/Expired", c.Status, c.Reason)
	}
	if conditions.Get(conds, lapsv1.ConditionReconciling) != nil {
		t.Errorf("after the deadline Reconciling is still set")
	}
}
