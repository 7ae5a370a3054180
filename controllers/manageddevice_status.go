package controllers

import (
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/compliance"
	"github.com/fleetlaps/fleetlaps/internal/conditions"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/metrics"
)

// Condition reasons of ManagedDevice. The PasswordCurrent and RollbackDetected ones come from
// internal/compliance, which decides those conditions.
const (
	ReasonCompliant            = "Compliant"
	ReasonApplied              = "Applied"
	ReasonAppliedWithConflicts = "AppliedWithConflicts"
	ReasonNoPolicy             = "NoPolicy"
	ReasonPolicyLookupFailed   = "PolicyLookupFailed"
	ReasonWaitingForSnapshot   = compliance.ReasonWaitingForSnapshot
	ReasonDirectoryUnavailable = compliance.ReasonDirectoryUnavailable
	ReasonNotInDirectory       = compliance.ReasonNotInDirectory
	// ReasonIdentityMismatch: the spec's identity names another object than the snapshot holds.
	ReasonIdentityMismatch        = "IdentityMismatch"
	ReasonDirectoryDataInvalid    = compliance.ReasonDirectoryDataInvalid
	ReasonNeverBackedUp           = compliance.ReasonNeverBackedUp
	ReasonNoPasswordStored        = compliance.ReasonNoPasswordStored
	ReasonCleartextPasswordStored = compliance.ReasonCleartextPasswordStored
	ReasonLegacyPasswordStored    = compliance.ReasonLegacyPasswordStored
	ReasonNeverExpires            = compliance.ReasonNeverExpires
	ReasonExpired                 = compliance.ReasonExpired
	ReasonRotationFailing         = compliance.ReasonRotationFailing
	ReasonExpirationProtection    = compliance.ReasonExpirationProtection
	ReasonNotExpired              = compliance.ReasonNotExpired
	ReasonVersionMismatch         = compliance.ReasonVersionMismatch
	ReasonVersionsMatch           = compliance.ReasonVersionsMatch
	ReasonNoAgentReport           = compliance.ReasonNoAgentReport
	ReasonReportOutOfStep         = compliance.ReasonReportOutOfStep
	ReasonNoDirectoryVersion      = compliance.ReasonNoDirectoryVersion
	ReasonNotApplicable           = compliance.ReasonNotApplicable
	ReasonReporting               = "Reporting"
	ReasonReportOverdue           = "ReportOverdue"
	ReasonRotationRequested       = "RotationRequested"
	ReasonNoRotationRequested     = "NoRotationRequested"
	ReasonRotationLookupFailed    = "RotationLookupFailed"
	ReasonDirectoryNotConfigured  = compliance.ReasonDirectoryNotConfigured
)

// RotationFailureEvents are the Windows LAPS event IDs of a failed rotation.
var RotationFailureEvents = compliance.RotationFailureEvents

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

	setReconcilingCondition(s)
	// The effective policy is status.effectivePolicy (and the Policy column): Ready=True does
	// not repeat it.
	ready := conditions.Summary(st.Conditions, deviceReadyDeps, ReasonCompliant, "password is current")
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
	return s.dirErr == nil && s.haveState && s.state.Loaded
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
		st.NextRotationTime, st.CurrentPasswordVersion, st.Source, st.PasswordNeverExpires = nil, "", "", false
		return
	}
	r := s.record
	exp, never := r.Expiry()
	st.PasswordExpirationTime, st.PasswordNeverExpires = mtime(exp), never
	st.CurrentPasswordVersion = r.CurrentPasswordVersion
	st.Source = lapsv1.PasswordSource(r.Source)
	// Only a time the directory states: an update time is never derived from the expiry.
	st.PasswordUpdateTime, st.PasswordUpdateTimeSource = mtime(r.PasswordUpdateTime), string(r.UpdateTimeSource)
	if r.PasswordUpdateTime.IsZero() {
		st.PasswordUpdateTimeSource = ""
	}
	next := exp
	if s.settings != nil && s.settings.PasswordExpirationProtectionEnabled && !never && expirationProtectionBreach(r.PasswordUpdateTime, exp, s.settings.PasswordAgeDays) {
		next = passwordExpiry(r.PasswordUpdateTime, s.settings.PasswordAgeDays)
	}
	st.NextRotationTime = mtime(next)
}

// apply writes a compliance verdict as condition t and collects its next interesting time.
func (s *deviceScope) apply(t string, v compliance.Verdict) {
	if !v.Next.IsZero() {
		s.next = append(s.next, v.Next)
	}
	if v.Keep {
		s.keepOrUnknown(t, v.Reason, v.Message)
		return
	}
	s.set(t, v.Status, v.Reason, v.Message)
}

// setPasswordCurrentCondition gathers the compliance inputs; compliance.PasswordCurrent decides.
// A spec identity that disagrees with the snapshot says so instead (the record is another
// object's, or the spec's DN is wrong).
func setPasswordCurrentCondition(s *deviceScope) {
	if s.identityErr != nil {
		s.set(lapsv1.ConditionPasswordCurrent, metav1.ConditionFalse, ReasonIdentityMismatch, s.identityErr.Error())
		return
	}
	in := compliance.Input{
		Now: s.now, Directory: s.device.Spec.DirectoryRef.Name, Identity: identityString(s.device.Spec.Identity),
		DirectoryNotUsable: s.dirErr != nil,
		SnapshotTaken:      s.snapshotUsable(),
		Settings:           s.settings,
		Agent:              s.device.Status.Agent,
	}
	if s.dirErr == nil && s.haveState && s.state.Unavailable {
		in.Unavailable = &compliance.Unavailable{Since: s.state.FailingSince, LastSuccess: s.state.LastSuccess, Kind: directoryErrorKind(s.state.LastError)}
	}
	if s.haveRecord {
		in.Record = &s.record
	}
	if len(s.active) > 0 {
		in.Rotation = &compliance.Rotation{Requests: s.active, Deadline: s.rotations.activeDeadline}
	}
	s.apply(lapsv1.ConditionPasswordCurrent, compliance.PasswordCurrent(in))
}

// setReconcilingCondition: Reconciling=True while the first snapshot is awaited and while an
// operator-requested rotation runs (until its deadline), so kstatus reports InProgress.
func setReconcilingCondition(s *deviceScope) {
	conds := &s.device.Status.Conditions
	pc := conditions.Get(*conds, lapsv1.ConditionPasswordCurrent)
	switch {
	case conditions.IsTrue(*conds, lapsv1.ConditionStalled):
		conditions.ClearReconciling(conds)
	case pc != nil && pc.Reason == ReasonWaitingForSnapshot:
		conditions.MarkReconciling(conds, ReasonWaitingForSnapshot, pc.Message, s.now)
	case len(s.active) > 0 && s.now.Before(s.rotations.activeDeadline):
		conditions.MarkReconciling(conds, ReasonRotationInProgress, fmt.Sprintf("RotationRequest %s in progress until its deadline %s",
			strings.Join(s.active, ", "), rfc3339(s.rotations.activeDeadline)), s.now)
		s.next = append(s.next, s.rotations.activeDeadline)
	default:
		conditions.ClearReconciling(conds)
	}
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
	in := compliance.RollbackInput{
		EntraID:       s.device.Spec.Identity.EntraID != nil,
		Agent:         s.device.Status.Agent,
		SnapshotTaken: s.snapshotUsable(),
	}
	if s.haveRecord {
		in.Record = &s.record
	}
	if u := s.device.Status.PasswordUpdateTime; u != nil {
		in.PasswordUpdateTime = u.Time
	}
	s.apply(lapsv1.ConditionRollbackDetected, compliance.RollbackDetected(in))
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

func conditionStatuses(conds []metav1.Condition) map[string]metrics.Condition {
	out := make(map[string]metrics.Condition, len(conds))
	for _, c := range conds {
		out[c.Type] = metrics.Condition{Status: string(c.Status), Reason: c.Reason}
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
