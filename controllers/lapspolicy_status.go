package controllers

import (
	"errors"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/conditions"
	"github.com/fleetlaps/fleetlaps/internal/directory"
)

// LapsPolicy condition reasons.
const (
	// ReasonPublished: the policy is in the directory where devices read it (Intune).
	ReasonPublished = "Published"
	// ReasonRenderedToConfigMap: the policy is rendered into the owned ConfigMap only; nothing
	// was written to a directory, so devices get it only through Group Policy or local
	// configuration that an administrator (or the agent) builds from those artefacts.
	ReasonRenderedToConfigMap = "RenderedToConfigMap"
	ReasonPublishFailed       = "PublishFailed"
	ReasonNotPublished        = "NotPublished"
	ReasonResolved            = "Resolved"
	ReasonPrincipalNotFound   = "PrincipalNotFound"
	ReasonResolveFailed       = "ResolveFailed"
	ReasonNoSettingsIgnored   = "NoneIgnored"
	ReasonSomeIgnored         = "Ignored"
)

// policyReadyDeps: Ready = PolicyPushed ∧ PrincipalResolved (when applicable).
// SettingsIgnored is abnormal-true but a warning only: it does not make Ready False, so a policy
// with an ignored setting still publishes and reports Healthy (the warning stays visible).
var policyReadyDeps = []conditions.Dependency{
	{Type: lapsv1.ConditionPolicyPushed},
	{Type: lapsv1.ConditionPrincipalResolved, Optional: true},
	{Type: lapsv1.ConditionTenantLAPSEnabled, Optional: true},
}

func updatePolicyStatus(s *policyScope, now time.Time, err error) {
	p := s.policy
	st := &p.Status
	gen := p.Generation
	set := func(t string, status metav1.ConditionStatus, reason, msg string) {
		conditions.Set(&st.Conditions, metav1.Condition{Type: t, Status: status, Reason: reason, Message: msg, ObservedGeneration: gen}, now)
	}
	stallReason, stallMsg, isStall := asStalled(err)
	if isStall {
		conditions.MarkStalled(&st.Conditions, stallReason, stallMsg, now)
	} else {
		conditions.ClearStalled(&st.Conditions)
	}

	st.IgnoredSettings = s.ignored
	if len(s.ignored) > 0 {
		set(lapsv1.ConditionSettingsIgnored, metav1.ConditionTrue, ReasonSomeIgnored, "Windows ignores: "+strings.Join(s.ignored, "; "))
	} else {
		set(lapsv1.ConditionSettingsIgnored, metav1.ConditionFalse, ReasonNoSettingsIgnored, "every setting takes effect")
	}

	switch {
	case !s.principal.applicable:
		conditions.Remove(&st.Conditions, lapsv1.ConditionPrincipalResolved)
	case s.principal.err == nil:
		set(lapsv1.ConditionPrincipalResolved, metav1.ConditionTrue, ReasonResolved, "adPasswordEncryptionPrincipal resolves to "+s.principal.sid)
	case errors.Is(s.principal.err, directory.ErrNotFound):
		set(lapsv1.ConditionPrincipalResolved, metav1.ConditionFalse, ReasonPrincipalNotFound,
			fmt.Sprintf("adPasswordEncryptionPrincipal %q does not exist in directory %s; Windows would fail policy processing", ptrString(p.Spec.ADPasswordEncryptionPrincipal), p.Spec.DirectoryRef.Name))
	default:
		set(lapsv1.ConditionPrincipalResolved, metav1.ConditionUnknown, ReasonResolveFailed, "could not resolve the principal: "+string(directory.KindOf(s.principal.err)))
	}

	setTenantLAPSCondition(s, set)

	readyReason, readyMsg := ReasonPublished, "policy is published"
	switch {
	case s.pushed:
		st.RenderedHash = s.hash
		readyReason, readyMsg = pushedCondition(s.hash, st.Published)
		set(lapsv1.ConditionPolicyPushed, metav1.ConditionTrue, readyReason, readyMsg)
	case s.pushErr != nil && errors.Is(s.pushErr, directory.ErrPermissionDenied) && p.Spec.PublishesGroupPolicy():
		set(lapsv1.ConditionPolicyPushed, metav1.ConditionFalse, ReasonMissingRight, "publishing the Group Policy object failed: "+s.pushErr.Error())
	case s.pushErr != nil:
		set(lapsv1.ConditionPolicyPushed, metav1.ConditionFalse, ReasonPublishFailed, "publishing failed: "+s.pushErr.Error())
	case isStall:
		set(lapsv1.ConditionPolicyPushed, metav1.ConditionFalse, stallReason, stallMsg)
	default:
		if conditions.Get(st.Conditions, lapsv1.ConditionPolicyPushed) == nil {
			set(lapsv1.ConditionPolicyPushed, metav1.ConditionUnknown, ReasonNotPublished, "not published yet")
		}
	}

	switch d := s.gpoDrift; {
	case !p.Spec.PublishesGroupPolicy():
		conditions.Remove(&st.Conditions, lapsv1.ConditionGPODrift)
	case d == nil:
		// not compared this time (an earlier step failed): keep what the last comparison said
	case d.found:
		set(lapsv1.ConditionGPODrift, metav1.ConditionTrue, ReasonDriftRestored, "the Group Policy object was changed outside the controller and restored: "+strings.Join(d.differences, "; "))
	default:
		set(lapsv1.ConditionGPODrift, metav1.ConditionFalse, ReasonInSync, "the Group Policy object matches the policy")
	}

	if err != nil && !isStall {
		conditions.MarkReconciling(&st.Conditions, "RetryingAfterError", "retrying: "+summarizeErr(err), now)
	} else {
		conditions.ClearReconciling(&st.Conditions)
	}
	ready := conditions.Summary(st.Conditions, policyReadyDeps, readyReason, readyMsg)
	ready.ObservedGeneration = gen
	conditions.Set(&st.Conditions, ready, now)
	conditions.Stamp(st.Conditions, gen)
	st.ObservedGeneration = conditions.ObservedGeneration(st.Conditions, gen, st.ObservedGeneration)
}

// pushedCondition says what publishing really did: a ConfigMap is not a directory, and the
// condition must not read as if devices already had the policy.
func pushedCondition(hash string, published []lapsv1.PublishedPolicy) (reason, message string) {
	if len(published) == 0 {
		return ReasonPublished, "rendered policy " + hash + " published"
	}
	p := published[0]
	if p.Kind == PublishedConfigMap {
		return ReasonRenderedToConfigMap, fmt.Sprintf("rendered policy %s is in ConfigMap %s only: it is not written to directory %s; devices receive it through Group Policy or local configuration built from these artefacts",
			hash, p.Ref, p.Directory)
	}
	return ReasonPublished, fmt.Sprintf("rendered policy %s published to directory %s as %s %s", hash, p.Directory, p.Kind, p.Ref)
}

func summarizeErr(err error) string {
	if k := directory.KindOf(err); k != "" {
		return string(k)
	}
	return err.Error()
}

func ptrString(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
