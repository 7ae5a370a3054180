package controllers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/conditions"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/directoryconfig"
	"github.com/fleetlaps/fleetlaps/internal/dirsync"
)

// faultWorld is a fleet of n devices whose Windows LAPS clients run their hourly cycle in the
// fake directory: a device whose expiry has passed rotates (a new password version and update
// time, the expiry a policy age later). A write that puts the expiry back in the past after a
// device rotated makes it rotate again: that is the double rotation the fault table counts.
type faultWorld struct {
	*env
	n         int
	rotations map[int]int
	// writes records the clock time of every directory write, by device key.
	writes *timedDirectory
}

// timedDirectory records when (on the test clock) each rotation write reached the directory.
type timedDirectory struct {
	directory.Directory
	now func() time.Time
	// crash, when set, stops the manager (panics) at the next write.
	crash bool

	mu    sync.Mutex
	times map[string][]time.Time
}

func (d *timedDirectory) RequestRotation(ctx context.Context, ref directory.DeviceRef, at time.Time) error {
	d.mu.Lock()
	if d.crash {
		d.mu.Unlock()
		panic("manager stopped between claim and write")
	}
	d.times[ref.Key] = append(d.times[ref.Key], d.now())
	d.mu.Unlock()
	return d.Directory.RequestRotation(ctx, ref, at)
}

func (d *timedDirectory) all() []time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []time.Time
	for _, ts := range d.times {
		out = append(out, ts...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

func (d *timedDirectory) maxPerDevice() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := 0
	for _, ts := range d.times {
		m = max(m, len(ts))
	}
	return m
}

func newFaultWorld(t *testing.T, n int, p *lapsv1.LapsPolicy, reqs ...*lapsv1.RotationRequest) *faultWorld {
	var extra []client.Object
	for _, r := range reqs {
		extra = append(extra, r)
	}
	e := fleet(t, n, p, extra...)
	e.rec = events.NewFakeRecorder(1 << 16) // every event of a simulated day fits
	w := &faultWorld{env: e, n: n, rotations: map[int]int{}}
	w.writes = &timedDirectory{Directory: e.dir, now: e.clock.Now, times: map[string][]time.Time{}}
	e.dirs = directoryconfig.NewSet(w.writes)
	return w
}

// cycle runs every device's LAPS client once.
func (w *faultWorld) cycle() {
	now := w.clock.Now()
	for i := 1; i <= w.n; i++ {
		w.dir.Update(guidOf(i), func(r *directory.DeviceRecord) {
			if r.PasswordExpirationTime.After(now) {
				return
			}
			w.rotations[i]++
			r.CurrentPasswordVersion = fmt.Sprintf("%08d-0000-0000-0000-%012d", 30000000+w.rotations[i], i)
			r.PasswordUpdateTime = now
			r.PasswordExpirationTime = now.Add(30 * 24 * time.Hour)
		})
	}
}

// restart is a new manager process: an empty snapshot store and a reconciler without memory.
func (w *faultWorld) restart() *RotationRequestReconciler {
	w.store = dirsync.NewStore()
	return w.rotationReconciler()
}

// settle runs minutes of device cycles, directory reads and reconciles until the request
// finishes (at most a simulated day).
func (w *faultWorld) settle(r *RotationRequestReconciler, name string) *lapsv1.RotationRequest {
	w.t.Helper()
	for range 26 * 60 {
		if rr := w.request(name); finished(rr) {
			return rr
		}
		w.clock.Step(time.Minute)
		w.cycle()
		w.sync()
		if _, err := w.reconcileRequest(r, name); err != nil {
			w.t.Fatalf("reconcile: %v", err)
		}
	}
	return w.request(name)
}

func (w *faultWorld) doubleRotated() int {
	n := 0
	for _, c := range w.rotations {
		if c > 1 {
			n++
		}
	}
	return n
}

// dataLost lists what a fault destroyed: a target missing from status, a rotated device
// without its time, a device record gone from the directory.
func (w *faultWorld) dataLost(rrs ...*lapsv1.RotationRequest) []string {
	var lost []string
	for _, rr := range rrs {
		if int(rr.Status.Targets) != len(rr.Status.Results) {
			lost = append(lost, fmt.Sprintf("%s: %d results for %d targets", rr.Name, len(rr.Status.Results), rr.Status.Targets))
		}
		for _, res := range rr.Status.Results {
			if res.State == lapsv1.DeviceRotationRotated && res.RotatedAt == nil {
				lost = append(lost, rr.Name+"/"+res.Device+": rotated without a time")
			}
		}
	}
	for i := 1; i <= w.n; i++ {
		if r, ok := w.dir.Get(guidOf(i)); !ok || r.CurrentPasswordVersion == "" {
			lost = append(lost, fmt.Sprintf("device %d: record or password version gone", i))
		}
	}
	return lost
}

// faultRow is one line of the fault table.
type faultRow struct {
	fault, did    string
	terminal      string
	doubleRotated int
	writes        int
	maxPerDevice  int
	lost          []string
}

// conflictOn makes the status patches numbered in fail (1-based, counted from now) return a
// Conflict, as the apiserver does when the resourceVersion moved.
func conflictOn(c client.Client, fail ...int) client.Client {
	var mu sync.Mutex
	n := 0
	return interceptor.NewClient(c.(client.WithWatch), interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			mu.Lock()
			n++
			k := n
			mu.Unlock()
			for _, f := range fail {
				if f == k {
					return apierrors.NewConflict(schema.GroupResource{Group: "laps.fleetlaps.io", Resource: "rotationrequests"}, o.GetName(), errors.New("the object has been modified"))
				}
			}
			return c.SubResource(sub).Patch(ctx, o, p, opts...)
		},
	})
}

// staleReads makes every Get of a RotationRequest return stale (a second manager's copy).
func staleReads(c client.Client, stale *lapsv1.RotationRequest) client.Client {
	return interceptor.NewClient(c.(client.WithWatch), interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, o client.Object, opts ...client.GetOption) error {
			if rr, ok := o.(*lapsv1.RotationRequest); ok && key.Name == stale.Name {
				stale.DeepCopyInto(rr)
				return nil
			}
			return c.Get(ctx, key, o, opts...)
		},
	})
}

func crashOnce(t *testing.T, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Fatal("expected the manager to stop")
		}
	}()
	f()
}

func (w *faultWorld) rowFor(fault, did string, rrs ...*lapsv1.RotationRequest) faultRow {
	terminal := 0
	for _, rr := range rrs {
		if finished(rr) {
			terminal++
		}
	}
	return faultRow{fault: fault, did: did, terminal: fmt.Sprintf("%d/%d", terminal, len(rrs)),
		doubleRotated: w.doubleRotated(), writes: len(w.writes.all()), maxPerDevice: w.writes.maxPerDevice(), lost: w.dataLost(rrs...)}
}

// TestFaultTable_Rotation injects each crash, replay and conflict fault into the
// RotationRequest controller and checks: every request ends terminal, no device rotates twice,
// no device gets more than one write, nothing is lost. The table is logged for the closing note.
func TestFaultTable_Rotation(t *testing.T) {
	var rows []faultRow
	run := func(name string, f func(t *testing.T) faultRow) {
		t.Run(name, func(t *testing.T) {
			row := f(t)
			rows = append(rows, row)
			if row.doubleRotated != 0 || row.maxPerDevice > 1 || len(row.lost) > 0 || !strings.HasPrefix(row.terminal, strings.Split(row.terminal, "/")[1]+"/") {
				t.Fatalf("%+v", row)
			}
		})
	}

	run("killed after writes", func(t *testing.T) faultRow {
		w := newFaultWorld(t, 50, newPolicy("base", lapsv1.PolicyRootCSP, 0, nil), newRequest("rot1", "", map[string]string{"group": "all"}))
		r := w.rotationReconciler()
		// The manager dies right after its 50 writes: the status patch recording them never
		// happens (the process is gone), as if it was refused.
		r.Client = conflictOn(w.client, 2)
		if _, err := w.reconcileRequest(r, "rot1"); err != nil {
			t.Fatal(err)
		}
		if n := len(w.writes.all()); n != 50 {
			t.Fatalf("writes before the kill %d", n)
		}
		// Ten seconds later (a pod whose lease expired) half the devices have run their cycle.
		w.clock.Step(10 * time.Second)
		for i := 1; i <= 25; i++ {
			w.dir.Update(guidOf(i), func(r *directory.DeviceRecord) { r.PasswordExpirationTime = w.clock.Now().Add(time.Hour) })
			w.deviceRotates(i, w.clock.Now())
			w.rotations[i]++
		}
		second := w.restart()
		if _, err := w.reconcileRequest(second, "rot1"); err != nil {
			t.Fatal(err)
		}
		if n := len(w.writes.all()); n != 50 {
			t.Fatalf("wrote before the first snapshot: %d writes", n)
		}
		w.sync()
		if _, err := w.reconcileRequest(second, "rot1"); err != nil {
			t.Fatal(err)
		}
		rr := w.request("rot1")
		if rr.Status.Rotated != 25 || rr.Status.Requested != 25 || len(w.writes.all()) != 50 {
			t.Fatalf("after the first snapshot: %d rotated, %d requested, %d writes", rr.Status.Rotated, rr.Status.Requested, len(w.writes.all()))
		}
		rr = w.settle(second, "rot1")
		return w.rowFor("manager killed after 50 writes (their status lost), restarted 10 s later",
			"waited for the first snapshot; 25 devices rotated since the intent (done), 25 showed the expiry already written (done); 0 writes repeated", rr)
	})

	run("409 after the write", func(t *testing.T) faultRow {
		w := newFaultWorld(t, 1, newPolicy("base", lapsv1.PolicyRootCSP, 0, nil), newRequest("rot1", "pc1", nil))
		r := w.rotationReconciler()
		r.Client = conflictOn(w.client, 2)
		if _, err := w.reconcileRequest(r, "rot1"); err != nil {
			t.Fatal(err)
		}
		r.Client = w.client
		res := w.request("rot1").Status.Results[0]
		if res.Attempts != 1 || res.WrittenAt == nil {
			t.Fatalf("outcome not recorded on a fresh read: %+v", res)
		}
		rr := w.settle(r, "rot1")
		return w.rowFor("409 on the status patch after the write", "the outcome was recorded on a fresh read of the request (its claim still ours); no second write", rr)
	})

	run("409 on every status patch after the write", func(t *testing.T) faultRow {
		w := newFaultWorld(t, 1, newPolicy("base", lapsv1.PolicyRootCSP, 0, nil), newRequest("rot1", "pc1", nil))
		r := w.rotationReconciler()
		r.Client = conflictOn(w.client, 2, 3, 4, 5)
		if _, err := w.reconcileRequest(r, "rot1"); err != nil {
			t.Fatal(err)
		}
		r.Client = w.client
		res := w.request("rot1").Status.Results[0]
		if res.Attempts != 1 || res.LastAttemptTime == nil || res.WrittenAt != nil {
			t.Fatalf("claim not kept: %+v", res)
		}
		rr := w.settle(r, "rot1")
		return w.rowFor("409 on every status patch after the write", "claim kept, no second write; the next snapshot showed the device rotated since the intent", rr)
	})

	run("409 on the claim", func(t *testing.T) faultRow {
		w := newFaultWorld(t, 1, newPolicy("base", lapsv1.PolicyRootCSP, 0, nil), newRequest("rot1", "pc1", nil))
		r := w.rotationReconciler()
		r.Client = conflictOn(w.client, 1)
		res, err := w.reconcileRequest(r, "rot1")
		if err != nil || res.RequeueAfter != time.Second {
			t.Fatalf("refused claim: %v %v", res, err)
		}
		if n := len(w.writes.all()); n != 0 {
			t.Fatalf("wrote without a claim: %d", n)
		}
		r.Client = w.client
		if _, err := w.reconcileRequest(r, "rot1"); err != nil {
			t.Fatal(err)
		}
		rr := w.settle(r, "rot1")
		return w.rowFor("409 on the claim patch", "no write in that pass; the next pass claimed and wrote once", rr)
	})

	run("killed between claim and write", func(t *testing.T) faultRow {
		w := newFaultWorld(t, 3, newPolicy("base", lapsv1.PolicyRootCSP, 0, nil), newRequest("rot1", "", map[string]string{"group": "all"}))
		w.writes.crash = true
		crashOnce(t, func() { _, _ = w.reconcileRequest(w.rotationReconciler(), "rot1") })
		w.writes.crash = false
		for _, res := range w.request("rot1").Status.Results {
			if res.Attempts != 1 || res.LastAttemptTime == nil {
				t.Fatalf("claim not durable before the write: %+v", res)
			}
		}
		w.clock.Step(30 * time.Second)
		second := w.restart()
		w.sync()
		if _, err := w.reconcileRequest(second, "rot1"); err != nil {
			t.Fatal(err)
		}
		if n := len(w.writes.all()); n != 0 {
			t.Fatalf("wrote under an unexpired claim: %d", n)
		}
		rr := w.settle(second, "rot1")
		return w.rowFor("manager killed between claim and write (3 devices)", "no write until the claim expired and a newer snapshot still needed it; then one write each", rr)
	})

	run("restart after the deadline", func(t *testing.T) faultRow {
		rq := newRequest("rot1", "pc1", nil)
		rq.Spec.Deadline = &metav1.Time{Time: t0.Add(time.Hour)}
		w := newFaultWorld(t, 1, newPolicy("base", lapsv1.PolicyRootCSP, 0, nil), rq)
		w.writes.crash = true
		crashOnce(t, func() { _, _ = w.reconcileRequest(w.rotationReconciler(), "rot1") })
		w.writes.crash = false
		w.clock.Step(2 * time.Hour)
		second := w.restart()
		w.sync()
		if _, err := w.reconcileRequest(second, "rot1"); err != nil {
			t.Fatal(err)
		}
		rr := w.request("rot1")
		if rr.Status.Phase != lapsv1.RotationFailed || len(w.writes.all()) != 0 {
			t.Fatalf("after the deadline: phase %s, %d writes", rr.Status.Phase, len(w.writes.all()))
		}
		return w.rowFor("manager killed after the claim, restarted after the deadline", "no write; the device failed with the deadline", rr)
	})

	run("reconcile before the first snapshot", func(t *testing.T) faultRow {
		w := newFaultWorld(t, 2, newPolicy("base", lapsv1.PolicyRootCSP, 0, nil), newRequest("rot1", "", map[string]string{"group": "all"}))
		r := w.restart()
		if _, err := w.reconcileRequest(r, "rot1"); err != nil {
			t.Fatal(err)
		}
		rr := w.request("rot1")
		if c := conditions.Get(rr.Status.Conditions, lapsv1.ConditionReady); rr.Status.Pending != 2 || len(w.writes.all()) != 0 ||
			c == nil || !strings.HasSuffix(c.Message, "; pending: 2 waiting for the first snapshot of directory corp") {
			t.Fatalf("before the first snapshot: %+v, %d writes", rr.Status.Results, len(w.writes.all()))
		}
		w.sync()
		if _, err := w.reconcileRequest(r, "rot1"); err != nil {
			t.Fatal(err)
		}
		rr = w.settle(r, "rot1")
		return w.rowFor("reconciled before the connection's first snapshot", "devices stayed Pending until the snapshot, then one write each", rr)
	})

	run("restart loop against ratePerMinute", func(t *testing.T) faultRow {
		p := newPolicy("base", lapsv1.PolicyRootCSP, 0, nil)
		p.Spec.Rotation = &lapsv1.RotationSettings{RatePerMinute: ptr.To[int32](10)}
		w := newFaultWorld(t, 50, p, newRequest("rot1", "", map[string]string{"group": "all"}))
		// A manager restarted every 5 seconds: each new process reads its first snapshot and
		// reconciles once; the devices run their cycle every minute.
		for step := range 12 * 8 {
			r := w.restart()
			w.sync()
			if _, err := w.reconcileRequest(r, "rot1"); err != nil {
				t.Fatal(err)
			}
			w.clock.Step(5 * time.Second)
			if step%12 == 11 {
				w.cycle()
			}
		}
		times := w.writes.all()
		worst := 0
		for i := range times {
			n := 0
			for _, x := range times[i:] {
				if x.Sub(times[i]) < time.Minute {
					n++
				}
			}
			worst = max(worst, n)
		}
		if worst > 10 {
			t.Fatalf("%d writes within one minute, limit 10", worst)
		}
		rr := w.settle(w.restart(), "rot1")
		return w.rowFor("manager restarted every 5 s, ratePerMinute 10, 50 devices",
			fmt.Sprintf("at most %d writes in any minute (limit 10), from the write times in status", worst), rr)
	})

	run("two managers", func(t *testing.T) faultRow {
		w := newFaultWorld(t, 5, newPolicy("base", lapsv1.PolicyRootCSP, 0, nil), newRequest("rot1", "", map[string]string{"group": "all"}))
		// Both managers read the request before either acts; A acts first, B second on its copy.
		copyOfB := w.request("rot1")
		a, b := w.rotationReconciler(), w.rotationReconciler()
		if _, err := w.reconcileRequest(a, "rot1"); err != nil {
			t.Fatal(err)
		}
		b.Client = staleReads(w.client, copyOfB)
		res, err := w.reconcileRequest(b, "rot1")
		if err != nil || res.RequeueAfter != time.Second || len(w.writes.all()) != 5 {
			t.Fatalf("second manager on its copy: %v %v, %d writes", res, err, len(w.writes.all()))
		}
		// Then both keep working on fresh reads, alternating.
		b.Client = w.client
		rr := w.request("rot1")
		for range 26 * 60 {
			if finished(rr) {
				break
			}
			w.clock.Step(time.Minute)
			w.cycle()
			w.sync()
			for _, m := range []*RotationRequestReconciler{a, b} {
				if _, err := w.reconcileRequest(m, "rot1"); err != nil {
					t.Fatal(err)
				}
			}
			rr = w.request("rot1")
		}
		return w.rowFor("two managers on one request (one with a stale copy, then both fresh)", "one claim per device won; the other manager's claim was refused (409) and it wrote nothing", rr)
	})

	var b strings.Builder
	b.WriteString("\n| fault injected | what the system did | terminal | double-rotated | writes (max/device) | data lost |\n|---|---|---|---|---|---|\n")
	for _, r := range rows {
		lost := "none"
		if len(r.lost) > 0 {
			lost = strings.Join(r.lost, "; ")
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %d (%d) | %s |\n", r.fault, r.did, r.terminal, r.doubleRotated, r.writes, r.maxPerDevice, lost)
	}
	t.Log(b.String())
}
