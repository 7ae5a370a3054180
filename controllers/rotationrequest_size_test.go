package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/conditions"
)

// storedBudget is the most a RotationRequest over lapsv1.MaxRotationTargets devices may take as
// stored (managedFields included) at any point of its life: etcd refuses a value over 1.5 MiB.
const storedBudget = 1<<20 + 1<<18 // 1.25 MiB

// bigFleet is n devices of policy base (effective policy in status, records in the directory),
// named like servers ("srv-00001"), with one selector request over all of them.
func bigFleet(t testing.TB, n int, policy *lapsv1.LapsPolicy) *env {
	objs := []client.Object{policy, newRequest("big", "", map[string]string{"group": "all"})}
	for i := 1; i <= n; i++ {
		d := newDevice(fmt.Sprintf("srv-%05d", i), i, map[string]string{"group": "all"})
		d.Status.EffectivePolicy = &lapsv1.EffectivePolicy{Name: policy.Name, PolicyRoot: policy.Spec.PolicyRoot}
		objs = append(objs, d)
	}
	e := newEnv(t, objs...)
	e.rec = &events.FakeRecorder{} // no channel: thousands of events are dropped, not blocked on
	for i := 1; i <= n; i++ {
		e.dir.Put(newRecord(fmt.Sprintf("srv-%05d", i), i, t0.Add(-24*time.Hour)))
	}
	e.sync()
	return e
}

// pass runs one reconcile of request name and returns its RequeueAfter.
func (e *env) pass(r *RotationRequestReconciler, name string) time.Duration {
	e.t.Helper()
	res, err := e.reconcileRequest(r, name)
	if err != nil {
		e.t.Fatal(err)
	}
	return res.RequeueAfter
}

// TestRotationRequest_storedSizeAt10k walks a request over MaxRotationTargets devices through
// its life with the reconciler (all pending behind a maintenance window; all written at once by
// a policy without limits; then all rotated, or all failed at the deadline), stores each status
// in the apiserver as the controller patches it, and measures the object read back, managedFields
// included. A size fact, not a timing.
func TestRotationRequest_storedSizeAt10k(t *testing.T) {
	n := lapsv1.MaxRotationTargets
	p := newPolicy("base", lapsv1.PolicyRootCSP, 0, nil)
	// t0 is Friday 10:00 UTC; the window opens Friday 22:00 UTC.
	p.Spec.Rotation = &lapsv1.RotationSettings{MaintenanceWindows: []lapsv1.MaintenanceWindow{{Days: []lapsv1.DayOfWeek{"Friday"}, Start: "22:00", DurationMinutes: 240, TimeZone: "UTC"}}}
	e := bigFleet(t, n, p)
	r := e.rotationReconciler()

	const storeNS = "rr-size"
	createNamespace(t, storeNS)
	stored := map[string]*lapsv1.RotationRequest{}
	store := func(life, stage string) {
		t.Helper()
		live, ok := stored[life]
		if !ok {
			// shard=scale: the suite's manager does not act on it; only this test writes it.
			live = &lapsv1.RotationRequest{ObjectMeta: metav1.ObjectMeta{Namespace: storeNS, Name: life, Labels: map[string]string{shardLabel: "scale"}},
				Spec: lapsv1.RotationRequestSpec{DeviceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"group": "all"}}, Reason: "size of a request over 10000 devices"}}
			if err := k8s.Create(context.Background(), live); err != nil {
				t.Fatal(err)
			}
			// Gone before a later test starts a manager of shard scale.
			t.Cleanup(func() { _ = k8s.Delete(context.Background(), live) })
			stored[life] = live
		}
		before := live.DeepCopy()
		live.Status = *e.request("big").Status.DeepCopy()
		if _, err := patchStatusLocked(context.Background(), k8s, before, live, statusOfRequest); err != nil {
			t.Fatalf("%s/%s: storing the status: %v", life, stage, err)
		}
		var got lapsv1.RotationRequest
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(live), &got); err != nil {
			t.Fatal(err)
		}
		data, err := json.Marshal(&got)
		if err != nil {
			t.Fatal(err)
		}
		mf, _ := json.Marshal(got.ManagedFields)
		t.Logf("MEASURE %s/%s: %d targets, %d bytes stored (%d per target), managedFields %d bytes in %d entries",
			life, stage, len(got.Status.Results), len(data), len(data)/n, len(mf), len(got.ManagedFields))
		if len(got.Status.Results) != n {
			t.Fatalf("%s/%s: %d results stored, want %d", life, stage, len(got.Status.Results), n)
		}
		if len(data) > storedBudget {
			t.Fatalf("%s/%s: %d bytes stored, budget %d", life, stage, len(data), storedBudget)
		}
		*live = got
	}

	e.pass(r, "big")
	if st := e.request("big").Status; st.Pending != int32(n) {
		t.Fatalf("behind the window: %d pending, want %d", st.Pending, n)
	}
	store("rotated", "pending")
	store("failed", "pending")

	var policy lapsv1.LapsPolicy
	if err := e.client.Get(context.Background(), client.ObjectKeyFromObject(p), &policy); err != nil {
		t.Fatal(err)
	}
	policy.Spec.Rotation = nil
	if err := e.client.Update(context.Background(), &policy); err != nil {
		t.Fatal(err)
	}
	e.clock.Step(time.Minute)
	e.pass(r, "big")
	if st := e.request("big").Status; st.Requested != int32(n) || len(e.dir.CallsOf("requestRotation")) != n {
		t.Fatalf("without limits: %d requested, %d writes, want %d", st.Requested, len(e.dir.CallsOf("requestRotation")), n)
	}
	store("rotated", "requested")
	store("failed", "requested")

	e.clock.Step(DefaultRotationDeadline)
	e.pass(r, "big")
	if st := e.request("big").Status; st.Failed != int32(n) {
		t.Fatalf("after the deadline: %d failed, want %d", st.Failed, n)
	}
	store("failed", "failed")

	// The same request, rotated instead: rewind its status to requested and show the evidence.
	e2 := bigFleet(t, n, newPolicy("base", lapsv1.PolicyRootCSP, 0, nil))
	r2 := e2.rotationReconciler()
	e2.pass(r2, "big")
	e2.clock.Step(40 * time.Minute)
	for i := 1; i <= n; i++ {
		e2.deviceRotates(i, e2.clock.Now())
	}
	e2.sync()
	e2.pass(r2, "big")
	if st := e2.request("big").Status; st.Rotated != int32(n) {
		t.Fatalf("after evidence: %d rotated, want %d", st.Rotated, n)
	}
	e = e2
	store("rotated", "rotated")
}

// TestRotationRequest_tooManyTargetsStalls: a selector over more than MaxRotationTargets devices
// stalls the request, says how many matched and what to do, and writes nothing anywhere.
func TestRotationRequest_tooManyTargetsStalls(t *testing.T) {
	e := bigFleet(t, lapsv1.MaxRotationTargets+1, newPolicy("base", lapsv1.PolicyRootCSP, 0, nil))
	res := e.pass(e.rotationReconciler(), "big")
	rr := e.request("big")
	stalledCond := conditions.Get(rr.Status.Conditions, lapsv1.ConditionStalled)
	if rr.Status.Phase != lapsv1.RotationFailed || stalledCond == nil || stalledCond.Reason != ReasonTooManyTargets {
		t.Fatalf("status %+v", rr.Status.Conditions)
	}
	for _, want := range []string{"10001 ManagedDevices", "at most 10000", "narrower selectors", "nothing was written"} {
		if !strings.Contains(stalledCond.Message, want) {
			t.Errorf("Stalled message %q does not say %q", stalledCond.Message, want)
		}
	}
	if len(rr.Status.Results) != 0 || rr.Status.StartTime != nil || len(e.dir.CallsOf("requestRotation")) != 0 || res != 0 {
		t.Fatalf("a stalled request acted: %d results, start %v, directory writes %d, requeue %v", len(rr.Status.Results), rr.Status.StartTime, len(e.dir.CallsOf("requestRotation")), res)
	}
	// Exactly the cap is accepted.
	e = bigFleet(t, lapsv1.MaxRotationTargets, newPolicy("base", lapsv1.PolicyRootCSP, 0, nil))
	e.pass(e.rotationReconciler(), "big")
	if st := e.request("big").Status; st.Targets != int32(lapsv1.MaxRotationTargets) || st.Phase != lapsv1.RotationInProgress {
		t.Fatalf("at the cap: %d targets, phase %s", st.Targets, st.Phase)
	}
}

// TestCompactResult: each state keeps what it needs and nothing else.
func TestCompactResult(t *testing.T) {
	at := func(m int) *metav1.Time { return ptr.To(metav1.NewTime(t0.Add(time.Duration(m) * time.Minute))) }
	full := lapsv1.DeviceRotationResult{Device: "pc1", RequestedAt: at(0), PreviousPasswordVersion: "v1", WrittenAt: at(0), RotatedAt: at(30),
		LastFailureTime: at(-5), Attempts: 2, LastAttemptTime: at(0), Message: "a message"}
	with := func(state lapsv1.DeviceRotationState, change func(*lapsv1.DeviceRotationResult)) lapsv1.DeviceRotationResult {
		r := full
		r.State = state
		if change != nil {
			change(&r)
		}
		return r
	}
	tests := []struct {
		name     string
		in, want lapsv1.DeviceRotationResult
	}{
		{"pending is the device and its state", with(lapsv1.DeviceRotationPending, nil),
			lapsv1.DeviceRotationResult{Device: "pc1", State: lapsv1.DeviceRotationPending}},
		{"requested and written at once drops the claim time, the request time and the message", with(lapsv1.DeviceRotationRequested, func(r *lapsv1.DeviceRotationResult) { r.RotatedAt, r.LastFailureTime = nil, nil }),
			lapsv1.DeviceRotationResult{Device: "pc1", State: lapsv1.DeviceRotationRequested, PreviousPasswordVersion: "v1", WrittenAt: at(0), Attempts: 2}},
		{"requested and written by a later attempt keeps the request time", with(lapsv1.DeviceRotationRequested, func(r *lapsv1.DeviceRotationResult) {
			r.RotatedAt, r.LastFailureTime, r.WrittenAt, r.LastAttemptTime = nil, nil, at(2), at(2)
		}),
			lapsv1.DeviceRotationResult{Device: "pc1", State: lapsv1.DeviceRotationRequested, RequestedAt: at(0), PreviousPasswordVersion: "v1", WrittenAt: at(2), Attempts: 2}},
		{"requested with a failed write keeps the claim and its explanation", with(lapsv1.DeviceRotationRequested, func(r *lapsv1.DeviceRotationResult) { r.WrittenAt, r.RotatedAt = nil, nil }),
			lapsv1.DeviceRotationResult{Device: "pc1", State: lapsv1.DeviceRotationRequested, RequestedAt: at(0), PreviousPasswordVersion: "v1", LastFailureTime: at(-5), Attempts: 2, LastAttemptTime: at(0), Message: "a message"}},
		{"rotated keeps the write, the rotation and more than one attempt", with(lapsv1.DeviceRotationRotated, nil),
			lapsv1.DeviceRotationResult{Device: "pc1", State: lapsv1.DeviceRotationRotated, WrittenAt: at(0), RotatedAt: at(30), Attempts: 2}},
		{"rotated after one attempt does not count it", with(lapsv1.DeviceRotationRotated, func(r *lapsv1.DeviceRotationResult) { r.Attempts = 1 }),
			lapsv1.DeviceRotationResult{Device: "pc1", State: lapsv1.DeviceRotationRotated, WrittenAt: at(0), RotatedAt: at(30)}},
		{"failed keeps the write and the failure", with(lapsv1.DeviceRotationFailed, func(r *lapsv1.DeviceRotationResult) { r.RotatedAt = nil }),
			lapsv1.DeviceRotationResult{Device: "pc1", State: lapsv1.DeviceRotationFailed, WrittenAt: at(0), LastFailureTime: at(-5), Attempts: 2, Message: "a message"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in
			compactResult(&got)
			if !equalResult(got, tt.want) {
				t.Fatalf("compactResult =\n%+v\nwant\n%+v", got, tt.want)
			}
			again := got
			if compactResult(&again); !equalResult(again, got) {
				t.Fatal("compactResult is not idempotent")
			}
		})
	}
}

func equalResult(a, b lapsv1.DeviceRotationResult) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestRotationRequest_limitsExactAt10k runs a selector request over MaxRotationTargets devices of
// one policy (maxConcurrent 250, ratePerMinute 100) for 20 simulated minutes, a device rotating
// 3 minutes after its write. Passes run when the reconciler asked (RequeueAfter) or when a device
// showed a rotation (the ManagedDevice watch). From the directory's write times and the stored
// results: no 60-second window holds more than 100 writes and the busiest holds exactly 100; at
// most 250 devices are in flight at once and 250 is reached; each pass claims every slot free.
func TestRotationRequest_limitsExactAt10k(t *testing.T) {
	const maxConcurrent, rate, rotateAfter = 250, 100, 3 * time.Minute
	n := lapsv1.MaxRotationTargets
	p := newPolicy("base", lapsv1.PolicyRootCSP, 0, nil)
	p.Spec.Rotation = &lapsv1.RotationSettings{MaxConcurrent: ptr.To[int32](maxConcurrent), RatePerMinute: ptr.To[int32](rate)}
	e := bigFleet(t, n, p)
	r := e.rotationReconciler()
	index := map[string]int{}
	for i := 1; i <= n; i++ {
		index[fmt.Sprintf("srv-%05d", i)] = i
	}
	rotated := map[string]bool{}
	var due time.Time
	passes, claimingPasses := 0, 0
	var passTime time.Duration
	end := t0.Add(20 * time.Minute)
	for now := t0; !now.After(end); now = now.Add(10 * time.Second) {
		e.clock.SetTime(now)
		evidence := false
		for _, res := range e.request("big").Status.Results {
			if res.WrittenAt != nil && !rotated[res.Device] && !now.Before(res.WrittenAt.Add(rotateAfter)) {
				e.deviceRotates(index[res.Device], now)
				rotated[res.Device], evidence = true, true
			}
		}
		if evidence {
			e.sync()
		}
		if !evidence && now.Before(due) {
			continue
		}
		writes := len(e.dir.CallsOf("requestRotation"))
		start := time.Now()
		after := e.pass(r, "big")
		passTime += time.Since(start)
		passes++
		due = now.Add(after)
		if len(e.dir.CallsOf("requestRotation")) > writes {
			claimingPasses++
		}
		// Every free slot was taken: the pass left no slot unclaimed while devices wait.
		rr := e.request("big")
		if rr.Status.Pending > 0 {
			if inFlight := int(rr.Status.Requested); inFlight < maxConcurrent && writesInWindow(e, now) < rate {
				t.Fatalf("%s: a pass left slots free: %d in flight, %d writes in the last minute, %d pending", now.Sub(t0), inFlight, writesInWindow(e, now), rr.Status.Pending)
			}
		}
	}
	calls := e.dir.CallsOf("requestRotation")
	most := 0
	for i := range calls {
		k := 0
		for j := i; j < len(calls) && calls[j].At.Sub(calls[i].At) < time.Minute; j++ {
			k++
		}
		most = max(most, k)
	}
	if most != rate {
		t.Fatalf("most writes in any minute %d, want exactly %d", most, rate)
	}
	// In flight from the write to the rotation, as the stored results show them.
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	rr := e.request("big")
	for _, res := range rr.Status.Results {
		if res.WrittenAt == nil {
			continue
		}
		to := end
		if res.RotatedAt != nil {
			to = res.RotatedAt.Time
		}
		edges = append(edges, edge{res.WrittenAt.Time, 1}, edge{to, -1})
	}
	slices.SortFunc(edges, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.delta - b.delta
	})
	in, mostInFlight := 0, 0
	for _, x := range edges {
		in += x.delta
		mostInFlight = max(mostInFlight, in)
	}
	if mostInFlight != maxConcurrent {
		t.Fatalf("most in flight %d, want exactly %d", mostInFlight, maxConcurrent)
	}
	t.Logf("MEASURE %d targets, 20 simulated minutes: %d writes, %d rotated, %d passes (%d claimed writes), %.1f ms per pass",
		n, len(calls), rr.Status.Rotated, passes, claimingPasses, float64(passTime.Milliseconds())/float64(passes))
}

// writesInWindow counts the directory writes in the minute before now (now included).
func writesInWindow(e *env, now time.Time) int {
	k := 0
	for _, c := range e.dir.CallsOf("requestRotation") {
		if c.At.After(now.Add(-time.Minute)) && !c.At.After(now) {
			k++
		}
	}
	return k
}

// TestChangedTargets: a status patch that changes a few results wakes only those devices; one
// that changes what every target reads wakes them all.
func TestChangedTargets(t *testing.T) {
	base := newRequest("big", "", map[string]string{"group": "all"})
	base.Status = lapsv1.RotationRequestStatus{Phase: lapsv1.RotationInProgress, StartTime: ptr.To(metav1.NewTime(t0)), Results: []lapsv1.DeviceRotationResult{
		{Device: "a", State: lapsv1.DeviceRotationPending}, {Device: "b", State: lapsv1.DeviceRotationPending}, {Device: "c", State: lapsv1.DeviceRotationPending}}}
	written := base.DeepCopy()
	written.Status.Results[1] = lapsv1.DeviceRotationResult{Device: "b", State: lapsv1.DeviceRotationRequested, WrittenAt: ptr.To(metav1.NewTime(t0))}
	if names, all := changedTargets(base, written); all || !slices.Equal(names, []string{"b"}) {
		t.Fatalf("one result changed: %v all=%v", names, all)
	}
	if names, all := changedTargets(base, base.DeepCopy()); all || len(names) != 0 {
		t.Fatalf("nothing changed: %v all=%v", names, all)
	}
	failed := written.DeepCopy()
	failed.Status.Phase = lapsv1.RotationFailed
	if _, all := changedTargets(written, failed); !all {
		t.Fatal("a phase change must wake every target")
	}
	expanded := newRequest("big", "", map[string]string{"group": "all"})
	if _, all := changedTargets(expanded, base); !all {
		t.Fatal("the expansion must wake every target")
	}
}
