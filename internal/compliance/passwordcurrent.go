package compliance

import (
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/policy"
	"github.com/fleetlaps/fleetlaps/internal/schedule"
)

// PasswordCurrent reasons.
const (
	ReasonDirectoryNotConfigured = "DirectoryNotConfigured"
	ReasonDirectoryUnavailable   = "DirectoryUnavailable"
	ReasonWaitingForSnapshot     = "WaitingForSnapshot"
	ReasonNotInDirectory         = "NotInDirectory"
	ReasonDirectoryDataInvalid   = "DirectoryDataInvalid"
	ReasonNeverBackedUp          = "NeverBackedUp"
	// ReasonNoPasswordStored: the directory has an expiry for the device but no password
	// attribute ever held a value (an expiry written by hand or by a rotation request on a device
	// whose client never backed up).
	ReasonNoPasswordStored = "NoPasswordStored"
	// ReasonCleartextPasswordStored: msLAPS-Password holds the password although the effective
	// policy requires encryption.
	ReasonCleartextPasswordStored = "CleartextPasswordStored"
	// ReasonLegacyPasswordStored: legacy LAPS's ms-Mcs-AdmPwd holds the password although the
	// effective Windows LAPS policy requires encryption.
	ReasonLegacyPasswordStored = "LegacyPasswordStored"
	ReasonNoExpirationTime     = "NoExpirationTime"
	ReasonNeverExpires         = "NeverExpires"
	ReasonExpired              = "Expired"
	ReasonRotationFailing      = "RotationFailing"
	// ReasonRotationInProgress: the password is expired because an operator asked for a rotation
	// and the device has not backed up its new password yet; the request's deadline has not passed.
	ReasonRotationInProgress   = "RotationInProgress"
	ReasonExpirationProtection = "ExpirationProtectionBreach"
	ReasonNotExpired           = "NotExpired"
)

// StorageDriftReasons are the PasswordCurrent reasons that say the directory holds the wrong
// thing (nothing, or an unencrypted form), counted per LapsPolicy.
var StorageDriftReasons = []string{ReasonNoPasswordStored, ReasonCleartextPasswordStored, ReasonLegacyPasswordStored}

// Unavailable describes a directory that failed its recent sync passes.
type Unavailable struct {
	Since       time.Time
	LastSuccess time.Time
	// Kind is the directory error kind (e.g. Unreachable), for the message.
	Kind string
}

// Rotation is an operator-requested rotation still in progress on the device.
type Rotation struct {
	// Requests names the unfinished RotationRequests.
	Requests []string
	// Deadline is the latest deadline among them.
	Deadline time.Time
}

// Input is everything the PasswordCurrent chain looks at.
type Input struct {
	Now time.Time
	// Directory is the connection name; Identity describes the device for messages.
	Directory string
	Identity  string
	// DirectoryNotUsable: the connection is unknown or has no backend.
	DirectoryNotUsable bool
	// Unavailable is set while the directory fails its sync passes.
	Unavailable *Unavailable
	// SnapshotTaken: a snapshot of the directory exists.
	SnapshotTaken bool
	// Record is the device's record in the snapshot; nil when the directory has none.
	Record *directory.DeviceRecord
	// Settings are the effective policy's settings; nil without a policy.
	Settings *policy.Settings
	// Rotation is set while an operator-requested rotation is in progress.
	Rotation *Rotation
	// Agent is the endpoint agent's last report (nil: none).
	Agent *lapsv1.AgentStatus
}

// Verdict is a condition ready to be set.
type Verdict struct {
	Status  metav1.ConditionStatus
	Reason  string
	Message string
	// Keep asks to keep an existing observation and only add this one when the condition is
	// missing (nothing new is known, e.g. before the first snapshot after a restart).
	Keep bool
	// Next is when the verdict changes by itself (zero: not by the passage of time).
	Next time.Time
}

func verdict(status metav1.ConditionStatus, reason, format string, args ...any) Verdict {
	return Verdict{Status: status, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// PasswordCurrent runs the chain: directory usable → device present → data well formed →
// anything stored → the stored form the policy requires → expiry. Times in messages are absolute.
func PasswordCurrent(in Input) Verdict {
	switch {
	case in.DirectoryNotUsable:
		v := verdict(metav1.ConditionUnknown, ReasonDirectoryNotConfigured, "directory %s is not usable", in.Directory)
		v.Keep = true
		return v
	case in.Unavailable != nil:
		since := ""
		if !in.Unavailable.LastSuccess.IsZero() {
			since = "; last snapshot taken at " + rfc3339(in.Unavailable.LastSuccess)
		}
		return verdict(metav1.ConditionUnknown, ReasonDirectoryUnavailable, "directory %s unreachable since %s (%s)%s",
			in.Directory, rfc3339(in.Unavailable.Since), in.Unavailable.Kind, since)
	case !in.SnapshotTaken:
		v := verdict(metav1.ConditionUnknown, ReasonWaitingForSnapshot, "waiting for the first snapshot of directory %s", in.Directory)
		v.Keep = true
		return v
	case in.Record == nil:
		return verdict(metav1.ConditionFalse, ReasonNotInDirectory, "directory %s has no object for %s", in.Directory, in.Identity)
	case len(in.Record.BadData) > 0:
		return verdict(metav1.ConditionFalse, ReasonDirectoryDataInvalid, "malformed directory values: %s", strings.Join(in.Record.BadData, "; "))
	case !in.Record.Managed():
		return verdict(metav1.ConditionFalse, ReasonNeverBackedUp, "directory %s holds no LAPS password for this device", in.Directory)
	}
	if v, drift := storedForm(in); drift {
		return v
	}
	return expiry(in)
}

// storedForm checks what the directory holds against the policy. Only the replication metadata
// of the password attributes says which of them has a value; when the backend could not read
// it (StorageUnknown), nothing is claimed.
func storedForm(in Input) (Verdict, bool) {
	r := in.Record
	if r.StorageUnknown {
		return Verdict{}, false
	}
	if r.Source == directory.SourceNone {
		exp, never := r.Expiry()
		at := "never"
		if !never {
			at = rfc3339(exp)
		}
		return verdict(metav1.ConditionFalse, ReasonNoPasswordStored,
			"directory %s has an expiry (%s) for this device but no LAPS password was ever stored: the device's Windows LAPS client has not backed up a password", in.Directory, at), true
	}
	s := in.Settings
	if s == nil || !RequiresEncryption(*s) {
		return Verdict{}, false
	}
	switch r.Source {
	case directory.SourceCleartext:
		return verdict(metav1.ConditionFalse, ReasonCleartextPasswordStored,
			"the password is stored in clear text (msLAPS-Password) although the effective policy requires encryption; the device encrypts at its next rotation once it applies the policy"), true
	case directory.SourceLegacy:
		return verdict(metav1.ConditionFalse, ReasonLegacyPasswordStored,
			"the password is stored by legacy Microsoft LAPS (ms-Mcs-AdmPwd, clear text) although the effective Windows LAPS policy requires encryption"), true
	}
	return Verdict{}, false
}

// RequiresEncryption says whether s makes Windows LAPS store the password encrypted: backup to
// Active Directory with ADPasswordEncryptionEnabled, delivered through a Windows LAPS root (legacy
// LAPS has no encryption).
func RequiresEncryption(s policy.Settings) bool {
	return s.BackupDirectory == lapsv1.BackupDirectoryActiveDirectory && s.ADPasswordEncryptionEnabled &&
		s.PolicyRoot != lapsv1.PolicyRootLegacyLAPS
}

// ExpiryGrace is how long after its expiry a password still counts as current when nothing
// says the rotation is in trouble: Windows LAPS checks the expiry in its hourly background
// processing cycle (seed 001) and rotates at the first cycle after it, and the controller sees
// the new password at its next directory sync. Without the grace, every device would show
// Expired for up to an hour at every rotation: two status writes and a false alarm per rotation,
// thousands a day on a large fleet.
const ExpiryGrace = time.Hour + 15*time.Minute

// expiry judges the expiry that applies to the stored password.
func expiry(in Input) Verdict {
	exp, never := in.Record.Expiry()
	switch {
	case never:
		return verdict(metav1.ConditionTrue, ReasonNeverExpires, "the directory expiry is set to never")
	case exp.IsZero():
		return verdict(metav1.ConditionFalse, ReasonNoExpirationTime, "directory %s holds a password for this device but no expiration time", in.Directory)
	case !in.Now.Before(exp):
		// Within the grace the verdict is the one before the expiry, word for word, so the
		// status does not change; an operator's rotation or a failure the device reported
		// shows at once.
		quiet := in.Rotation == nil || len(in.Rotation.Requests) == 0
		if quiet && in.Now.Before(exp.Add(ExpiryGrace)) && FailureSince(in.Agent, exp) == nil {
			v := verdict(metav1.ConditionTrue, ReasonNotExpired, "password expires at %s", rfc3339(exp))
			v.Next = exp.Add(ExpiryGrace)
			return v
		}
		return expired(in, exp)
	}
	if s := in.Settings; s != nil && s.PasswordExpirationProtectionEnabled &&
		schedule.ExpirationProtectionBreach(in.Record.PasswordUpdateTime, exp, s.PasswordAgeDays) {
		return verdict(metav1.ConditionFalse, ReasonExpirationProtection,
			"directory expiry %s is later than the update time %s plus passwordAgeDays %d (%s); with expiration protection the device rotates at its next cycle",
			rfc3339(exp), rfc3339(in.Record.PasswordUpdateTime), s.PasswordAgeDays, rfc3339(schedule.Expiry(in.Record.PasswordUpdateTime, s.PasswordAgeDays)))
	}
	v := verdict(metav1.ConditionTrue, ReasonNotExpired, "password expires at %s", rfc3339(exp))
	v.Next = exp
	return v
}

// expired: a failure the device reported wins; an operator's rotation within its deadline is
// progress, not a failure (kstatus InProgress, so `kubectl wait` and GitOps tools keep waiting).
func expired(in Input, exp time.Time) Verdict {
	if e := FailureSince(in.Agent, exp); e != nil {
		msg := fmt.Sprintf("password expired at %s and the device's rotation fails: it reported event %d at %s", rfc3339(exp), e.ID, rfc3339(e.Time.Time))
		if e.Message != "" {
			msg += " (" + e.Message + ")"
		}
		return Verdict{Status: metav1.ConditionFalse, Reason: ReasonRotationFailing, Message: msg}
	}
	if rot := in.Rotation; rot != nil && len(rot.Requests) > 0 && in.Now.Before(rot.Deadline) {
		v := verdict(metav1.ConditionUnknown, ReasonRotationInProgress,
			"rotation requested by RotationRequest %s: waiting for the device to back up a new password at its next cycle (deadline %s)",
			strings.Join(rot.Requests, ", "), rfc3339(rot.Deadline))
		v.Next = rot.Deadline
		return v
	}
	msg := fmt.Sprintf("password expired at %s and was not rotated yet; Windows LAPS rotates it at the device's next hourly processing cycle (it did not within %s)", rfc3339(exp), ExpiryGrace)
	if rot := in.Rotation; rot != nil && len(rot.Requests) > 0 {
		msg += fmt.Sprintf("; RotationRequest %s passed its deadline %s", strings.Join(rot.Requests, ", "), rfc3339(rot.Deadline))
	}
	return Verdict{Status: metav1.ConditionFalse, Reason: ReasonExpired, Message: msg}
}

// RotationFailureEvents are the Windows LAPS event IDs of a failed rotation (seed 001): the
// cycle failed (10005), no domain controller answered (10011), the directory refused the write
// (10017), the local password policy cannot be met (10027), Entra ID refused the update
// (10028), the post-authentication reset failed (10043).
var RotationFailureEvents = map[int32]bool{10005: true, 10011: true, 10017: true, 10027: true, 10028: true, 10043: true}

// FailureSince is the newest rotation failure the agent reported at or after t (nil: none).
func FailureSince(a *lapsv1.AgentStatus, t time.Time) *lapsv1.AgentEvent {
	if a == nil {
		return nil
	}
	var newest *lapsv1.AgentEvent
	for i := range a.RecentEvents {
		e := &a.RecentEvents[i]
		if !RotationFailureEvents[e.ID] || e.Time.Time.Before(t) {
			continue
		}
		// The newest failure; at the same time, the specific event over the generic 10005.
		if newest == nil || e.Time.After(newest.Time.Time) || (e.Time.Equal(&newest.Time) && newest.ID == 10005 && e.ID != 10005) {
			newest = e
		}
	}
	return newest
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }
