package compliance

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/policy"
)

var (
	t0      = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	updated = t0.Add(-10 * 24 * time.Hour)
)

func encryptedPolicy() *policy.Settings {
	s := policy.Effective(&lapsv1.LapsPolicySpec{BackupDirectory: lapsv1.BackupDirectoryActiveDirectory, PolicyRoot: lapsv1.PolicyRootCSP})
	return &s
}

func input(mut func(in *Input)) Input {
	rec := directory.DeviceRecord{
		PasswordUpdateTime: updated, UpdateTimeSource: directory.UpdateTimeReplicationMetadata,
		PasswordExpirationTime: updated.Add(30 * 24 * time.Hour), Source: directory.SourceEncrypted,
		CurrentPasswordVersion: "5a5a0000-0000-0000-0000-000000000001",
	}
	in := Input{Now: t0, Directory: "corp", Identity: "objectGUID x", SnapshotTaken: true, Record: &rec, Settings: encryptedPolicy()}
	if mut != nil {
		mut(&in)
	}
	return in
}

func TestPasswordCurrent(t *testing.T) {
	exp := updated.Add(30 * 24 * time.Hour)
	cases := map[string]struct {
		in          Input
		wantStatus  metav1.ConditionStatus
		wantReason  string
		wantMessage string // substring
		wantKeep    bool
		wantNext    time.Time // checked when set
	}{
		"should be True with the absolute expiry and wake at it": {
			in: input(nil), wantStatus: metav1.ConditionTrue, wantReason: ReasonNotExpired,
			wantMessage: "password expires at 2026-12-21T10:00:00Z", wantNext: exp,
		},
		"should keep the last observation while the directory is not usable": {
			in:         input(func(in *Input) { in.DirectoryNotUsable = true }),
			wantStatus: metav1.ConditionUnknown, wantReason: ReasonDirectoryNotConfigured, wantKeep: true,
		},
		"should be Unknown while the directory is unreachable, naming when it failed": {
			in: input(func(in *Input) {
				in.Unavailable = &Unavailable{Since: t0.Add(-time.Hour), LastSuccess: t0.Add(-2 * time.Hour), Kind: "Unreachable"}
			}),
			wantStatus: metav1.ConditionUnknown, wantReason: ReasonDirectoryUnavailable,
			wantMessage: "unreachable since 2026-12-01T09:00:00Z (Unreachable); last snapshot taken at 2026-12-01T08:00:00Z",
		},
		"should wait for the first snapshot keeping the last observation": {
			in:         input(func(in *Input) { in.SnapshotTaken = false }),
			wantStatus: metav1.ConditionUnknown, wantReason: ReasonWaitingForSnapshot, wantKeep: true,
		},
		"should be False for a device missing from the directory": {
			in:         input(func(in *Input) { in.Record = nil }),
			wantStatus: metav1.ConditionFalse, wantReason: ReasonNotInDirectory, wantMessage: "directory corp has no object for objectGUID x",
		},
		"should be False on malformed directory data, naming it": {
			in:         input(func(in *Input) { in.Record.BadData = []string{"msLAPS-CurrentPasswordVersion: 5 bytes"} }),
			wantStatus: metav1.ConditionFalse, wantReason: ReasonDirectoryDataInvalid, wantMessage: "msLAPS-CurrentPasswordVersion: 5 bytes",
		},
		"should be False for a device the LAPS client never touched": {
			in: input(func(in *Input) {
				in.Record.Source, in.Record.PasswordExpirationTime, in.Record.PasswordUpdateTime, in.Record.UpdateTimeSource = "", time.Time{}, time.Time{}, ""
			}),
			wantStatus: metav1.ConditionFalse, wantReason: ReasonNeverBackedUp,
		},
		"should be False when the directory has an expiry but never held a password": {
			in: input(func(in *Input) {
				in.Record.Source, in.Record.PasswordUpdateTime, in.Record.UpdateTimeSource = "", time.Time{}, ""
			}),
			wantStatus: metav1.ConditionFalse, wantReason: ReasonNoPasswordStored,
			wantMessage: "has an expiry (2026-12-21T10:00:00Z) for this device but no LAPS password was ever stored",
		},
		"should claim nothing about storage when the backend could not read it": {
			in: input(func(in *Input) {
				in.Record.Source, in.Record.PasswordUpdateTime, in.Record.UpdateTimeSource, in.Record.StorageUnknown = "", time.Time{}, "", true
			}),
			wantStatus: metav1.ConditionTrue, wantReason: ReasonNotExpired,
		},
		"should be False for a clear-text password under a policy that requires encryption": {
			in:         input(func(in *Input) { in.Record.Source = directory.SourceCleartext }),
			wantStatus: metav1.ConditionFalse, wantReason: ReasonCleartextPasswordStored, wantMessage: "msLAPS-Password",
		},
		"should be False for a legacy LAPS password under a policy that requires encryption": {
			in: input(func(in *Input) {
				in.Record.Source, in.Record.PasswordExpirationTime, in.Record.LegacyExpirationTime = directory.SourceLegacy, time.Time{}, exp
			}),
			wantStatus: metav1.ConditionFalse, wantReason: ReasonLegacyPasswordStored, wantMessage: "ms-Mcs-AdmPwd",
		},
		"should flag a clear-text password that never expires": {
			in: input(func(in *Input) {
				in.Record.Source, in.Record.PasswordExpirationTime, in.Record.PasswordNeverExpires = directory.SourceCleartext, time.Time{}, true
			}),
			wantStatus: metav1.ConditionFalse, wantReason: ReasonCleartextPasswordStored,
		},
		"should accept clear text when the policy turns encryption off": {
			in: input(func(in *Input) {
				in.Record.Source = directory.SourceCleartext
				in.Settings.ADPasswordEncryptionEnabled = false
			}),
			wantStatus: metav1.ConditionTrue, wantReason: ReasonNotExpired,
		},
		"should accept a legacy password under a LegacyLAPS policy": {
			in: input(func(in *Input) {
				in.Record.Source, in.Record.PasswordExpirationTime, in.Record.LegacyExpirationTime = directory.SourceLegacy, time.Time{}, exp
				s := policy.Effective(&lapsv1.LapsPolicySpec{BackupDirectory: lapsv1.BackupDirectoryActiveDirectory, PolicyRoot: lapsv1.PolicyRootLegacyLAPS})
				in.Settings = &s
			}),
			wantStatus: metav1.ConditionTrue, wantReason: ReasonNotExpired, wantMessage: "password expires at 2026-12-21T10:00:00Z",
		},
		"should not judge the stored form without an effective policy": {
			in:         input(func(in *Input) { in.Record.Source, in.Settings = directory.SourceCleartext, nil }),
			wantStatus: metav1.ConditionTrue, wantReason: ReasonNotExpired,
		},
		"should show msLAPS never as never": {
			in: input(func(in *Input) {
				in.Record.PasswordExpirationTime, in.Record.PasswordNeverExpires = time.Time{}, true
			}),
			wantStatus: metav1.ConditionTrue, wantReason: ReasonNeverExpires,
		},
		"should show legacy never (9223372036854775807) as never, not as expired at 0001-01-01": {
			in: input(func(in *Input) {
				in.Record.Source, in.Record.PasswordExpirationTime, in.Record.LegacyNeverExpires = directory.SourceLegacy, time.Time{}, true
				s := policy.Effective(&lapsv1.LapsPolicySpec{BackupDirectory: lapsv1.BackupDirectoryActiveDirectory, PolicyRoot: lapsv1.PolicyRootLegacyLAPS})
				in.Settings = &s
			}),
			wantStatus: metav1.ConditionTrue, wantReason: ReasonNeverExpires,
		},
		"should be False for a stored password without any expiry": {
			in:         input(func(in *Input) { in.Record.PasswordExpirationTime = time.Time{} }),
			wantStatus: metav1.ConditionFalse, wantReason: ReasonNoExpirationTime,
		},
		"should stay current, word for word, within one processing cycle after the expiry": {
			in:         input(func(in *Input) { in.Now = exp.Add(ExpiryGrace - time.Second) }),
			wantStatus: metav1.ConditionTrue, wantReason: ReasonNotExpired, wantMessage: "password expires at 2026-12-21T10:00:00Z",
			wantNext: exp.Add(ExpiryGrace),
		},
		"should be False once the expiry passed more than one processing cycle ago": {
			in:         input(func(in *Input) { in.Now = exp.Add(ExpiryGrace) }),
			wantStatus: metav1.ConditionFalse, wantReason: ReasonExpired,
			wantMessage: "password expired at 2026-12-21T10:00:00Z and was not rotated yet; Windows LAPS rotates it at the device's next hourly processing cycle (it did not within 1h15m0s)",
		},
		"should show an operator's rotation as in progress until its deadline": {
			in: input(func(in *Input) {
				in.Now = exp.Add(time.Minute)
				in.Rotation = &Rotation{Requests: []string{"rot1"}, Deadline: exp.Add(26 * time.Hour)}
			}),
			wantStatus: metav1.ConditionUnknown, wantReason: ReasonRotationInProgress,
			wantMessage: "rotation requested by RotationRequest rot1: waiting for the device to back up a new password at its next cycle (deadline 2026-12-22T12:00:00Z)",
			wantNext:    exp.Add(26 * time.Hour),
		},
		"should be Expired once the rotation's deadline passed": {
			in: input(func(in *Input) {
				in.Now = exp.Add(27 * time.Hour)
				in.Rotation = &Rotation{Requests: []string{"rot1"}, Deadline: exp.Add(26 * time.Hour)}
			}),
			wantStatus: metav1.ConditionFalse, wantReason: ReasonExpired, wantMessage: "RotationRequest rot1 passed its deadline 2026-12-22T12:00:00Z",
		},
		"should prefer the device's failure event over a rotation in progress": {
			in: input(func(in *Input) {
				in.Now = exp.Add(2 * time.Hour)
				in.Rotation = &Rotation{Requests: []string{"rot1"}, Deadline: exp.Add(26 * time.Hour)}
				in.Agent = &lapsv1.AgentStatus{RecentEvents: []lapsv1.AgentEvent{
					{ID: 10005, Time: metav1.NewTime(exp.Add(time.Hour))},
					{ID: 10027, Time: metav1.NewTime(exp.Add(time.Hour)), Message: "cannot meet the local policy"},
					{ID: 10027, Time: metav1.NewTime(exp.Add(-time.Hour))},
				}}
			}),
			wantStatus: metav1.ConditionFalse, wantReason: ReasonRotationFailing,
			wantMessage: "it reported event 10027 at 2026-12-21T11:00:00Z (cannot meet the local policy)",
		},
		"should show a failure the device reported within the grace at once": {
			in: input(func(in *Input) {
				in.Now = exp.Add(30 * time.Minute)
				in.Agent = &lapsv1.AgentStatus{RecentEvents: []lapsv1.AgentEvent{{ID: 10017, Time: metav1.NewTime(exp.Add(10 * time.Minute))}}}
			}),
			wantStatus: metav1.ConditionFalse, wantReason: ReasonRotationFailing,
		},
		"should show an operator's rotation at once, grace or not": {
			in: input(func(in *Input) {
				in.Now = exp.Add(time.Second)
				in.Rotation = &Rotation{Requests: []string{"rot1"}, Deadline: exp.Add(26 * time.Hour)}
			}),
			wantStatus: metav1.ConditionUnknown, wantReason: ReasonRotationInProgress,
		},
		"should flag an expiry later than update time plus age when protection is on": {
			in:         input(func(in *Input) { in.Record.PasswordExpirationTime = updated.Add(60 * 24 * time.Hour) }),
			wantStatus: metav1.ConditionFalse, wantReason: ReasonExpirationProtection,
		},
		"should accept the same expiry when protection is off": {
			in: input(func(in *Input) {
				in.Record.PasswordExpirationTime = updated.Add(60 * 24 * time.Hour)
				in.Settings.PasswordExpirationProtectionEnabled = false
			}),
			wantStatus: metav1.ConditionTrue, wantReason: ReasonNotExpired,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			v := PasswordCurrent(tc.in)
			if v.Status != tc.wantStatus || v.Reason != tc.wantReason || v.Keep != tc.wantKeep || (!tc.wantNext.IsZero() && !v.Next.Equal(tc.wantNext)) {
				t.Errorf("got %s/%s keep=%v next=%v (%q), want %s/%s keep=%v next=%v",
					v.Status, v.Reason, v.Keep, v.Next, v.Message, tc.wantStatus, tc.wantReason, tc.wantKeep, tc.wantNext)
			}
			if !strings.Contains(v.Message, tc.wantMessage) {
				t.Errorf("message %q lacks %q", v.Message, tc.wantMessage)
			}
		})
	}
}

func TestRequiresEncryption(t *testing.T) {
	for name, tc := range map[string]struct {
		spec lapsv1.LapsPolicySpec
		want bool
	}{
		"should require it for ActiveDirectory by default": {spec: lapsv1.LapsPolicySpec{BackupDirectory: lapsv1.BackupDirectoryActiveDirectory}, want: true},
		"should not when encryption is off":                {spec: lapsv1.LapsPolicySpec{BackupDirectory: lapsv1.BackupDirectoryActiveDirectory, ADPasswordEncryptionEnabled: ptrTo(false)}},
		"should not for EntraID":                           {spec: lapsv1.LapsPolicySpec{BackupDirectory: lapsv1.BackupDirectoryEntraID}},
		"should not for legacy LAPS":                       {spec: lapsv1.LapsPolicySpec{BackupDirectory: lapsv1.BackupDirectoryActiveDirectory, PolicyRoot: lapsv1.PolicyRootLegacyLAPS}},
	} {
		t.Run(name, func(t *testing.T) {
			if got := RequiresEncryption(policy.Effective(&tc.spec)); got != tc.want {
				t.Errorf("RequiresEncryption = %v, want %v", got, tc.want)
			}
		})
	}
}

func ptrTo[T any](v T) *T { return &v }
