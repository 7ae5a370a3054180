package controllers

// envtest stories: a real apiserver, every reconciler in one manager, the recording directory
// fake and a fake clock. Waits poll (eventually); logic tests live in the *_controller_test.go
// files on the fake client.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/schedule"
)

const wait = 20 * time.Second

func in[T client.Object](o T, namespace string) T {
	o.SetNamespace(namespace)
	o.SetGeneration(0)
	return o
}

func mustCreate(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if rr, ok := o.(*lapsv1.RotationRequest); ok {
			rr.Spec.RequestedBy = "" // recorded by admission
		}
		if err := k8s.Create(context.Background(), o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
}

func TestStory_policyToDeviceConditions(t *testing.T) {
	const ns = "story-policy"
	createNamespace(t, ns)
	now := suiteClock.Now()
	suiteDir.Put(newRecord("ws1", 101, now.Add(-24*time.Hour)))
	mustCreate(t, in(newPolicy("base", lapsv1.PolicyRootCSP, 0, nil), ns), in(newDevice("ws1", 101, map[string]string{"tier": "front"}), ns))
	syncCorp(t)
	eventually(t, wait, func() error {
		d, err := getDevice(ns, "ws1")
		if err != nil {
			return err
		}
		if err := condIs(d.Status.Conditions, lapsv1.ConditionPolicyApplied, metav1.ConditionTrue, ReasonApplied); err != nil {
			return err
		}
		return condIs(d.Status.Conditions, lapsv1.ConditionReady, metav1.ConditionTrue, ReasonCompliant)
	})
	eventually(t, wait, func() error {
		var p lapsv1.LapsPolicy
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "base"}, &p); err != nil {
			return err
		}
		if p.Status.MatchedDevices != 1 || p.Status.CompliantDevices != 1 {
			return fmt.Errorf("counts %+v", p.Status)
		}
		return condIs(p.Status.Conditions, lapsv1.ConditionReady, metav1.ConditionTrue, "")
	})

	// A second policy of a weaker root also selects the device: a conflict, listed.
	mustCreate(t, in(newPolicy("gpo", lapsv1.PolicyRootGroupPolicy, 10, map[string]string{"tier": "front"}), ns))
	eventually(t, wait, func() error {
		d, err := getDevice(ns, "ws1")
		if err != nil {
			return err
		}
		if strings.Join(d.Status.ConflictingPolicies, ",") != "gpo" || d.Status.EffectivePolicy.Name != "base" {
			return fmt.Errorf("effective %v conflicts %v", d.Status.EffectivePolicy, d.Status.ConflictingPolicies)
		}
		return condIs(d.Status.Conditions, lapsv1.ConditionPolicyApplied, metav1.ConditionTrue, ReasonAppliedWithConflicts)
	})

	// The agent reports a different local version: an image rollback.
	d, _ := getDevice(ns, "ws1")
	d.Status.Agent = &lapsv1.AgentStatus{LocalPasswordVersion: "99999999-9999-9999-9999-999999999999", OSBuild: "10.0.26100.2033", LastReportTime: ptr.To(metav1.NewTime(now))}
	if err := k8s.Status().Update(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, func() error {
		d, err := getDevice(ns, "ws1")
		if err != nil {
			return err
		}
		if err := condIs(d.Status.Conditions, lapsv1.ConditionRollbackDetected, metav1.ConditionTrue, ReasonVersionMismatch); err != nil {
			return err
		}
		return condIs(d.Status.Conditions, lapsv1.ConditionReady, metav1.ConditionFalse, ReasonVersionMismatch)
	})
}

func TestStory_expiryRotationEvidenceSucceeded(t *testing.T) {
	const ns = "story-rotate"
	createNamespace(t, ns)
	now := suiteClock.Now()
	suiteDir.Put(newRecord("ws2", 201, now.Add(-31*24*time.Hour)))
	mustCreate(t, in(newPolicy("base", lapsv1.PolicyRootCSP, 0, nil), ns), in(newDevice("ws2", 201, nil), ns))
	syncCorp(t)
	eventually(t, wait, func() error {
		d, err := getDevice(ns, "ws2")
		if err != nil {
			return err
		}
		return condIs(d.Status.Conditions, lapsv1.ConditionPasswordCurrent, metav1.ConditionFalse, ReasonExpired)
	})

	// kubectl annotate / an Argo CD resource action asks for a rotation now.
	d, _ := getDevice(ns, "ws2")
	value := now.UTC().Format(time.RFC3339)
	patch := client.MergeFrom(d.DeepCopy())
	d.Annotations = map[string]string{lapsv1.AnnotationRotateRequestedAt: value}
	if err := k8s.Patch(context.Background(), d, patch); err != nil {
		t.Fatal(err)
	}
	name := RotationRequestNameFor("ws2", value)
	var rr lapsv1.RotationRequest
	eventually(t, wait, func() error {
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &rr); err != nil {
			return err
		}
		if len(rr.Status.Results) != 1 || rr.Status.Results[0].WrittenAt == nil {
			return fmt.Errorf("results %+v", rr.Status.Results)
		}
		return nil
	})
	if rr.Spec.RequestedBy == "" {
		t.Fatal("requestedBy not recorded by admission")
	}
	if by := rr.Annotations[lapsv1.AnnotationRotateRequestedBy]; by == "" || !strings.Contains(rr.Spec.Reason, "set by "+by) {
		t.Fatalf("reason does not name who set the annotation: %q", rr.Spec.Reason)
	}
	if calls := callsFor(guidOf(201)); len(calls) != 1 || !calls[0].At.Equal(rr.Status.Results[0].RequestTime()) {
		t.Fatalf("directory writes %+v", calls)
	}
	eventually(t, wait, func() error {
		d, err := getDevice(ns, "ws2")
		if err != nil {
			return err
		}
		if d.Status.LastRotateAnnotation != value {
			return fmt.Errorf("annotation not acknowledged: %q", d.Status.LastRotateAnnotation)
		}
		if err := condIs(d.Status.Conditions, lapsv1.ConditionRotating, metav1.ConditionTrue, ReasonRotationRequested); err != nil {
			return err
		}
		// A requested rotation is progress, not failure: Flux and `kubectl wait` keep waiting.
		return condIs(d.Status.Conditions, lapsv1.ConditionReady, metav1.ConditionUnknown, ReasonRotationInProgress)
	})
	d, _ = getDevice(ns, "ws2")
	assertKstatus(t, d, status.InProgressStatus)

	// The device's next cycle: a new password, version and update time in the directory.
	suiteClock.Step(40 * time.Minute)
	suiteDir.Update(guidOf(201), func(r *directory.DeviceRecord) {
		r.CurrentPasswordVersion = "22222222-0000-0000-0000-000000000201"
		r.PasswordUpdateTime = suiteClock.Now()
		r.PasswordExpirationTime = suiteClock.Now().Add(30 * 24 * time.Hour)
	})
	syncCorp(t)
	eventually(t, wait, func() error {
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &rr); err != nil {
			return err
		}
		if rr.Status.Phase != lapsv1.RotationSucceeded {
			return fmt.Errorf("phase %s %+v", rr.Status.Phase, rr.Status.Results)
		}
		return nil
	})
	eventually(t, wait, func() error {
		d, err := getDevice(ns, "ws2")
		if err != nil {
			return err
		}
		if err := condIs(d.Status.Conditions, lapsv1.ConditionRotating, metav1.ConditionFalse, ""); err != nil {
			return err
		}
		return condIs(d.Status.Conditions, lapsv1.ConditionPasswordCurrent, metav1.ConditionTrue, ReasonNotExpired)
	})
	// Events on the device say who asked and why.
	eventually(t, wait, func() error {
		var evs eventsv1.EventList
		if err := k8s.List(context.Background(), &evs, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.Regarding.Kind == "ManagedDevice" && e.Reason == "RotationRequested" && strings.Contains(e.Note, rr.Spec.RequestedBy) {
				return nil
			}
		}
		return fmt.Errorf("no RotationRequested event naming %s among %d events", rr.Spec.RequestedBy, len(evs.Items))
	})
}

func callsFor(key string) []struct{ At time.Time } {
	var out []struct{ At time.Time }
	for _, c := range suiteDir.CallsOf("requestRotation") {
		if c.Device.Key == key {
			out = append(out, struct{ At time.Time }{c.At})
		}
	}
	return out
}

func TestStory_requestedByFromAdmission(t *testing.T) {
	const ns = "story-audit"
	createNamespace(t, ns)
	cfg := rest.CopyConfig(testCfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "alice@corp.example", Groups: []string{"system:masters"}}
	alice, err := client.New(cfg, client.Options{Scheme: testScheme(nil)})
	if err != nil {
		t.Fatal(err)
	}
	rr := in(newRequest("by-alice", "ws-none", nil), ns)
	rr.Spec.RequestedBy = ""
	if err := alice.Create(context.Background(), rr); err != nil {
		t.Fatal(err)
	}
	if rr.Spec.RequestedBy != "alice@corp.example" {
		t.Fatalf("requestedBy = %q", rr.Spec.RequestedBy)
	}
	forged := in(newRequest("forged", "ws-none", nil), ns)
	forged.Spec.RequestedBy = "ceo@corp.example"
	err = alice.Create(context.Background(), forged)
	if err == nil || !strings.Contains(err.Error(), "differs from the requesting user") {
		t.Fatalf("forged requestedBy accepted: %v", err)
	}
}

func TestStory_deadlineFails(t *testing.T) {
	const ns = "story-deadline"
	createNamespace(t, ns)
	suiteDir.Put(newRecord("ws3", 301, suiteClock.Now().Add(-24*time.Hour)))
	mustCreate(t, in(newPolicy("base", lapsv1.PolicyRootCSP, 0, nil), ns), in(newDevice("ws3", 301, nil), ns))
	syncCorp(t)
	rr := in(newRequest("rot", "ws3", nil), ns)
	rr.Spec.Deadline = ptr.To(metav1.NewTime(suiteClock.Now().Add(time.Hour)))
	mustCreate(t, rr)
	eventually(t, wait, func() error {
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(rr), rr); err != nil {
			return err
		}
		if rr.Status.Requested != 1 {
			return fmt.Errorf("status %+v", rr.Status)
		}
		return nil
	})
	// The device never rotates. The deadline passes; the requeue timer fires (RequeueAfter runs
	// on real time, so the test delivers the wake-up itself).
	suiteClock.Step(2 * time.Hour)
	// The manager reconciles the same object concurrently, so this call may lose an optimistic
	// concurrency race (a conflict); retry it as the work queue would.
	eventually(t, wait, func() error {
		_, err := suite.Requests.Reconcile(context.Background(), reconcile.Request{NamespacedName: client.ObjectKeyFromObject(rr)})
		return err
	})
	eventually(t, wait, func() error {
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(rr), rr); err != nil {
			return err
		}
		if rr.Status.Phase != lapsv1.RotationFailed {
			return fmt.Errorf("phase %s", rr.Status.Phase)
		}
		return condIs(rr.Status.Conditions, lapsv1.ConditionStalled, metav1.ConditionTrue, ReasonRotationFailed)
	})
	assertKstatus(t, rr, "Failed")
	// The device carries the failure for dashboards and backoff: one failed rotation, when, and
	// which request.
	eventually(t, wait, func() error {
		d := &lapsv1.ManagedDevice{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "ws3"}, d); err != nil {
			return err
		}
		if d.Status.FailedRotationAttempts != 1 || d.Status.LastFailureTime == nil || d.Status.LastRotationRequest != "rot" {
			return fmt.Errorf("device rotation history: attempts %d, last failure %v, last request %q",
				d.Status.FailedRotationAttempts, d.Status.LastFailureTime, d.Status.LastRotationRequest)
		}
		return nil
	})
}

func TestStory_rateLimitHonoured(t *testing.T) {
	const ns = "story-rate"
	createNamespace(t, ns)
	p := in(newPolicy("limited", lapsv1.PolicyRootCSP, 0, nil), ns)
	p.Spec.Rotation = &lapsv1.RotationSettings{MaxConcurrent: ptr.To[int32](2)}
	mustCreate(t, p)
	var keys []string
	for i := 401; i <= 405; i++ {
		n := fmt.Sprintf("rl%d", i)
		suiteDir.Put(newRecord(n, i, suiteClock.Now().Add(-24*time.Hour)))
		mustCreate(t, in(newDevice(n, i, map[string]string{"wave": "1"}), ns))
		keys = append(keys, guidOf(i))
	}
	syncCorp(t)
	eventually(t, wait, func() error {
		var list lapsv1.ManagedDeviceList
		if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, d := range list.Items {
			if d.Status.EffectivePolicy == nil {
				return fmt.Errorf("%s has no effective policy yet", d.Name)
			}
		}
		return nil
	})
	mustCreate(t, in(newRequest("wave1", "", map[string]string{"wave": "1"}), ns))
	var rr lapsv1.RotationRequest
	eventually(t, wait, func() error {
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "wave1"}, &rr); err != nil {
			return err
		}
		if rr.Status.Requested != 2 || rr.Status.Pending != 3 {
			return fmt.Errorf("requested %d pending %d", rr.Status.Requested, rr.Status.Pending)
		}
		return nil
	})
	writes := 0
	for _, k := range keys {
		writes += len(callsFor(k))
	}
	if writes != 2 {
		t.Fatalf("directory writes %d, want 2 (maxConcurrent)", writes)
	}
}

func TestStory_unknownDirectoryRef(t *testing.T) {
	const ns = "story-unknown"
	createNamespace(t, ns)
	d := in(newDevice("ws5", 501, nil), ns)
	d.Spec.DirectoryRef.Name = "nope"
	p := in(newPolicy("cloudy", lapsv1.PolicyRootCSP, 0, nil), ns)
	p.Spec.BackupDirectory = lapsv1.BackupDirectoryEntraID
	p.Spec.DirectoryRef.Name = "cloud"
	p.Spec.PasswordAgeDays = ptr.To[int32](30)
	mustCreate(t, d, p)
	eventually(t, wait, func() error {
		got, err := getDevice(ns, "ws5")
		if err != nil {
			return err
		}
		if err := condIs(got.Status.Conditions, lapsv1.ConditionStalled, metav1.ConditionTrue, "UnknownDirectory"); err != nil {
			return err
		}
		if c := got.Status.Conditions[0]; !strings.Contains(c.Message, "known: cloud, corp") {
			return fmt.Errorf("message %q", c.Message)
		}
		assertKstatus(t, got, "Failed")
		return nil
	})
	eventually(t, wait, func() error {
		var got lapsv1.LapsPolicy
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(p), &got); err != nil {
			return err
		}
		return condIs(got.Status.Conditions, lapsv1.ConditionStalled, metav1.ConditionTrue, "DirectoryTypeUnsupported")
	})
}

// blockingDirectory plays a manager that dies between recording intent and writing: the write
// never reaches the directory; it returns only when the manager stops.
type blockingDirectory struct {
	directory.Directory
	reached chan struct{}
}

func (b *blockingDirectory) RequestRotation(ctx context.Context, _ directory.DeviceRef, _ time.Time) error {
	select {
	case b.reached <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}

func TestStory_restartBetweenIntentAndWrite(t *testing.T) {
	const ns = "story-restart"
	createNamespace(t, ns)
	shard := map[string]string{shardLabel: "restart"}
	suiteDir.Put(newRecord("ws6", 601, suiteClock.Now().Add(-24*time.Hour)))
	mustCreate(t, in(newPolicy("base", lapsv1.PolicyRootCSP, 0, nil), ns), in(newDevice("ws6", 601, shard), ns))

	// Manager A: records intent, then "crashes" inside the directory write.
	blocking := &blockingDirectory{Directory: suiteDir, reached: make(chan struct{}, 1)}
	ctxA, stopA := context.WithCancel(context.Background())
	var writesA atomicInt
	mgrA, compsA, err := newManager(ctxA, "shard=restart", blocking, &writesA.Int64, nil)
	if err != nil {
		t.Fatal(err)
	}
	doneA := make(chan error, 1)
	go func() { doneA <- mgrA.Start(ctxA) }()
	mgrA.GetCache().WaitForCacheSync(ctxA)
	compsA.Syncers[0].SyncOnce(ctxA)
	rr := in(newRequest("rot", "ws6", nil), ns)
	rr.Labels = shard
	mustCreate(t, rr)
	select {
	case <-blocking.reached:
	case <-time.After(wait):
		t.Fatal("manager A never reached the directory write")
	}
	stopA()
	<-doneA
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(rr), rr); err != nil {
		t.Fatal(err)
	}
	res := rr.Status.Results[0]
	if res.State != lapsv1.DeviceRotationRequested || res.RequestedAt == nil || res.LastAttemptTime == nil || res.WrittenAt != nil {
		t.Fatalf("intent and claim not durable before the write: %+v", res)
	}
	if n := len(callsFor(guidOf(601))); n != 0 {
		t.Fatalf("writes before restart: %d", n)
	}

	// Manager B: a new process started after A's claim expired; its first snapshot, read after
	// that, shows the write still needed, so it writes exactly once, with the recorded time.
	suiteClock.Step(schedule.ClaimTTL + time.Second)
	ctxB, stopB := context.WithCancel(context.Background())
	defer stopB()
	var writesB atomicInt
	mgrB, compsB, err := newManager(ctxB, "shard=restart", suiteDir, &writesB.Int64, nil)
	if err != nil {
		t.Fatal(err)
	}
	doneB := make(chan error, 1)
	go func() { doneB <- mgrB.Start(ctxB) }()
	mgrB.GetCache().WaitForCacheSync(ctxB)
	compsB.Syncers[0].SyncOnce(ctxB)
	eventually(t, wait, func() error {
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(rr), rr); err != nil {
			return err
		}
		if rr.Status.Results[0].WrittenAt == nil {
			return errors.New("not written yet")
		}
		return nil
	})
	calls := callsFor(guidOf(601))
	if len(calls) != 1 || !calls[0].At.Equal(res.RequestTime()) {
		t.Fatalf("writes after restart %+v, want exactly one at %s", calls, res.RequestedAt)
	}
	stopB()
	<-doneB
}
