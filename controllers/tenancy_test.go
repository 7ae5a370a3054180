package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/conditions"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/directoryconfig"
)

// directoryCalls are the recorded calls other than the sync runnable's snapshots: the calls made
// for an object.
func (e *env) directoryCalls() []string {
	var out []string
	for _, c := range e.dir.Calls() {
		if c.Op != "snapshot" {
			out = append(out, c.Op+" "+c.Device.DistinguishedName)
		}
	}
	return out
}

// gate replaces the connection's namespace gate.
func (e *env) gate(namespaces []string, selector *metav1.LabelSelector) {
	set := directoryconfig.NewSet()
	set.Add(&directoryconfig.Entry{Config: directoryconfig.Connection{Name: "corp", Type: directory.TypeActiveDirectory,
		Namespaces: namespaces, NamespaceSelector: selector}, Directory: e.dir})
	e.dirs = set
}

func mustCond(t *testing.T, conds []metav1.Condition, typ string, status metav1.ConditionStatus, reason string) *metav1.Condition {
	t.Helper()
	c := conditions.Get(conds, typ)
	if c == nil || c.Status != status || c.Reason != reason {
		t.Fatalf("%s = %+v, want %s/%s", typ, c, status, reason)
	}
	return c
}

func TestNamespaceGate_refusedNamespaceStallsEveryKindWithoutDirectoryCalls(t *testing.T) {
	p := newPolicy("base", lapsv1.PolicyRootCSP, 0, nil)
	p.Spec.ADPasswordEncryptionPrincipal = ptr.To(`CORP\LapsAdmins`) // would call ResolvePrincipal
	namespace := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"tenant": "other"}}}
	e := fleet(t, 2, p, namespace, newRequest("rot1", "pc1", nil), newRequest("rot2", "", map[string]string{"group": "all"}))
	e.dir.AddPrincipal(`CORP\LapsAdmins`, "S-1-5-21-1-2-3-1100")
	for _, tc := range []struct {
		name       string
		namespaces []string
		selector   *metav1.LabelSelector
	}{
		{"closed: neither namespaces nor a selector", nil, nil},
		{"another namespace listed", []string{"team-b"}, nil},
		{"selector that the namespace's labels do not match", nil, &metav1.LabelSelector{MatchLabels: map[string]string{"tenant": "corp"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.gate(tc.namespaces, tc.selector)
			_ = e.reconcilePolicy("base")
			e.reconcileDevice("pc1")
			for _, rr := range []string{"rot1", "rot2"} {
				if _, err := e.reconcileRequest(e.rotationReconciler(), rr); err != nil {
					t.Fatal(err)
				}
			}
			for _, conds := range [][]metav1.Condition{e.policy("base").Status.Conditions, e.device("pc1").Status.Conditions,
				e.request("rot1").Status.Conditions, e.request("rot2").Status.Conditions} {
				c := mustCond(t, conds, lapsv1.ConditionStalled, metav1.ConditionTrue, ReasonDirectoryNotAllowed)
				if !strings.Contains(c.Message, `directory "corp"`) || !strings.Contains(c.Message, `namespace "`+ns+`"`) {
					t.Errorf("message must name the connection and the namespace: %s", c.Message)
				}
			}
			if calls := e.directoryCalls(); len(calls) != 0 {
				t.Fatalf("directory calls for objects of a refused namespace: %v", calls)
			}
			// Let the requests be reconciled afresh by the next case.
			for _, rr := range []string{"rot1", "rot2"} {
				q := e.request(rr)
				q.Status = lapsv1.RotationRequestStatus{}
				if err := e.client.Status().Update(context.Background(), q); err != nil {
					t.Fatal(err)
				}
			}
		})
	}

	// The namespace gets the selector's label: the same objects are admitted.
	e.gate(nil, &metav1.LabelSelector{MatchLabels: map[string]string{"tenant": "corp"}})
	namespace.Labels["tenant"] = "corp"
	if err := e.client.Update(context.Background(), namespace); err != nil {
		t.Fatal(err)
	}
	if err := e.reconcilePolicy("base"); err != nil {
		t.Fatal(err)
	}
	e.reconcileDevice("pc1")
	if c := conditions.Get(e.device("pc1").Status.Conditions, lapsv1.ConditionStalled); c != nil && c.Status == metav1.ConditionTrue {
		t.Fatalf("device still stalled after the namespace was admitted: %+v", c)
	}
	if _, err := e.reconcileRequest(e.rotationReconciler(), "rot1"); err != nil {
		t.Fatal(err)
	}
	if got := e.dir.CallsOf("requestRotation"); len(got) != 1 {
		t.Fatalf("admitted request: %d writes, want 1", len(got))
	}
	if got := e.dir.CallsOf("resolvePrincipal"); len(got) != 1 {
		t.Fatalf("admitted policy: %d principal look-ups, want 1", len(got))
	}
}

func TestNamespaceGate_listedNamespaceIsAdmitted(t *testing.T) {
	e := fleet(t, 1, newPolicy("base", lapsv1.PolicyRootCSP, 0, nil), newRequest("rot1", "pc1", nil))
	e.gate([]string{"team-b", ns}, nil)
	e.reconcileDevice("pc1")
	if _, err := e.reconcileRequest(e.rotationReconciler(), "rot1"); err != nil {
		t.Fatal(err)
	}
	if got := e.dir.CallsOf("requestRotation"); len(got) != 1 {
		t.Fatalf("%d writes, want 1", len(got))
	}
}

// A namespace admin edits a device's identity to steer the write to another object.
func TestWriteTarget_comesFromTheSnapshot(t *testing.T) {
	pc1DN := "CN=pc1,OU=Workstations,DC=corp,DC=example"
	cases := map[string]struct {
		dn, guid   string
		wantReason string // "" means written
	}{
		"DN in other case and spacing: written to the snapshot's DN": {dn: "cn=PC1, ou=workstations, dc=CORP, dc=example", guid: guidOf(1)},
		"DN only: written to the object the snapshot holds":          {dn: pc1DN},
		"another computer's DN with this GUID":                       {dn: "CN=DC1,OU=Domain Controllers,DC=corp,DC=example", guid: guidOf(1), wantReason: "IdentityMismatch"},
		"a look-alike OU":                                            {dn: "CN=pc1,OU=Old-OU=Workstations,DC=corp,DC=example", guid: guidOf(1), wantReason: "IdentityMismatch"},
		"a GUID outside the search bases":                            {dn: pc1DN, guid: guidOf(99), wantReason: "NotInDirectory"},
		"a DN outside the search bases":                              {dn: "CN=DC1,OU=Domain Controllers,DC=corp,DC=example", wantReason: "NotInDirectory"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dev := newDevice("pc1", 1, nil)
			dev.Spec.Identity.ActiveDirectory.DistinguishedName = tc.dn
			dev.Spec.Identity.ActiveDirectory.ObjectGUID = tc.guid
			e := newEnv(t, newPolicy("base", lapsv1.PolicyRootCSP, 0, nil), dev, newRequest("rot1", "pc1", nil))
			e.dir.Put(newRecord("pc1", 1, t0.Add(-24*time.Hour)))
			e.sync()
			e.reconcileDevice("pc1")
			if _, err := e.reconcileRequest(e.rotationReconciler(), "rot1"); err != nil {
				t.Fatal(err)
			}
			res := e.request("rot1").Status.Results[0]
			writes := e.dir.CallsOf("requestRotation")
			if tc.wantReason == "" {
				if len(writes) != 1 || writes[0].Device.DistinguishedName != pc1DN || writes[0].Device.Key != guidOf(1) {
					t.Fatalf("writes %+v, want one to %s (%s)", writes, pc1DN, guidOf(1))
				}
				return
			}
			if len(writes) != 0 {
				t.Fatalf("wrote %+v", writes)
			}
			if res.State != lapsv1.DeviceRotationFailed || !strings.HasPrefix(res.Message, tc.wantReason+":") {
				t.Fatalf("result %s %q, want Failed with %s", res.State, res.Message, tc.wantReason)
			}
			if tc.wantReason == "IdentityMismatch" {
				conds := e.device("pc1").Status.Conditions
				mustCond(t, conds, lapsv1.ConditionStalled, metav1.ConditionTrue, ReasonIdentityMismatch)
				mustCond(t, conds, lapsv1.ConditionPasswordCurrent, metav1.ConditionFalse, ReasonIdentityMismatch)
				mustCond(t, conds, lapsv1.ConditionReady, metav1.ConditionFalse, ReasonIdentityMismatch)
			}
		})
	}
}

func TestWriteTarget_waitsForTheFirstSnapshot(t *testing.T) {
	e := newEnv(t, newPolicy("base", lapsv1.PolicyRootCSP, 0, nil), newDevice("pc1", 1, nil), newRequest("rot1", "pc1", nil))
	e.dir.Put(newRecord("pc1", 1, t0.Add(-24*time.Hour)))
	res, err := e.reconcileRequest(e.rotationReconciler(), "rot1")
	if err != nil {
		t.Fatal(err)
	}
	r := e.request("rot1").Status.Results[0]
	if r.State != lapsv1.DeviceRotationPending || res.RequeueAfter <= 0 || len(e.dir.Calls()) != 0 {
		t.Fatalf("before the first snapshot: %s %q requeue %v calls %v", r.State, r.Message, res.RequeueAfter, e.dir.Calls())
	}
	e.sync()
	if _, err := e.reconcileRequest(e.rotationReconciler(), "rot1"); err != nil {
		t.Fatal(err)
	}
	if n := len(e.dir.CallsOf("requestRotation")); n != 1 {
		t.Fatal(fmt.Sprint("writes after the snapshot: ", n))
	}
}

// A repeated rotate annotation joins the active request; after a failure, a new request waits for
// the device's backoff instead of writing at once.
func TestRotateAnnotation_joinsTheActiveRequestAndKeepsTheBackoff(t *testing.T) {
	d := newDevice("pc1", 1, nil)
	d.Annotations = map[string]string{lapsv1.AnnotationRotateRequestedAt: "t1", lapsv1.AnnotationRotateRequestedBy: "alice"}
	e := newEnv(t, d, newPolicy("base", lapsv1.PolicyRootCSP, 0, nil))
	e.dir.Put(newRecord("pc1", 1, t0.Add(-time.Hour)))
	e.sync()
	e.reconcileDevice("pc1")
	first := RotationRequestNameFor("pc1", "t1")
	rr := e.request(first)
	if rr.Annotations[lapsv1.AnnotationRotateRequestedBy] != "alice" || !strings.Contains(rr.Spec.Reason, "set by alice") {
		t.Fatalf("request %s: annotations %v reason %q", rr.Name, rr.Annotations, rr.Spec.Reason)
	}
	// The write fails; the request keeps retrying on its own backoff.
	e.dir.FailNext("requestRotation", fmt.Errorf("busy: %w", directory.ErrThrottled))
	if _, err := e.reconcileRequest(e.rotationReconciler(), first); err != nil {
		t.Fatal(err)
	}
	e.reconcileDevice("pc1")
	if got := e.device("pc1").Status.FailedRotationAttempts; got != 1 {
		t.Fatalf("failedRotationAttempts = %d", got)
	}

	// Annotating again while it is active joins it.
	for _, v := range []string{"t2", "t3"} {
		dev := e.device("pc1")
		dev.Annotations[lapsv1.AnnotationRotateRequestedAt] = v
		dev.Annotations[lapsv1.AnnotationRotateRequestedBy] = "bob"
		if err := e.client.Update(context.Background(), dev); err != nil {
			t.Fatal(err)
		}
		e.reconcileDevice("pc1")
	}
	var list lapsv1.RotationRequestList
	if err := e.client.List(context.Background(), &list); err != nil || len(list.Items) != 1 {
		t.Fatalf("requests: %d %v, want the one active request", len(list.Items), err)
	}
	got := e.device("pc1")
	if got.Status.LastRotateAnnotation != "t3" || got.Status.LastRotationRequest != first || got.Status.FailedRotationAttempts != 1 {
		t.Fatalf("status %+v", got.Status)
	}

	// The first request ends Failed; a new annotation makes a new request, which waits for the
	// device's backoff (1 failure: 1 minute) before writing.
	rr = e.request(first)
	rr.Status.Phase = lapsv1.RotationFailed
	rr.Status.Results[0].State = lapsv1.DeviceRotationFailed
	rr.Status.CompletionTime = &metav1.Time{Time: e.clock.Now()}
	if err := e.client.Status().Update(context.Background(), rr); err != nil {
		t.Fatal(err)
	}
	e.reconcileDevice("pc1")
	dev := e.device("pc1")
	dev.Annotations[lapsv1.AnnotationRotateRequestedAt] = "t4"
	if err := e.client.Update(context.Background(), dev); err != nil {
		t.Fatal(err)
	}
	e.reconcileDevice("pc1")
	second := RotationRequestNameFor("pc1", "t4")
	writes := len(e.dir.CallsOf("requestRotation"))
	if _, err := e.reconcileRequest(e.rotationReconciler(), second); err != nil {
		t.Fatal(err)
	}
	rr = e.request(second)
	res, ready := rr.Status.Results[0], conditions.Get(rr.Status.Conditions, lapsv1.ConditionReady)
	if len(e.dir.CallsOf("requestRotation")) != writes || res.State != lapsv1.DeviceRotationPending || ready == nil || !strings.Contains(ready.Message, "failed") {
		t.Fatalf("a new request wrote inside the device's backoff: %s %+v", res.State, ready)
	}
	e.clock.Step(2 * time.Minute)
	if _, err := e.reconcileRequest(e.rotationReconciler(), second); err != nil {
		t.Fatal(err)
	}
	if len(e.dir.CallsOf("requestRotation")) != writes+1 {
		t.Fatal("no write after the backoff")
	}
}
