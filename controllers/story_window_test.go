package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/conditions"
)

// TestStory_waitingRequestWakesOnPolicyChange: a RotationRequest waiting for a maintenance
// window days away proceeds as soon as the window is removed from its LapsPolicy, without a
// delete and recreate.
func TestStory_waitingRequestWakesOnPolicyChange(t *testing.T) {
	const ns = "story-window"
	createNamespace(t, ns)
	// A window on a day that is not today (in UTC, on the suite's clock): the next opening is
	// at least a day away.
	otherDay := lapsv1.DayOfWeek(suiteClock.Now().UTC().Add(72 * time.Hour).Weekday().String())
	p := in(newPolicy("windowed", lapsv1.PolicyRootCSP, 0, nil), ns)
	p.Spec.Rotation = &lapsv1.RotationSettings{MaintenanceWindows: []lapsv1.MaintenanceWindow{{Days: []lapsv1.DayOfWeek{otherDay}, Start: "02:00", DurationMinutes: 60, TimeZone: "UTC"}}}
	mustCreate(t, p)
	suiteDir.Put(newRecord("win1", 501, suiteClock.Now().Add(-24*time.Hour)))
	mustCreate(t, in(newDevice("win1", 501, nil), ns))
	syncCorp(t)
	eventually(t, wait, func() error {
		d, err := getDevice(ns, "win1")
		if err != nil {
			return err
		}
		if d.Status.EffectivePolicy == nil {
			return fmt.Errorf("no effective policy yet")
		}
		return nil
	})
	mustCreate(t, in(newRequest("later", "win1", nil), ns))
	var rr lapsv1.RotationRequest
	eventually(t, wait, func() error {
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "later"}, &rr); err != nil {
			return err
		}
		ready := conditions.Get(rr.Status.Conditions, lapsv1.ConditionReady)
		if len(rr.Status.Results) != 1 || ready == nil || !strings.Contains(ready.Message, msgWaitingForWindow) {
			return fmt.Errorf("results %+v, Ready %+v", rr.Status.Results, ready)
		}
		return nil
	})
	if n := len(callsFor(guidOf(501))); n != 0 {
		t.Fatalf("%d directory writes outside the window", n)
	}

	// The operator removes the window.
	var cur lapsv1.LapsPolicy
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "windowed"}, &cur); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(cur.DeepCopy())
	cur.Spec.Rotation = nil
	if err := k8s.Patch(context.Background(), &cur, patch); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, func() error {
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "later"}, &rr); err != nil {
			return err
		}
		if len(rr.Status.Results) != 1 || rr.Status.Results[0].WrittenAt == nil {
			return fmt.Errorf("results %+v", rr.Status.Results)
		}
		return nil
	})
	if n := len(callsFor(guidOf(501))); n != 1 {
		t.Fatalf("directory writes %d, want 1 once the window is gone", n)
	}
}
