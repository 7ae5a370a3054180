package compliance

import (
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/directory"
)

// RollbackDetected reasons.
const (
	ReasonNotApplicable      = "NotApplicable"
	ReasonNoAgentReport      = "NoAgentReport"
	ReasonNoDirectoryVersion = "NoDirectoryVersion"
	ReasonVersionsMatch      = "VersionsMatch"
	ReasonReportOutOfStep    = "ReportOutOfStep"
	ReasonVersionMismatch    = "VersionMismatch"
)

// RollbackInput is what the RollbackDetected decision looks at.
type RollbackInput struct {
	// EntraID: the device backs up to Entra ID, which keeps no password version.
	EntraID bool
	Agent   *lapsv1.AgentStatus
	// SnapshotTaken: a snapshot of the device's directory exists.
	SnapshotTaken bool
	// Record is the device's record (nil: not in the directory).
	Record *directory.DeviceRecord
	// PasswordUpdateTime is the update time shown in status (zero: unknown).
	PasswordUpdateTime time.Time
}

// RollbackDetected compares the device's LastPasswordVersion with msLAPS-CurrentPasswordVersion
// (image rollback, seed 001). The condition is abnormal-true.
func RollbackDetected(in RollbackInput) Verdict {
	a := in.Agent
	switch {
	case in.EntraID:
		return verdict(metav1.ConditionFalse, ReasonNotApplicable, "rollback detection compares msLAPS-CurrentPasswordVersion, which only Active Directory keeps")
	case a == nil || a.LocalPasswordVersion == "":
		return verdict(metav1.ConditionUnknown, ReasonNoAgentReport, "no agent has reported the device's LastPasswordVersion")
	case !in.SnapshotTaken:
		v := verdict(metav1.ConditionUnknown, ReasonWaitingForSnapshot, "waiting for the first directory snapshot")
		v.Keep = true
		return v
	case in.Record == nil || in.Record.CurrentPasswordVersion == "":
		return verdict(metav1.ConditionUnknown, ReasonNoDirectoryVersion, "the directory shows no msLAPS-CurrentPasswordVersion")
	case strings.EqualFold(a.LocalPasswordVersion, in.Record.CurrentPasswordVersion):
		return verdict(metav1.ConditionFalse, ReasonVersionsMatch, "the device's LastPasswordVersion matches msLAPS-CurrentPasswordVersion")
	}
	exp, _ := in.Record.Expiry()
	if why := ReportOutOfStep(a, exp, in.PasswordUpdateTime); why != "" {
		// A normal rotation changes both sides, and the report and the snapshot arrive at
		// different times: keep the last judgement until they describe the same password.
		v := verdict(metav1.ConditionUnknown, ReasonReportOutOfStep, "%s", why)
		v.Keep = true
		return v
	}
	return verdict(metav1.ConditionTrue, ReasonVersionMismatch,
		"the device's LastPasswordVersion %s differs from msLAPS-CurrentPasswordVersion %s: the image was rolled back; Windows rotates at its next cycle (event 10015)",
		a.LocalPasswordVersion, in.Record.CurrentPasswordVersion)
}

// ReportOutOfStep says why a version mismatch cannot be judged yet ("" when it can): the
// device's local state is newer than the snapshot (its local expiry is later than the
// directory's: the snapshot predates the device's rotation), or the directory's password is
// newer than the report (the agent has not reported since the device rotated). An image
// rollback is an older local state reported after the directory's password was written.
func ReportOutOfStep(agent *lapsv1.AgentStatus, directoryExpiry, passwordUpdate time.Time) string {
	if agent == nil {
		return ""
	}
	if agent.LocalExpirationTime != nil && !directoryExpiry.IsZero() && agent.LocalExpirationTime.After(directoryExpiry) {
		return fmt.Sprintf("the device's local expiry %s is later than the directory's %s: waiting for the next snapshot",
			rfc3339(agent.LocalExpirationTime.Time), rfc3339(directoryExpiry))
	}
	if agent.LastReportTime != nil && !passwordUpdate.IsZero() && agent.LastReportTime.Time.Before(passwordUpdate) {
		return fmt.Sprintf("the last agent report (%s) predates the directory's password (%s): waiting for the next report",
			rfc3339(agent.LastReportTime.Time), rfc3339(passwordUpdate))
	}
	return ""
}
