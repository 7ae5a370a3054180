package controllers

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

type atomicInt struct{ atomic.Int64 }

func toUnstructured(t testing.TB, o client.Object) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	kind := fmt.Sprintf("%T", o)[len("*v1."):]
	u.SetAPIVersion(lapsv1.GroupVersion.String())
	u.SetKind(kind)
	return u
}

// assertKstatus checks what Flux / kstatus computes for a live object.
func assertKstatus(t testing.TB, o client.Object, want status.Status) {
	t.Helper()
	res, err := status.Compute(toUnstructured(t, o))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != want {
		t.Fatalf("kstatus of %s = %s (%s), want %s", o.GetName(), res.Status, res.Message, want)
	}
}

// luaHealth runs config/argocd/common.lua the way Argo CD does: obj is the live object.
func luaHealth(t testing.TB, o client.Object) (string, string) {
	t.Helper()
	L := lua.NewState()
	defer L.Close()
	L.SetGlobal("obj", toLua(L, toUnstructured(t, o).Object))
	if err := L.DoFile(filepath.Join("..", "config", "argocd", "common.lua")); err != nil {
		t.Fatal(err)
	}
	hs, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("health script returned %v", L.Get(-1))
	}
	return hs.RawGetString("status").String(), hs.RawGetString("message").String()
}

func toLua(L *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case string:
		return lua.LString(x)
	case bool:
		return lua.LBool(x)
	case int64:
		return lua.LNumber(x)
	case int32:
		return lua.LNumber(x)
	case float64:
		return lua.LNumber(x)
	case map[string]any:
		tb := L.NewTable()
		for k, e := range x {
			tb.RawSetString(k, toLua(L, e))
		}
		return tb
	case []any:
		tb := L.NewTable()
		for _, e := range x {
			tb.Append(toLua(L, e))
		}
		return tb
	}
	panic(fmt.Sprintf("toLua: %T", v))
}

type gitopsCase struct {
	obj     client.Object
	kstatus status.Status
	argo    string
}

// gitopsFixtures produces each kind in each phase with the real reconcilers on the fake client.
func gitopsFixtures(t *testing.T) map[string]gitopsCase {
	out := map[string]gitopsCase{}
	ctx := context.Background()

	// ManagedDevice.
	{
		e := newEnv(t, newDevice("pc1", 1, nil), newDevice("lost", 2, nil), newPolicy("base", lapsv1.PolicyRootCSP, 0, nil))
		out["ManagedDevice/untouched"] = gitopsCase{e.device("pc1").DeepCopy(), status.CurrentStatus, "Progressing"}
		e.reconcileDevice("pc1")
		out["ManagedDevice/fresh"] = gitopsCase{e.device("pc1").DeepCopy(), status.InProgressStatus, "Progressing"}
		e.dir.Put(newRecord("pc1", 1, t0.Add(-24*time.Hour)))
		e.sync()
		e.reconcileDevice("pc1")
		ready := e.device("pc1").DeepCopy()
		out["ManagedDevice/ready"] = gitopsCase{ready, status.CurrentStatus, "Healthy"}
		changed := ready.DeepCopy()
		changed.Generation = 2
		out["ManagedDevice/reconciling"] = gitopsCase{changed, status.InProgressStatus, "Progressing"}
		e.clock.Step(40 * 24 * time.Hour)
		e.reconcileDevice("pc1")
		// kstatus reads Ready=False as InProgress: the device rotates at its next cycle.
		out["ManagedDevice/expired"] = gitopsCase{e.device("pc1").DeepCopy(), status.InProgressStatus, "Degraded"}
		d := e.device("lost")
		d.Spec.DirectoryRef.Name = "nope"
		if err := e.client.Update(ctx, d); err != nil {
			t.Fatal(err)
		}
		e.reconcileDevice("lost")
		out["ManagedDevice/stalled"] = gitopsCase{e.device("lost").DeepCopy(), status.FailedStatus, "Degraded"}
	}
	// ManagedDevice during a rotation an operator asked for: in progress, not degraded, until
	// the request's deadline.
	{
		e := fleet(t, 1, newPolicy("base", lapsv1.PolicyRootCSP, 0, nil), newRequest("rot1", "pc1", nil))
		if _, err := e.reconcileRequest(e.rotationReconciler(), "rot1"); err != nil {
			t.Fatal(err)
		}
		e.sync()
		e.clock.Step(time.Second)
		e.reconcileDevice("pc1")
		out["ManagedDevice/rotating"] = gitopsCase{e.device("pc1").DeepCopy(), status.InProgressStatus, "Progressing"}
	}
	// RotationRequest.
	{
		p := newPolicy("win", lapsv1.PolicyRootCSP, 0, map[string]string{"group": "win"})
		p.Spec.Rotation = &lapsv1.RotationSettings{MaintenanceWindows: []lapsv1.MaintenanceWindow{{Days: []lapsv1.DayOfWeek{"Sunday"}, Start: "02:00", DurationMinutes: 60, TimeZone: "UTC"}}}
		windowed := newDevice("pcw", 9, map[string]string{"group": "win"})
		e := fleet(t, 2, newPolicy("base", lapsv1.PolicyRootCSP, 0, map[string]string{"group": "all"}),
			newRequest("ok", "pc1", nil), newRequest("late", "pc2", nil), newRequest("windowed", "pcw", nil), p, windowed)
		e.dir.Put(newRecord("pcw", 9, t0.Add(-24*time.Hour)))
		e.sync()
		e.reconcileDevice("pcw")
		r := e.rotationReconciler()
		out["RotationRequest/untouched"] = gitopsCase{e.request("ok").DeepCopy(), status.CurrentStatus, "Progressing"}
		for _, n := range []string{"ok", "late", "windowed"} {
			if _, err := e.reconcileRequest(r, n); err != nil {
				t.Fatal(err)
			}
		}
		out["RotationRequest/reconciling"] = gitopsCase{e.request("ok").DeepCopy(), status.InProgressStatus, "Progressing"}
		out["RotationRequest/waiting-for-window"] = gitopsCase{e.request("windowed").DeepCopy(), status.InProgressStatus, "Suspended"}
		e.deviceRotates(1, t0.Add(time.Minute))
		e.sync()
		e.clock.Step(2 * time.Minute)
		e.reconcileRequest(r, "ok")
		out["RotationRequest/ready"] = gitopsCase{e.request("ok").DeepCopy(), status.CurrentStatus, "Healthy"}
		e.clock.Step(DefaultRotationDeadline)
		e.reconcileRequest(r, "late")
		out["RotationRequest/stalled"] = gitopsCase{e.request("late").DeepCopy(), status.FailedStatus, "Degraded"}
	}
	// LapsPolicy.
	{
		missing := newPolicy("missing", lapsv1.PolicyRootCSP, 0, nil)
		missing.Spec.ADPasswordEncryptionPrincipal = ptr.To(`CORP\Nobody`)
		lost := newPolicy("lost", lapsv1.PolicyRootCSP, 0, nil)
		lost.Spec.DirectoryRef.Name = "nope"
		e := newEnv(t, newPolicy("base", lapsv1.PolicyRootCSP, 0, nil), missing, lost)
		out["LapsPolicy/untouched"] = gitopsCase{e.policy("base").DeepCopy(), status.CurrentStatus, "Progressing"}
		_ = e.reconcilePolicy("missing")
		out["LapsPolicy/reconciling"] = gitopsCase{e.policy("missing").DeepCopy(), status.InProgressStatus, "Progressing"}
		if err := e.reconcilePolicy("base"); err != nil {
			t.Fatal(err)
		}
		out["LapsPolicy/ready"] = gitopsCase{e.policy("base").DeepCopy(), status.CurrentStatus, "Healthy"}
		_ = e.reconcilePolicy("lost")
		out["LapsPolicy/stalled"] = gitopsCase{e.policy("lost").DeepCopy(), status.FailedStatus, "Degraded"}
	}
	return out
}

// TestGitOpsHealth: kstatus (Flux, kubectl wait, cli-utils) and the Argo CD Lua agree with the
// phase of each kind. "untouched" (no status yet) is Current for kstatus, which cannot tell an
// object nothing has looked at from a finished one; Argo CD shows it Progressing.
func TestGitOpsHealth(t *testing.T) {
	for name, tc := range gitopsFixtures(t) {
		t.Run(name, func(t *testing.T) {
			assertKstatus(t, tc.obj, tc.kstatus)
			got, msg := luaHealth(t, tc.obj)
			if got != tc.argo {
				t.Fatalf("Argo CD health = %s (%s), want %s", got, msg, tc.argo)
			}
		})
	}
}
