package controllers

import (
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/conditions"
	"github.com/fleetlaps/fleetlaps/internal/directory"
)

// Condition reasons of ManagedDevice.
const (
	ReasonCompliant              = "Compliant"
	ReasonApplied                = "Applied"
	ReasonAppliedWithConflicts   = "AppliedWithConflicts"
	ReasonNoPolicy               = "NoPolicy"
	ReasonPolicyLookupFailed     = "PolicyLookupFailed"
	ReasonWaitingForSnapshot     = "WaitingForSnapshot"
	ReasonDirectoryUnavailable   = "DirectoryUnavailable"
	ReasonNotInDirectory         = "NotInDirectory"
	ReasonDirectoryDataInvalid   = "DirectoryDataInvalid"
	ReasonNeverBackedUp          = "NeverBackedUp"
	ReasonNeverExpires           = "NeverExpires"
	ReasonExpired                = "Expired"
	ReasonRotationFailing        = "RotationFailing"
	ReasonExpirationProtection   = "ExpirationProtectionBreach"
	ReasonNotExpired             = "NotExpired"
	ReasonVersionMismatch        = "VersionMismatch"
	ReasonVersionsMatch          = "VersionsMatch"
	ReasonNoAgentReport          = "NoAgentReport"
	ReasonReportOutOfStep        = "ReportOutOfStep"
	ReasonNoDirectoryVersion     = "NoDirectoryVersion"
	ReasonNotApplicable          = "NotApplicable"
	ReasonReporting              = "Reporting"
	ReasonReportOverdue          = "ReportOverdue"
	ReasonRotationRequested      = "RotationRequested"
	ReasonNoRotationRequested    = "NoRotationRequested"
	ReasonRotationLookupFailed   = "RotationLookupFailed"
	ReasonDirectoryNotConfigured = "DirectoryNotConfigured"
)

// deviceReadyDeps: Ready = PolicyApplied ∧ PasswordCurrent ∧ PolicyCompatible ∧
// ¬RollbackDetected. PolicyCompatible and RollbackDetected need an agent report; while they
// are Unknown they do not hold Ready back.
var deviceReadyDeps = []conditions.Dependency{
	{Type: lapsv1.ConditionPolicyApplied},
	{Type: lapsv1.ConditionPasswordCurrent},
	{Type: lapsv1.ConditionRollbackDetected, Polarity: conditions.NegativePolarity, Optional: true},
	{Type: lapsv1.ConditionPolicyCompatible, Optional: true},
}

// updateDeviceStatus derives every owned status field and condition from the scope. It runs on
// error paths too, so every condition exists from the first visit.
func updateDeviceStatus(s *deviceScope, heartbeat time.Duration, err error) {
	st := &s.device.Status
	if reason, msg, ok := asStalled(err); ok {
		conditions.MarkStalled(&st.Conditions, reason, msg, s.now)
	} else {
		conditions.ClearStalled(&st.Conditions)
	}
	setPolicyApplied(s)
	setDirectoryFields(s)
	setPasswordCurrentCondition(s)
	setRollbackDetectedCondition(s)
	setPolicyCompatibleCondition(s)
	setAgentReportingCondition(s, heartbeat)
	setRotatingCondition(s)
	setRotationHistory(s)

	if c := conditions.Get(st.Conditions, lapsv1.ConditionPasswordCurrent); c != nil && c.Reason == ReasonWaitingForSnapshot && !conditions.IsTrue(st.Conditions, lapsv1.ConditionStalled) {
		conditions.MarkReconciling(&st.Conditions, ReasonWaitingForSnapshot, c.Message, s.now)
	} else {
		conditions.ClearReconciling(&st.Conditions)
	}
	readyMsg := "password is current"
	if p := st.EffectivePolicy; p != nil {
		readyMsg = fmt.Sprintf("password is current under LapsPolicy %s", p.Name)
	}
	ready := conditions.Summary(st.Conditions, deviceReadyDeps, ReasonCompliant, readyMsg)
	ready.ObservedGeneration = s.device.Generation
	conditions.Set(&st.Conditions, ready, s.now)
	conditions.Stamp(st.Conditions, s.device.Generation)
	st.ObservedGeneration = conditions.ObservedGeneration(st.Conditions, s.device.Generation, st.ObservedGeneration)
}

func (s *deviceScope) set(t string, status metav1.ConditionStatus, reason, message string) {
	conditions.Set(&s.device.Status.Conditions, metav1.Condition{
		Type: t, Status: status, Reason: reason, Message: message, ObservedGeneration: s.device.Generation,
	}, s.now)
}

// keepOrUnknown keeps an existing observation of t (e.g. after a restart, before the first
// snapshot, so a restart writes nothing) and adds t as Unknown when it is missing.
func (s *deviceScope) keepOrUnknown(t, reason, message string) {
	if conditions.Get(s.device.Status.Conditions, t) != nil {
		return
	}
	s.set(t, metav1.ConditionUnknown, reason, message)
}

// snapshotUsable says whether the directory-derived conditions can be computed now.
func (s *deviceScope) snapshotUsable() bool {
	return s.dirErr == nil && s.haveState && s.state.Snapshot != nil
}

func setPolicyApplied(s *deviceScope) {
	st := &s.device.Status
	switch {
	case s.policyErr != nil:
		s.keepOrUnknown(lapsv1.ConditionPolicyApplied, ReasonPolicyLookupFailed, "could not list LapsPolicies")
		return
	case s.sel.Winner == nil:
		st.EffectivePolicy, st.ConflictingPolicies, st.Account = nil, nil, ""
		s.set(lapsv1.ConditionPolicyApplied, metav1.ConditionFalse, ReasonNoPolicy,
			fmt.Sprintf("no LapsPolicy in namespace %s for directory %s selects this device", s.device.Namespace, s.device.Spec.DirectoryRef.Name))
		return
	}
	w := s.sel.Winner
	st.EffectivePolicy = &lapsv1.EffectivePolicy{Name: w.Name, PolicyRoot: s.settings.PolicyRoot, Hash: settingsHash(&w.Spec)}
	st.ConflictingPolicies = s.sel.Losers
	st.Account = accountOf(*s.settings)
	if setPolicyNotAppliedOnDevice(s) {
		return
	}
	if len(s.sel.Losers) == 0 {
		s.set(lapsv1.ConditionPolicyApplied, metav1.ConditionTrue, ReasonApplied,
			fmt.Sprintf("LapsPolicy %s (root %s, priority %d) is effective", w.Name, s.settings.PolicyRoot, w.Spec.Priority))
		return
	}
	s.set(lapsv1.ConditionPolicyApplied, metav1.ConditionTrue, ReasonAppliedWithConflicts,
		fmt.Sprintf("LapsPolicy %s (root %s, priority %d) is effective; also selected by %s, whose settings are not merged",
			w.Name, s.settings.PolicyRoot, w.Spec.Priority, strings.Join(s.sel.Losers, ", ")))
}

// expiry is the directory expiry that applies to the record.
func (s *deviceScope) expiry() time.Time {
	if s.record.Source == directory.SourceLegacy && !s.record.LegacyExpirationTime.IsZero() {
		return s.record.LegacyExpirationTime
	}
	return s.record.PasswordExpirationTime
}

func mtime(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	m := metav1.NewTime(t.UTC().Truncate(time.Second))
	return &m
}

func setDirectoryFields(s *deviceScope) {
	if !s.snapshotUsable() {
		return
	}
	st := &s.device.Status
	if !s.haveRecord {
		st.PasswordExpirationTime, st.PasswordUpdateTime, st.PasswordUpdateTimeSource = nil, nil, ""
		st.NextRotationTime, st.CurrentPasswordVersion, st.Source = nil, "", ""
		return
	}
	r := s.record
	exp := s.expiry()
	if r.PasswordNeverExpires {
		exp = time.Time{}
	}
	st.PasswordExpirationTime = mtime(exp)
	st.CurrentPasswordVersion = r.CurrentPasswordVersion
	st.Source = lapsv1.PasswordSource(r.Source)
	upd, src := r.PasswordUpdateTime, string(r.UpdateTimeSource)
	if upd.IsZero() && !exp.IsZero() && s.settings != nil {
		upd, src = exp.Add(-time.Duration(s.settings.PasswordAgeDays)*24*time.Hour), string(directory.UpdateTimeExpiryMinusAge)
	}
	st.PasswordUpdateTime, st.PasswordUpdateTimeSource = mtime(upd), src
	next := exp
	if s.settings != nil && s.settings.PasswordExpirationProtectionEnabled && expirationProtectionBreach(r.PasswordUpdateTime, exp, s.settings.PasswordAgeDays) {
		next = passwordExpiry(r.PasswordUpdateTime, s.settings.PasswordAgeDays)
	}
	st.NextRotationTime = mtime(next)
}

// setPasswordCurrentCondition runs the compliance chain; its first violation becomes
// PasswordCurrent=False. Times in messages are absolute (RFC 3339).
func setPasswordCurrentCondition(s *deviceScope) {
	const t = lapsv1.ConditionPasswordCurrent
	dir := s.device.Spec.DirectoryRef.Name
	switch {
	case s.dirErr != nil:
		s.keepOrUnknown(t, ReasonDirectoryNotConfigured, fmt.Sprintf("directory %s is not usable", dir))
		return
	case s.haveState && s.state.Unavailable:
		since := ""
		if !s.state.LastSuccess.IsZero() {
			since = fmt.Sprintf("; last snapshot taken at %s", rfc3339(s.state.LastSuccess))
		}
		s.set(t, metav1.ConditionUnknown, ReasonDirectoryUnavailable,
			fmt.Sprintf("directory %s unreachable since %s (%s)%s", dir, rfc3339(s.state.FailingSince), directoryErrorKind(s.state.LastError), since))
		return
	case !s.snapshotUsable():
		s.keepOrUnknown(t, ReasonWaitingForSnapshot, fmt.Sprintf("waiting for the first snapshot of directory %s", dir))
		return
	case !s.haveRecord:
		s.set(t, metav1.ConditionFalse, ReasonNotInDirectory, fmt.Sprintf("directory %s has no object for %s", dir, identityString(s.device.Spec.Identity)))
		return
	case len(s.record.BadData) > 0:
		s.set(t, metav1.ConditionFalse, ReasonDirectoryDataInvalid, "malformed directory values: "+strings.Join(s.record.BadData, "; "))
		return
	case !s.record.Managed():
		s.set(t, metav1.ConditionFalse, ReasonNeverBackedUp, fmt.Sprintf("directory %s holds no LAPS password for this device", dir))
		return
	case s.record.PasswordNeverExpires:
		s.set(t, metav1.ConditionTrue, ReasonNeverExpires, "the directory expiry is set to never")
		return
	}
	exp := s.expiry()
	if !s.now.Before(exp) {
		msg := fmt.Sprintf("password expired at %s and was not rotated yet; the device rotates at its next hourly cycle", rfc3339(exp))
		if len(s.active) > 0 {
			msg += "; rotation requested by RotationRequest " + strings.Join(s.active, ", ")
		}
		if e := failureSince(s.device.Status.Agent, exp); e != nil {
			msg = fmt.Sprintf("password expired at %s and the device's rotation fails: it reported event %d at %s", rfc3339(exp), e.ID, rfc3339(e.Time.Time))
			if e.Message != "" {
				msg += " (" + e.Message + ")"
			}
			s.set(t, metav1.ConditionFalse, ReasonRotationFailing, msg)
			return
		}
		s.set(t, metav1.ConditionFalse, ReasonExpired, msg)
		return
	}
	if st := s.settings; st != nil && st.PasswordExpirationProtectionEnabled && expirationProtectionBreach(s.record.PasswordUpdateTime, exp, st.PasswordAgeDays) {
		s.set(t, metav1.ConditionFalse, ReasonExpirationProtection, fmt.Sprintf(
			"directory expiry %s is later than the update time %s plus passwordAgeDays %d (%s); with expiration protection the device rotates at its next cycle",
			rfc3339(exp), rfc3339(s.record.PasswordUpdateTime), st.PasswordAgeDays, rfc3339(passwordExpiry(s.record.PasswordUpdateTime, st.PasswordAgeDays))))
		return
	}
	s.next = append(s.next, exp)
	s.set(t, metav1.ConditionTrue, ReasonNotExpired, fmt.Sprintf("password expires at %s", rfc3339(exp)))
}

// RotationFailureEvents are the Windows LAPS event IDs of a failed rotation (seed 001): the
// cycle failed (10005), no domain controller answered (10011), the directory refused the write
// (10017), the local password policy cannot be met (10027), Entra ID refused the update
// (10028), the post-authentication reset failed (10043).
var RotationFailureEvents = map[int32]bool{10005: true, 10011: true, 10017: true, 10027: true, 10028: true, 10043: true}

// failureSince is the newest rotation failure the agent reported at or after t (nil: none).
func failureSince(a *lapsv1.AgentStatus, t time.Time) *lapsv1.AgentEvent {
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

func directoryErrorKind(err error) string {
	if k := directory.KindOf(err); k != "" {
		return string(k)
	}
	if err == nil {
		return "unknown error"
	}
	return "error"
}

func identityString(id lapsv1.DeviceIdentity) string {
	switch {
	case id.ActiveDirectory != nil && id.ActiveDirectory.ObjectGUID != "":
		return "objectGUID " + id.ActiveDirectory.ObjectGUID
	case id.ActiveDirectory != nil:
		return "distinguishedName " + id.ActiveDirectory.DistinguishedName
	case id.EntraID != nil:
		return "deviceId " + id.EntraID.DeviceID
	}
	return "an empty identity"
}

func setRollbackDetectedCondition(s *deviceScope) {
	const t = lapsv1.ConditionRollbackDetected
	agent := s.device.Status.Agent
	switch {
	case s.device.Spec.Identity.EntraID != nil:
		s.set(t, metav1.ConditionFalse, ReasonNotApplicable, "rollback detection compares msLAPS-CurrentPasswordVersion, which only Active Directory keeps")
	case agent == nil || agent.LocalPasswordVersion == "":
		s.set(t, metav1.ConditionUnknown, ReasonNoAgentReport, "no agent has reported the device's LastPasswordVersion")
	case !s.snapshotUsable():
		s.keepOrUnknown(t, ReasonWaitingForSnapshot, "waiting for the first directory snapshot")
	case !s.haveRecord || s.record.CurrentPasswordVersion == "":
		s.set(t, metav1.ConditionUnknown, ReasonNoDirectoryVersion, "the directory shows no msLAPS-CurrentPasswordVersion")
	case strings.EqualFold(agent.LocalPasswordVersion, s.record.CurrentPasswordVersion):
		s.set(t, metav1.ConditionFalse, ReasonVersionsMatch, "the device's LastPasswordVersion matches msLAPS-CurrentPasswordVersion")
	case reportOutOfStep(s, agent) != "":
		// A normal rotation changes both sides, and the report and the snapshot arrive at
		// different times: keep the last judgement until they describe the same password.
		s.keepOrUnknown(t, ReasonReportOutOfStep, reportOutOfStep(s, agent))
	default:
		s.set(t, metav1.ConditionTrue, ReasonVersionMismatch, fmt.Sprintf(
			"the device's LastPasswordVersion %s differs from msLAPS-CurrentPasswordVersion %s: the image was rolled back; Windows rotates at its next cycle (event 10015)",
			agent.LocalPasswordVersion, s.record.CurrentPasswordVersion))
	}
}

// reportOutOfStep says why a version mismatch cannot be judged yet ("" when it can): the
// device's local state is newer than the snapshot (its local expiry is later than the
// directory's: the snapshot predates the device's rotation), or the directory's password is
// newer than the report (the agent has not reported since the device rotated). An image
// rollback is an older local state reported after the directory's password was written.
func reportOutOfStep(s *deviceScope, agent *lapsv1.AgentStatus) string {
	if exp := s.expiry(); agent.LocalExpirationTime != nil && !exp.IsZero() && agent.LocalExpirationTime.After(exp) {
		return fmt.Sprintf("the device's local expiry %s is later than the directory's %s: waiting for the next snapshot",
			rfc3339(agent.LocalExpirationTime.Time), rfc3339(exp))
	}
	if upd := s.device.Status.PasswordUpdateTime; agent.LastReportTime != nil && upd != nil && agent.LastReportTime.Before(upd) {
		return fmt.Sprintf("the last agent report (%s) predates the directory's password (%s): waiting for the next report",
			rfc3339(agent.LastReportTime.Time), rfc3339(upd.Time))
	}
	return ""
}

func setPolicyCompatibleCondition(s *deviceScope) {
	const t = lapsv1.ConditionPolicyCompatible
	if s.settings == nil {
		s.set(t, metav1.ConditionUnknown, ReasonNoPolicy, "no effective policy")
		return
	}
	build := ""
	if a := s.device.Status.Agent; a != nil {
		build = a.OSBuild
	}
	c := checkCompatibility(*s.settings, build)
	switch {
	case c.Unknown:
		s.set(t, metav1.ConditionUnknown, c.Reason, c.Message)
	case c.Compatible:
		s.set(t, metav1.ConditionTrue, c.Reason, c.Message)
	default:
		s.set(t, metav1.ConditionFalse, c.Reason, c.Message)
	}
}

func setRotatingCondition(s *deviceScope) {
	const t = lapsv1.ConditionRotating
	switch {
	case s.activeErr != nil:
		s.keepOrUnknown(t, ReasonRotationLookupFailed, "could not list RotationRequests")
	case len(s.active) > 0:
		s.set(t, metav1.ConditionTrue, ReasonRotationRequested, "RotationRequest "+strings.Join(s.active, ", ")+" in progress")
	default:
		s.set(t, metav1.ConditionFalse, ReasonNoRotationRequested, "no rotation in progress")
	}
}

func conditionStatuses(conds []metav1.Condition) map[string]string {
	out := make(map[string]string, len(conds))
	for _, c := range conds {
		out[c.Type] = string(c.Status)
	}
	return out
}

// setRotationHistory copies the rotation history into status when the requests could be read;
// otherwise the last values stay.
func setRotationHistory(s *deviceScope) {
	if !s.haveRotations {
		return
	}
	st := &s.device.Status
	h := s.rotations
	st.LastRotationRequest = h.newest
	st.FailedRotationAttempts = h.failedAttempts
	st.LastFailureTime = nil
	if !h.lastFailure.IsZero() {
		t := metav1.NewTime(h.lastFailure.Truncate(time.Second))
		st.LastFailureTime = &t
	}
}
