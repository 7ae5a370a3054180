package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/conditions"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/directoryconfig"
)

func assertCondition(t *testing.T, d *lapsv1.ManagedDevice, typ string, status metav1.ConditionStatus, reason string) *metav1.Condition {
	t.Helper()
	c := conditions.Get(d.Status.Conditions, typ)
	if c == nil {
		t.Fatalf("%s missing; conditions: %+v", typ, d.Status.Conditions)
	}
	if c.Status != status || c.Reason != reason {
		t.Fatalf("%s = %s/%s (%q), want %s/%s", typ, c.Status, c.Reason, c.Message, status, reason)
	}
	return c
}

func TestManagedDeviceReconciler_Reconcile(t *testing.T) {
	updated := t0.Add(-10 * 24 * time.Hour)
	cases := map[string]struct {
		objs   []client.Object
		before func(e *env)
		check  func(t *testing.T, e *env, d *lapsv1.ManagedDevice)
	}{
		"should be Ready when one policy applies and the password is current": {
			objs: []client.Object{newPolicy("base", lapsv1.PolicyRootCSP, 0, nil)},
			check: func(t *testing.T, e *env, d *lapsv1.ManagedDevice) {
				assertCondition(t, d, lapsv1.ConditionReady, metav1.ConditionTrue, ReasonCompliant)
				assertCondition(t, d, lapsv1.ConditionPolicyApplied, metav1.ConditionTrue, ReasonApplied)
				c := assertCondition(t, d, lapsv1.ConditionPasswordCurrent, metav1.ConditionTrue, ReasonNotExpired)
				if c.Message != "password expires at 2026-12-10T10:00:00Z" {
					t.Fatalf("message %q", c.Message)
				}
				if d.Status.ObservedGeneration != 1 || d.Status.EffectivePolicy.Name != "base" || d.Status.Account != "Administrator" {
					t.Fatalf("status %+v", d.Status)
				}
				if d.Status.NextRotationTime == nil || !d.Status.NextRotationTime.Time.Equal(updated.Add(30*24*time.Hour)) {
					t.Fatalf("nextRotationTime %v", d.Status.NextRotationTime)
				}
			},
		},
		"should be PasswordCurrent=False with an absolute time once expired": {
			objs:   []client.Object{newPolicy("base", lapsv1.PolicyRootCSP, 0, nil)},
			before: func(e *env) { e.clock.SetTime(updated.Add(31 * 24 * time.Hour)) },
			check: func(t *testing.T, e *env, d *lapsv1.ManagedDevice) {
				c := assertCondition(t, d, lapsv1.ConditionPasswordCurrent, metav1.ConditionFalse, ReasonExpired)
				if !strings.Contains(c.Message, "expired at 2026-12-10T10:00:00Z") {
					t.Fatalf("message %q", c.Message)
				}
				assertCondition(t, d, lapsv1.ConditionReady, metav1.ConditionFalse, ReasonExpired)
				if d.Status.ObservedGeneration != 0 {
					t.Fatalf("observedGeneration moved while not Ready: %d", d.Status.ObservedGeneration)
				}
			},
		},
		"should list conflicting policies and pick by root, then priority": {
			objs: []client.Object{
				newPolicy("gpo", lapsv1.PolicyRootGroupPolicy, 100, nil),
				newPolicy("csp-low", lapsv1.PolicyRootCSP, 1, map[string]string{"tier": "front"}),
				newPolicy("csp-high", lapsv1.PolicyRootCSP, 5, nil),
				newPolicy("other", lapsv1.PolicyRootCSP, 9, map[string]string{"tier": "exec"}),
			},
			check: func(t *testing.T, e *env, d *lapsv1.ManagedDevice) {
				c := assertCondition(t, d, lapsv1.ConditionPolicyApplied, metav1.ConditionTrue, ReasonAppliedWithConflicts)
				if d.Status.EffectivePolicy.Name != "csp-high" || strings.Join(d.Status.ConflictingPolicies, ",") != "csp-low,gpo" {
					t.Fatalf("effective %v conflicts %v", d.Status.EffectivePolicy, d.Status.ConflictingPolicies)
				}
				if !strings.Contains(c.Message, "csp-low, gpo") {
					t.Fatalf("message %q", c.Message)
				}
			},
		},
		"should say NoPolicy when nothing selects the device": {
			objs: []client.Object{newPolicy("exec", lapsv1.PolicyRootCSP, 0, map[string]string{"tier": "exec"})},
			check: func(t *testing.T, e *env, d *lapsv1.ManagedDevice) {
				assertCondition(t, d, lapsv1.ConditionPolicyApplied, metav1.ConditionFalse, ReasonNoPolicy)
				assertCondition(t, d, lapsv1.ConditionReady, metav1.ConditionFalse, ReasonNoPolicy)
			},
		},
		"should detect a rollback when the agent's version differs": {
			objs: []client.Object{newPolicy("base", lapsv1.PolicyRootCSP, 0, nil)},
			before: func(e *env) {
				d := e.device("pc1")
				d.Status.Agent = &lapsv1.AgentStatus{LocalPasswordVersion: "99999999-0000-0000-0000-000000000000", OSBuild: "10.0.26100.1", LastReportTime: &metav1.Time{Time: t0.Add(-time.Minute)}}
				if err := e.client.Status().Update(context.Background(), d); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, e *env, d *lapsv1.ManagedDevice) {
				assertCondition(t, d, lapsv1.ConditionRollbackDetected, metav1.ConditionTrue, ReasonVersionMismatch)
				assertCondition(t, d, lapsv1.ConditionReady, metav1.ConditionFalse, ReasonVersionMismatch)
				assertCondition(t, d, lapsv1.ConditionAgentReporting, metav1.ConditionTrue, ReasonReporting)
				assertCondition(t, d, lapsv1.ConditionPolicyCompatible, metav1.ConditionTrue, "Compatible")
			},
		},
		"should stall with the known names for an unknown directoryRef": {
			objs: []client.Object{newPolicy("base", lapsv1.PolicyRootCSP, 0, nil)},
			before: func(e *env) {
				d := e.device("pc1")
				d.Spec.DirectoryRef.Name = "nope"
				if err := e.client.Update(context.Background(), d); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, e *env, d *lapsv1.ManagedDevice) {
				c := assertCondition(t, d, lapsv1.ConditionStalled, metav1.ConditionTrue, "UnknownDirectory")
				if !strings.Contains(c.Message, "known: corp") {
					t.Fatalf("message %q", c.Message)
				}
				assertCondition(t, d, lapsv1.ConditionReady, metav1.ConditionFalse, "UnknownDirectory")
			},
		},
		"should stall with DirectoryTypeUnsupported for a connection without backend": {
			before: func(e *env) {
				e.dirs.Add(&directoryconfig.Entry{Config: directoryconfig.Connection{Name: "cloud", Type: directory.TypeEntraID},
					Err: directoryconfig.ErrTypeUnsupported})
				d := e.device("pc1")
				d.Spec.DirectoryRef.Name = "cloud"
				if err := e.client.Update(context.Background(), d); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, e *env, d *lapsv1.ManagedDevice) {
				assertCondition(t, d, lapsv1.ConditionStalled, metav1.ConditionTrue, "DirectoryTypeUnsupported")
			},
		},
		"should mark only this device for malformed directory data": {
			objs: []client.Object{newPolicy("base", lapsv1.PolicyRootCSP, 0, nil)},
			before: func(e *env) {
				e.dir.Update(guidOf(1), func(r *directory.DeviceRecord) { r.BadData = []string{"msLAPS-PasswordExpirationTime: not a FILETIME"} })
				e.sync()
			},
			check: func(t *testing.T, e *env, d *lapsv1.ManagedDevice) {
				assertCondition(t, d, lapsv1.ConditionPasswordCurrent, metav1.ConditionFalse, ReasonDirectoryDataInvalid)
			},
		},
		"should report DirectoryUnavailable once the store marks the directory unavailable": {
			objs: []client.Object{newPolicy("base", lapsv1.PolicyRootCSP, 0, nil)},
			before: func(e *env) {
				err := directory.NewError(directory.ErrUnreachable, "corp", "snapshot", nil)
				e.store.Fail("corp", err, t0.Add(-time.Hour), 15*time.Minute)
				e.store.Fail("corp", err, t0, 15*time.Minute)
			},
			check: func(t *testing.T, e *env, d *lapsv1.ManagedDevice) {
				c := assertCondition(t, d, lapsv1.ConditionReady, metav1.ConditionUnknown, ReasonDirectoryUnavailable)
				if !strings.Contains(c.Message, "unreachable since 2026-11-20T09:00:00Z (DirectoryUnreachable)") {
					t.Fatalf("message %q", c.Message)
				}
			},
		},
		"should flag an expiry beyond update time plus age (expiration protection)": {
			objs: []client.Object{newPolicy("base", lapsv1.PolicyRootCSP, 0, nil)},
			before: func(e *env) {
				e.dir.Update(guidOf(1), func(r *directory.DeviceRecord) { r.PasswordExpirationTime = updated.Add(90 * 24 * time.Hour) })
				e.sync()
			},
			check: func(t *testing.T, e *env, d *lapsv1.ManagedDevice) {
				assertCondition(t, d, lapsv1.ConditionPasswordCurrent, metav1.ConditionFalse, ReasonExpirationProtection)
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			objs := append([]client.Object{newDevice("pc1", 1, map[string]string{"tier": "front"})}, tc.objs...)
			e := newEnv(t, objs...)
			e.dir.Put(newRecord("pc1", 1, updated))
			e.sync()
			if tc.before != nil {
				tc.before(e)
			}
			e.reconcileDevice("pc1")
			d := e.device("pc1")
			tc.check(t, e, d)

			// Reconciling again with nothing changed writes nothing.
			w := e.writes.n.Load()
			e.reconcileDevice("pc1")
			if got := e.writes.n.Load() - w; got != 0 {
				t.Fatalf("second reconcile wrote %d times", got)
			}
		})
	}
}

func TestManagedDeviceReconciler_requeuesAtNextInterestingTime(t *testing.T) {
	e := newEnv(t, newDevice("pc1", 1, nil), newPolicy("base", lapsv1.PolicyRootCSP, 0, nil))
	e.dir.Put(newRecord("pc1", 1, t0.Add(-29*24*time.Hour-18*time.Hour)))
	e.sync()
	res := e.reconcileDevice("pc1")
	if res.RequeueAfter != 6*time.Hour {
		t.Fatalf("RequeueAfter = %v, want 6h (the expiry)", res.RequeueAfter)
	}
}

func TestManagedDeviceReconciler_rotateAnnotationCreatesOneRequest(t *testing.T) {
	d := newDevice("pc1", 1, nil)
	d.Annotations = map[string]string{lapsv1.AnnotationRotateRequestedAt: "2026-11-20T10:00:00Z"}
	e := newEnv(t, d, newPolicy("base", lapsv1.PolicyRootCSP, 0, nil))
	e.dir.Put(newRecord("pc1", 1, t0.Add(-time.Hour)))
	e.sync()
	e.reconcileDevice("pc1")
	e.reconcileDevice("pc1")
	var list lapsv1.RotationRequestList
	if err := e.client.List(context.Background(), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 {
		t.Fatalf("RotationRequests = %d, want 1", len(list.Items))
	}
	rr := list.Items[0]
	if rr.Name != RotationRequestNameFor("pc1", "2026-11-20T10:00:00Z") || rr.Spec.DeviceName != "pc1" || !strings.Contains(rr.Spec.Reason, "2026-11-20T10:00:00Z") {
		t.Fatalf("request %+v", rr)
	}
	got := e.device("pc1")
	if got.Status.LastRotateAnnotation != "2026-11-20T10:00:00Z" || got.Status.LastRotationRequest != rr.Name {
		t.Fatalf("status %+v", got.Status)
	}
	assertCondition(t, got, lapsv1.ConditionRotating, metav1.ConditionTrue, ReasonRotationRequested)
	// Losing the acknowledgement (e.g. a crash before the status patch) still makes one request.
	got.Status.LastRotateAnnotation = ""
	if err := e.client.Status().Update(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	e.reconcileDevice("pc1")
	if err := e.client.List(context.Background(), &list); err != nil || len(list.Items) != 1 {
		t.Fatalf("after replay: %d requests, %v", len(list.Items), err)
	}
}

func TestAnnotationReasonNamesTheRecordedRequester(t *testing.T) {
	d := newDevice("pc1", 1, nil)
	// managedFields name a field manager any client may claim: they are not read.
	d.ManagedFields = []metav1.ManagedFieldsEntry{
		{Manager: "argocd-server", Time: &metav1.Time{Time: t0}, FieldsV1: metav1.NewFieldsV1(`{"f:metadata":{"f:annotations":{"f:laps.fleetlaps.io/rotate-requested-at":{}}}}`)},
	}
	if got := annotationReason(d, "now", "alice@corp.example"); got != "annotation laps.fleetlaps.io/rotate-requested-at=now on ManagedDevice pc1, set by alice@corp.example" {
		t.Fatalf("reason %q", got)
	}
	if got := annotationReason(d, "now", ""); strings.Contains(got, "argocd") || !strings.Contains(got, "did not record") {
		t.Fatalf("reason %q", got)
	}
}
