package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/conditions"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/directoryconfig"
	"github.com/fleetlaps/fleetlaps/internal/dirsync"
)

func newRequest(name string, device string, selector map[string]string) *lapsv1.RotationRequest {
	rr := &lapsv1.RotationRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Generation: 1, CreationTimestamp: metav1.NewTime(t0)},
		Spec:       lapsv1.RotationRequestSpec{DeviceName: device, Reason: "helpdesk ticket 42", RequestedBy: "alice@corp.example"},
	}
	if selector != nil {
		rr.Spec.DeviceSelector = &metav1.LabelSelector{MatchLabels: selector}
	}
	return rr
}

func (e *env) rotationReconciler() *RotationRequestReconciler {
	return &RotationRequestReconciler{Client: e.client, Clock: e.clock, Directories: e.dirs, Store: e.store, Recorder: e.rec}
}

func (e *env) reconcileRequest(r *RotationRequestReconciler, name string) (reconcile.Result, error) {
	return r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}})
}

func (e *env) request(name string) *lapsv1.RotationRequest {
	e.t.Helper()
	var rr lapsv1.RotationRequest
	if err := e.client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &rr); err != nil {
		e.t.Fatal(err)
	}
	return &rr
}

// fleet builds n devices with records and one policy, reconciles the devices once so each has
// its effective policy in status.
func fleet(t *testing.T, n int, policy *lapsv1.LapsPolicy, extra ...client.Object) *env {
	objs := []client.Object{policy}
	for i := 1; i <= n; i++ {
		objs = append(objs, newDevice(fmt.Sprintf("pc%d", i), i, map[string]string{"group": "all"}))
	}
	e := newEnv(t, append(objs, extra...)...)
	for i := 1; i <= n; i++ {
		e.dir.Put(newRecord(fmt.Sprintf("pc%d", i), i, t0.Add(-24*time.Hour)))
	}
	e.sync()
	for i := 1; i <= n; i++ {
		e.reconcileDevice(fmt.Sprintf("pc%d", i))
	}
	return e
}

// deviceRotates plays the Windows LAPS client: a new password, version and update time.
func (e *env) deviceRotates(i int, at time.Time) {
	e.dir.Update(guidOf(i), func(r *directory.DeviceRecord) {
		r.CurrentPasswordVersion = fmt.Sprintf("22222222-0000-0000-0000-%012d", i)
		r.PasswordUpdateTime = at
		r.PasswordExpirationTime = at.Add(30 * 24 * time.Hour)
	})
}

func TestRotationRequestReconciler_expiryRotationEvidenceSucceeded(t *testing.T) {
	e := fleet(t, 1, newPolicy("base", lapsv1.PolicyRootCSP, 0, nil), newRequest("rot1", "pc1", nil))
	r := e.rotationReconciler()
	if _, err := e.reconcileRequest(r, "rot1"); err != nil {
		t.Fatal(err)
	}
	rr := e.request("rot1")
	res := rr.Status.Results[0]
	if rr.Status.Phase != lapsv1.RotationInProgress || res.State != lapsv1.DeviceRotationRequested || res.WrittenAt == nil {
		t.Fatalf("status %+v", rr.Status)
	}
	calls := e.dir.CallsOf("requestRotation")
	if len(calls) != 1 || !calls[0].At.Equal(t0) || calls[0].Device.Key != guidOf(1) {
		t.Fatalf("calls %+v", calls)
	}
	// The directory now shows the expiry at t0. The operator asked for this: until the deadline
	// the device is in progress (kstatus InProgress), not failed.
	e.sync()
	e.clock.Step(time.Second)
	e.reconcileDevice("pc1")
	d := e.device("pc1")
	assertCondition(t, d, lapsv1.ConditionPasswordCurrent, metav1.ConditionUnknown, ReasonRotationInProgress)
	assertCondition(t, d, lapsv1.ConditionRotating, metav1.ConditionTrue, ReasonRotationRequested)
	assertCondition(t, d, lapsv1.ConditionReconciling, metav1.ConditionTrue, ReasonRotationInProgress)
	assertCondition(t, d, lapsv1.ConditionReady, metav1.ConditionUnknown, ReasonRotationInProgress)
	assertKstatus(t, d, status.InProgressStatus)

	// No evidence yet: nothing changes, nothing is written.
	w := e.writes.n.Load()
	if _, err := e.reconcileRequest(r, "rot1"); err != nil {
		t.Fatal(err)
	}
	if e.writes.n.Load() != w || len(e.dir.CallsOf("requestRotation")) != 1 {
		t.Fatal("reconcile without evidence wrote")
	}

	e.clock.Step(40 * time.Minute)
	e.deviceRotates(1, e.clock.Now())
	e.sync()
	if _, err := e.reconcileRequest(r, "rot1"); err != nil {
		t.Fatal(err)
	}
	rr = e.request("rot1")
	if rr.Status.Phase != lapsv1.RotationSucceeded || rr.Status.Rotated != 1 || rr.Status.CompletionTime == nil {
		t.Fatalf("status %+v", rr.Status)
	}
	if c := conditions.Get(rr.Status.Conditions, lapsv1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("Ready %+v", c)
	}
	if conditions.Get(rr.Status.Conditions, lapsv1.ConditionReconciling) != nil {
		t.Fatal("Reconciling left on a succeeded request")
	}
	e.reconcileDevice("pc1")
	d = e.device("pc1")
	assertCondition(t, d, lapsv1.ConditionPasswordCurrent, metav1.ConditionTrue, ReasonNotExpired)
	assertCondition(t, d, lapsv1.ConditionRotating, metav1.ConditionFalse, ReasonNoRotationRequested)
}

func TestRotationRequestReconciler_deadlineFails(t *testing.T) {
	e := fleet(t, 1, newPolicy("base", lapsv1.PolicyRootCSP, 0, nil), newRequest("rot1", "pc1", nil))
	r := e.rotationReconciler()
	res, err := e.reconcileRequest(r, "rot1")
	if err != nil {
		t.Fatal(err)
	}
	if res.RequeueAfter != 12*time.Hour {
		t.Fatalf("RequeueAfter %v, want 12h (the deadline is later; MaxRequeue bounds it)", res.RequeueAfter)
	}
	e.clock.Step(DefaultRotationDeadline)
	if _, err := e.reconcileRequest(r, "rot1"); err != nil {
		t.Fatal(err)
	}
	rr := e.request("rot1")
	if rr.Status.Phase != lapsv1.RotationFailed || rr.Status.Failed != 1 {
		t.Fatalf("status %+v", rr.Status)
	}
	if !conditions.IsTrue(rr.Status.Conditions, lapsv1.ConditionStalled) {
		t.Fatal("failed request not Stalled")
	}
	// The deadline is the request's: its condition names it once, the entry keeps no message.
	if got := rr.Status.Results[0].Message; got != "" {
		t.Fatalf("message %q", got)
	}
	if c := conditions.Get(rr.Status.Conditions, lapsv1.ConditionStalled); !strings.HasSuffix(c.Message, "; 1 without evidence of rotation by the deadline 2026-11-21T12:00:00Z") {
		t.Fatalf("Stalled message %q", c.Message)
	}
}

func TestRotationRequestReconciler_rateLimits(t *testing.T) {
	p := newPolicy("base", lapsv1.PolicyRootCSP, 0, nil)
	p.Spec.Rotation = &lapsv1.RotationSettings{MaxConcurrent: ptr.To[int32](3), RatePerMinute: ptr.To[int32](2)}
	e := fleet(t, 6, p, newRequest("rot1", "", map[string]string{"group": "all"}))
	r := e.rotationReconciler()
	count := func() (int32, int32) {
		rr := e.request("rot1")
		return rr.Status.Requested, rr.Status.Pending
	}
	res, err := e.reconcileRequest(r, "rot1")
	if err != nil {
		t.Fatal(err)
	}
	if req, pend := count(); req != 2 || pend != 4 {
		t.Fatalf("after first pass requested=%d pending=%d, want 2/4 (rate)", req, pend)
	}
	if res.RequeueAfter != time.Minute {
		t.Fatalf("RequeueAfter %v, want 1m (the first write leaves the one-minute window)", res.RequeueAfter)
	}
	e.clock.Step(time.Minute)
	e.reconcileRequest(r, "rot1")
	if req, pend := count(); req != 3 || pend != 3 {
		t.Fatalf("after a minute requested=%d pending=%d, want 3/3 (maxConcurrent)", req, pend)
	}
	if n := len(e.dir.CallsOf("requestRotation")); n != 3 {
		t.Fatalf("directory writes %d, want 3", n)
	}
	e.clock.Step(time.Minute)
	e.deviceRotates(1, e.clock.Now())
	e.sync()
	e.reconcileRequest(r, "rot1")
	rr := e.request("rot1")
	if rr.Status.Rotated != 1 || rr.Status.Requested != 3 || rr.Status.Pending != 2 {
		t.Fatalf("after one rotation %+v", rr.Status)
	}
}

func TestRotationRequestReconciler_maintenanceWindow(t *testing.T) {
	p := newPolicy("base", lapsv1.PolicyRootCSP, 0, nil)
	// t0 is Friday 10:00 UTC; the window opens Friday 22:00 UTC.
	p.Spec.Rotation = &lapsv1.RotationSettings{MaintenanceWindows: []lapsv1.MaintenanceWindow{{Days: []lapsv1.DayOfWeek{"Friday"}, Start: "22:00", DurationMinutes: 240, TimeZone: "UTC"}}}
	e := fleet(t, 1, p, newRequest("rot1", "pc1", nil))
	r := e.rotationReconciler()
	res, _ := e.reconcileRequest(r, "rot1")
	rr := e.request("rot1")
	// A pending entry is the device and its state; the conditions say once why devices wait.
	if rr.Status.Pending != 1 || rr.Status.Results[0] != (lapsv1.DeviceRotationResult{Device: "pc1", State: lapsv1.DeviceRotationPending}) {
		t.Fatalf("status %+v", rr.Status.Results)
	}
	ready := conditions.Get(rr.Status.Conditions, lapsv1.ConditionReady)
	if ready == nil || ready.Reason != ReasonWaitingForWindow ||
		ready.Message != "0 of 1 device(s) rotated, 0 requested, 1 pending, 0 failed; pending: 1 waiting for the maintenance window of LapsPolicy base opening at 2026-11-20T22:00:00Z" {
		t.Fatalf("Ready %+v", ready)
	}
	if res.RequeueAfter != 12*time.Hour {
		t.Fatalf("RequeueAfter %v", res.RequeueAfter)
	}
}

// crashingDirectory stops the manager between recording intent and the directory write.
type crashingDirectory struct{ directory.Directory }

func (crashingDirectory) RequestRotation(context.Context, directory.DeviceRef, time.Time) error {
	panic("manager stopped")
}

func TestRotationRequestReconciler_restartBetweenIntentAndWrite(t *testing.T) {
	e := fleet(t, 1, newPolicy("base", lapsv1.PolicyRootCSP, 0, nil), newRequest("rot1", "pc1", nil))
	first := e.rotationReconciler()
	first.Directories = directoryconfig.NewSet(crashingDirectory{e.dir})
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("expected the crash")
			}
		}()
		e.reconcileRequest(first, "rot1")
	}()
	rr := e.request("rot1")
	res := rr.Status.Results[0]
	if res.State != lapsv1.DeviceRotationRequested || res.RequestedAt == nil || res.WrittenAt != nil {
		t.Fatalf("intent not recorded before the write: %+v", res)
	}
	if n := len(e.dir.CallsOf("requestRotation")); n != 0 {
		t.Fatalf("writes before restart %d", n)
	}
	e.clock.Step(5 * time.Minute)
	e.store = dirsync.NewStore()
	second := e.rotationReconciler() // a new manager process
	if _, err := e.reconcileRequest(second, "rot1"); err != nil {
		t.Fatal(err)
	}
	if n := len(e.dir.CallsOf("requestRotation")); n != 0 {
		t.Fatalf("wrote before the first snapshot: %d", n)
	}
	e.sync() // its first snapshot, taken after the claim expired, shows the write still needed
	for range 3 {
		if _, err := e.reconcileRequest(second, "rot1"); err != nil {
			t.Fatal(err)
		}
	}
	calls := e.dir.CallsOf("requestRotation")
	if len(calls) != 1 || !calls[0].At.Equal(res.RequestTime()) {
		t.Fatalf("writes after restart %+v, want exactly one at %v", calls, res.RequestedAt)
	}
}

func TestRotationRequestReconciler_ttlDeletes(t *testing.T) {
	rq := newRequest("rot1", "pc1", nil)
	rq.Spec.TTLSecondsAfterFinished = ptr.To[int32](600)
	e := fleet(t, 1, newPolicy("base", lapsv1.PolicyRootCSP, 0, nil), rq)
	r := e.rotationReconciler()
	e.reconcileRequest(r, "rot1")
	e.deviceRotates(1, t0.Add(time.Minute))
	e.sync()
	e.clock.Step(2 * time.Minute)
	res, _ := e.reconcileRequest(r, "rot1")
	if res.RequeueAfter != 10*time.Minute {
		t.Fatalf("RequeueAfter %v, want the TTL", res.RequeueAfter)
	}
	e.clock.Step(10 * time.Minute)
	e.reconcileRequest(r, "rot1")
	var list lapsv1.RotationRequestList
	if err := e.client.List(context.Background(), &list); err != nil || len(list.Items) != 0 {
		t.Fatalf("request not deleted: %d %v", len(list.Items), err)
	}
}

func TestRotationRequestReconciler_noTargetsStalls(t *testing.T) {
	e := fleet(t, 1, newPolicy("base", lapsv1.PolicyRootCSP, 0, nil), newRequest("rot1", "", map[string]string{"group": "none"}))
	if _, err := e.reconcileRequest(e.rotationReconciler(), "rot1"); err != nil {
		t.Fatal(err)
	}
	rr := e.request("rot1")
	if rr.Status.Phase != lapsv1.RotationFailed || !conditions.IsTrue(rr.Status.Conditions, lapsv1.ConditionStalled) {
		t.Fatalf("status %+v", rr.Status)
	}
}

func TestRotationRequestReconciler_writeFailureBacksOff(t *testing.T) {
	e := fleet(t, 1, newPolicy("base", lapsv1.PolicyRootCSP, 0, nil), newRequest("rot1", "pc1", nil))
	e.dir.FailNext("requestRotation", directory.NewError(directory.ErrUnreachable, "corp", "requestRotation", nil))
	r := e.rotationReconciler()
	res, err := e.reconcileRequest(r, "rot1")
	if err != nil {
		t.Fatal(err)
	}
	got := e.request("rot1").Status.Results[0]
	if got.State != lapsv1.DeviceRotationRequested || got.Attempts != 1 || got.LastFailureTime == nil || got.WrittenAt != nil {
		t.Fatalf("after a failed write %+v", got)
	}
	if got.Message != "directory write failed (attempt 1, DirectoryUnreachable); next attempt at 2026-11-20T10:01:00Z" {
		t.Fatalf("message %q", got.Message)
	}
	if res.RequeueAfter != time.Minute {
		t.Fatalf("RequeueAfter %v, want 1m", res.RequeueAfter)
	}
	e.clock.Step(30 * time.Second)
	e.reconcileRequest(r, "rot1")
	if n := len(e.dir.CallsOf("requestRotation")); n != 1 {
		t.Fatalf("retried during backoff: %d calls", n)
	}
	e.clock.Step(30 * time.Second)
	e.reconcileRequest(r, "rot1")
	got = e.request("rot1").Status.Results[0]
	calls := e.dir.CallsOf("requestRotation")
	if len(calls) != 2 || got.WrittenAt == nil || got.LastFailureTime != nil || !calls[1].At.Equal(got.RequestTime()) {
		t.Fatalf("after backoff: calls %+v result %+v", calls, got)
	}
}

// TestRotationRequestReconciler_staleCacheDoesNotRepeatTheWrite: a reconcile that reads a cache
// which has not yet seen the WrittenAt patch must not write the directory again.
func TestRotationRequestReconciler_staleCacheDoesNotRepeatTheWrite(t *testing.T) {
	e := fleet(t, 1, newPolicy("base", lapsv1.PolicyRootCSP, 0, nil), newRequest("rot1", "pc1", nil))
	r := e.rotationReconciler()
	if _, err := e.reconcileRequest(r, "rot1"); err != nil {
		t.Fatal(err)
	}
	// The claimed-not-yet-written version, as a lagging cache would still show it (the claim
	// patch: requestedAt and lastAttemptTime set, no writtenAt).
	stale := e.request("rot1")
	res0 := &stale.Status.Results[0]
	res0.RequestedAt, res0.LastAttemptTime, res0.WrittenAt = res0.WrittenAt, res0.WrittenAt, nil
	stale.ResourceVersion = "1"
	r.Client = interceptor.NewClient(e.client.(client.WithWatch), interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, o client.Object, opts ...client.GetOption) error {
			if rr, ok := o.(*lapsv1.RotationRequest); ok {
				stale.DeepCopyInto(rr)
				return nil
			}
			return c.Get(ctx, key, o, opts...)
		},
	})
	res, err := e.reconcileRequest(r, "rot1")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(e.dir.CallsOf("requestRotation")); n != 1 {
		t.Fatalf("directory writes %d, want 1", n)
	}
	if res.RequeueAfter != time.Second {
		t.Fatalf("RequeueAfter %v, want 1s (the stale copy's patch was refused)", res.RequeueAfter)
	}
}
