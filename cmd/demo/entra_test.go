package main

import (
	"context"
	"strings"
	"testing"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/simclock"
)

// inspectEntra asserts the Entra ID slice of the end-to-end run from the cluster and the
// emulator: every Entra device Ready and PasswordCurrent with the backup time Graph states, the
// Intune policy published and assigned, a RotationRequest for an Entra device Succeeded on
// evidence (one rotate action, a later backup), Graph round trips counted and no forbidden
// request.
func inspectEntra(ctx context.Context, t *testing.T, cp *controlPlane, w *world, devices []lapsv1.ManagedDevice) {
	t.Helper()
	if w.entra == nil {
		t.Fatal("the run has no Entra devices")
	}
	emu := w.entra.emu
	entraDevices := map[string]lapsv1.ManagedDevice{}
	for _, d := range devices {
		if d.Spec.DirectoryRef.Name != demoEntraName {
			continue
		}
		entraDevices[d.Name] = d
		for _, typ := range []string{lapsv1.ConditionReady, lapsv1.ConditionPasswordCurrent} {
			if !apimeta.IsStatusConditionTrue(d.Status.Conditions, typ) {
				t.Errorf("Entra device %s: %s is not True: %+v", d.Name, typ, apimeta.FindStatusCondition(d.Status.Conditions, typ))
			}
		}
		id := d.Spec.Identity.EntraID
		if id == nil {
			t.Errorf("Entra device %s has no Entra identity", d.Name)
			continue
		}
		g, ok := emu.DeviceState(id.DeviceID)
		if !ok {
			t.Errorf("Entra device %s: no device %s in the tenant", d.Name, id.DeviceID)
			continue
		}
		// Status times carry whole seconds.
		if d.Status.PasswordUpdateTime == nil || !d.Status.PasswordUpdateTime.Time.Equal(g.LastBackup.Truncate(time.Second)) {
			t.Errorf("Entra device %s: status passwordUpdateTime %v, Graph lastBackupDateTime %s", d.Name, d.Status.PasswordUpdateTime, g.LastBackup)
		}
	}
	if len(entraDevices) != len(w.entra.names) {
		t.Errorf("%d ManagedDevices of directory %s for %d Entra devices", len(entraDevices), demoEntraName, len(w.entra.names))
	}

	pols := emu.Policies()
	if len(pols) != 1 || len(pols[0].GroupIDs) != 1 || pols[0].GroupIDs[0] != demoEntraGroupID {
		t.Errorf("Intune holds %+v, want one policy assigned to %s", pols, demoEntraGroupID)
	}
	var p lapsv1.LapsPolicy
	if err := cp.client.Get(ctx, client.ObjectKey{Namespace: demoNamespace, Name: demoEntraPolicyName}, &p); err != nil {
		t.Fatal(err)
	}
	if !apimeta.IsStatusConditionTrue(p.Status.Conditions, lapsv1.ConditionPolicyPushed) || len(p.Status.Published) != 1 ||
		len(pols) == 1 && p.Status.Published[0].Ref != pols[0].ID {
		t.Errorf("LapsPolicy %s: conditions %+v, published %+v", demoEntraPolicyName, p.Status.Conditions, p.Status.Published)
	}

	// A RotationRequest for an Entra device succeeded on evidence: the device received the
	// rotate action, and Graph showed a backup after the request was written.
	var rrs lapsv1.RotationRequestList
	if err := cp.client.List(ctx, &rrs, client.InNamespace(demoNamespace)); err != nil {
		t.Fatal(err)
	}
	succeeded := 0
	for _, r := range rrs.Items {
		for _, res := range r.Status.Results {
			d, ok := entraDevices[res.Device]
			if !ok {
				continue
			}
			if r.Status.Phase != lapsv1.RotationSucceeded || res.State != lapsv1.DeviceRotationRotated || res.WrittenAt == nil || res.RotatedAt == nil {
				t.Errorf("RotationRequest %s, Entra device %s: phase %s, %+v", r.Name, res.Device, r.Status.Phase, res)
				continue
			}
			g, _ := emu.DeviceState(d.Spec.Identity.EntraID.DeviceID)
			if g.Rotations != 1 || d.Status.PasswordUpdateTime == nil || d.Status.PasswordUpdateTime.Before(res.WrittenAt) {
				t.Errorf("RotationRequest %s, Entra device %s: %d rotate actions (want 1), backup %v, written %s", r.Name, res.Device, g.Rotations, d.Status.PasswordUpdateTime, res.WrittenAt)
				continue
			}
			succeeded++
		}
	}
	if succeeded == 0 {
		t.Errorf("no RotationRequest for an Entra device succeeded among %d", len(rrs.Items))
	}
	if emu.Count("listCredentials") == 0 || emu.Count("rotate") == 0 || w.entra.roundTrips() == 0 {
		t.Errorf("Graph round trips: %d credential listings, %d rotate actions, %d in all", emu.Count("listCredentials"), emu.Count("rotate"), w.entra.roundTrips())
	}
	if v := w.entra.forbidden.list(); len(v) > 0 {
		t.Errorf("the emulator refused %d requests as forbidden: %s", len(v), strings.Join(head(v, 5), "; "))
	}
}

// --entra-devices outside 0..--devices is refused with the flag named, before anything starts.
func TestEntraDevicesOutOfRange(t *testing.T) {
	clk := simclock.NewStopped(time.Now().UTC(), 60)
	for _, n := range []int{-1, 11} {
		w, err := startMixedWorld(context.Background(), 10, n, 1, clk, t.TempDir(), channelInProcess)
		if err == nil {
			w.close()
			t.Fatalf("--entra-devices %d of 10 accepted", n)
		}
		if !strings.Contains(err.Error(), "--entra-devices") || !strings.Contains(err.Error(), "--devices (10)") {
			t.Errorf("--entra-devices %d: error %q does not name the flag and its range", n, err)
		}
	}
}
