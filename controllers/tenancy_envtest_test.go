package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/conditions"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/directory/directorytest"
	"github.com/fleetlaps/fleetlaps/internal/directoryconfig"
)

// gatedConnection admits only namespaces labelled laps-gate=open; the suite's manager has it, so
// it watches Namespaces.
var (
	gatedDir        *directorytest.Fake
	gatedConnection = directoryconfig.Connection{Name: "gated", Type: directory.TypeActiveDirectory,
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"laps-gate": "open"}}}
)

// The running manager decides the gate again when a namespace's labels change.
func TestNamespaceGate_relabellingTheNamespaceReDecides(t *testing.T) {
	const ns = "gate-relabel"
	createNamespace(t, ns)
	ctx := context.Background()
	d := in(newDevice("pc1", 301, nil), ns)
	d.Spec.DirectoryRef.Name = "gated"
	p := in(newPolicy("base", lapsv1.PolicyRootCSP, 0, nil), ns)
	p.Spec.DirectoryRef.Name = "gated"
	mustCreate(t, p, d)
	stalledBy := func(reason string) func() error {
		return func() error {
			var got lapsv1.ManagedDevice
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(d), &got); err != nil {
				return err
			}
			c := conditions.Get(got.Status.Conditions, lapsv1.ConditionStalled)
			switch {
			case reason == "" && (c == nil || c.Status != metav1.ConditionTrue):
				return nil
			case reason != "" && c != nil && c.Status == metav1.ConditionTrue && c.Reason == reason:
				return nil
			}
			return fmt.Errorf("Stalled = %+v, want reason %q", c, reason)
		}
	}
	eventually(t, 20*time.Second, stalledBy(ReasonDirectoryNotAllowed))
	eventually(t, 20*time.Second, func() error {
		var got lapsv1.LapsPolicy
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(p), &got); err != nil {
			return err
		}
		return condIs(got.Status.Conditions, lapsv1.ConditionStalled, metav1.ConditionTrue, ReasonDirectoryNotAllowed)
	})

	var namespace = nsObject(ns)
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(namespace), namespace); err != nil {
		t.Fatal(err)
	}
	namespace.Labels = map[string]string{"laps-gate": "open"}
	if err := k8s.Update(ctx, namespace); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, stalledBy(""))
	eventually(t, 20*time.Second, func() error {
		var got lapsv1.LapsPolicy
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(p), &got); err != nil {
			return err
		}
		if c := conditions.Get(got.Status.Conditions, lapsv1.ConditionStalled); c != nil && c.Status == metav1.ConditionTrue {
			return fmt.Errorf("policy still stalled: %+v", c)
		}
		return nil
	})
	// And back: removing the label closes the connection again.
	namespace.Labels = nil
	if err := k8s.Update(ctx, namespace); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, stalledBy(ReasonDirectoryNotAllowed))
	for _, c := range gatedDir.Calls() {
		if c.Op != "snapshot" {
			t.Fatalf("directory call for a refused namespace: %+v", c)
		}
	}
}

// The manager caches only labelled rendered-policy ConfigMaps: a ConfigMap of the same name that
// someone else made (unlabelled, so invisible to the cache) is reported as a conflict, not
// retried forever or overwritten; the labelled one the policy makes is found and kept current.
func TestRenderedConfigMap_cacheSeesOnlyLabelledOnes(t *testing.T) {
	const ns = "cm-cache"
	createNamespace(t, ns)
	ctx := context.Background()
	foreign := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: RenderedConfigMapName("taken"), Namespace: ns}, Data: map[string]string{"mine": "yes"}}
	if err := k8s.Create(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	taken := in(newPolicy("taken", lapsv1.PolicyRootGroupPolicy, 0, nil), ns)
	free := in(newPolicy("free", lapsv1.PolicyRootGroupPolicy, 0, nil), ns)
	mustCreate(t, taken, free)
	eventually(t, 20*time.Second, func() error {
		var got lapsv1.LapsPolicy
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(taken), &got); err != nil {
			return err
		}
		return condIs(got.Status.Conditions, lapsv1.ConditionStalled, metav1.ConditionTrue, "ConfigMapConflict")
	})
	eventually(t, 20*time.Second, func() error {
		var got lapsv1.LapsPolicy
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(free), &got); err != nil {
			return err
		}
		return condIs(got.Status.Conditions, lapsv1.ConditionPolicyPushed, metav1.ConditionTrue, "")
	})
	var cm corev1.ConfigMap
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(foreign), &cm); err != nil || cm.Data["mine"] != "yes" || len(cm.Data) != 1 {
		t.Fatalf("the foreign ConfigMap was touched: %+v %v", cm.Data, err)
	}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: RenderedConfigMapName("free")}, &cm); err != nil || cm.Labels[LabelRenderedPolicy] != "free" {
		t.Fatalf("rendered ConfigMap %v %v", cm.Labels, err)
	}
}
