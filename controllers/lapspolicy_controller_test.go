package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/conditions"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/directory/directorytest"
	"github.com/fleetlaps/fleetlaps/internal/directoryconfig"
	"github.com/fleetlaps/fleetlaps/internal/principalcache"
)

func (e *env) policyReconciler() *LapsPolicyReconciler {
	return &LapsPolicyReconciler{Client: e.client, Clock: e.clock, Directories: e.dirs, Recorder: e.rec}
}

func (e *env) reconcilePolicy(name string) error {
	_, err := e.policyReconciler().Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}})
	return err
}

func (e *env) policy(name string) *lapsv1.LapsPolicy {
	e.t.Helper()
	var p lapsv1.LapsPolicy
	if err := e.client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &p); err != nil {
		e.t.Fatal(err)
	}
	return &p
}

func policyCond(t *testing.T, p *lapsv1.LapsPolicy, typ string, status metav1.ConditionStatus, reason string) *metav1.Condition {
	t.Helper()
	c := conditions.Get(p.Status.Conditions, typ)
	if c == nil || c.Status != status || c.Reason != reason {
		t.Fatalf("%s = %+v, want %s/%s", typ, c, status, reason)
	}
	return c
}

func TestLapsPolicyReconciler_activeDirectoryPublishesConfigMapAndCounts(t *testing.T) {
	p := newPolicy("base", lapsv1.PolicyRootGroupPolicy, 0, nil)
	p.Spec.ADPasswordEncryptionPrincipal = ptr.To(`CORP\LAPSAdmins`)
	e := fleet(t, 3, p)
	e.dir.AddPrincipal(`CORP\LAPSAdmins`, "S-1-5-21-1-2-3-1104")
	e.clock.SetTime(t0.Add(25 * 24 * time.Hour)) // pc records were updated at t0-24h: pc expire at t0+29d
	e.reconcileDevice("pc1")
	if err := e.reconcilePolicy("base"); err != nil {
		t.Fatal(err)
	}
	got := e.policy("base")
	if !strings.Contains(strings.Join(got.Finalizers, ","), PolicyFinalizer) {
		t.Fatalf("finalizers %v", got.Finalizers)
	}
	// Nothing reached a directory: the reasons say the policy is only rendered to a ConfigMap.
	policyCond(t, got, lapsv1.ConditionReady, metav1.ConditionTrue, ReasonRenderedToConfigMap)
	if c := policyCond(t, got, lapsv1.ConditionPolicyPushed, metav1.ConditionTrue, ReasonRenderedToConfigMap); !strings.Contains(c.Message, "ConfigMap base-rendered only: it is not written to directory corp") {
		t.Errorf("PolicyPushed message %q", c.Message)
	}
	policyCond(t, got, lapsv1.ConditionPrincipalResolved, metav1.ConditionTrue, ReasonResolved)
	policyCond(t, got, lapsv1.ConditionSettingsIgnored, metav1.ConditionFalse, ReasonNoSettingsIgnored)
	if got.Status.MatchedDevices != 3 || got.Status.CompliantDevices != 3 || got.Status.RenderedHash == "" || got.Status.ObservedGeneration != 1 {
		t.Fatalf("status %+v", got.Status)
	}
	var cm corev1.ConfigMap
	if err := e.client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "base-rendered"}, &cm); err != nil {
		t.Fatal(err)
	}
	if !metav1.IsControlledBy(&cm, got) || len(cm.BinaryData["Registry.pol"]) == 0 || cm.Data["Registry.txt"] == "" {
		t.Fatalf("configmap %+v", cm)
	}
	w := e.writes.n.Load()
	if err := e.reconcilePolicy("base"); err != nil {
		t.Fatal(err)
	}
	if n := e.writes.n.Load() - w; n != 0 {
		t.Fatalf("second reconcile wrote %d times", n)
	}
}

func TestLapsPolicyReconciler_principalNotFound(t *testing.T) {
	p := newPolicy("base", lapsv1.PolicyRootCSP, 0, nil)
	p.Spec.ADPasswordEncryptionPrincipal = ptr.To(`CORP\Nobody`)
	e := newEnv(t, p)
	if err := e.reconcilePolicy("base"); err == nil {
		t.Fatal("expected a retry error")
	}
	got := e.policy("base")
	policyCond(t, got, lapsv1.ConditionPrincipalResolved, metav1.ConditionFalse, ReasonPrincipalNotFound)
	policyCond(t, got, lapsv1.ConditionReady, metav1.ConditionFalse, ReasonPrincipalNotFound)
}

func TestLapsPolicyReconciler_stalls(t *testing.T) {
	cases := map[string]struct {
		mutate     func(p *lapsv1.LapsPolicy)
		wantReason string
		wantMsg    string
	}{
		"should stall listing known names for an unknown directoryRef": {
			mutate:     func(p *lapsv1.LapsPolicy) { p.Spec.DirectoryRef.Name = "nope" },
			wantReason: "UnknownDirectory", wantMsg: "known: cloud, corp",
		},
		"should stall DirectoryTypeUnsupported for an Entra connection without backend": {
			mutate: func(p *lapsv1.LapsPolicy) {
				p.Spec.BackupDirectory = lapsv1.BackupDirectoryEntraID
				p.Spec.DirectoryRef.Name = "cloud"
			},
			wantReason: "DirectoryTypeUnsupported",
		},
		"should stall DirectoryTypeUnsupported for an EntraID policy on an AD connection": {
			mutate:     func(p *lapsv1.LapsPolicy) { p.Spec.BackupDirectory = lapsv1.BackupDirectoryEntraID },
			wantReason: "DirectoryTypeUnsupported",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := newPolicy("base", lapsv1.PolicyRootCSP, 0, nil)
			tc.mutate(p)
			e := newEnv(t, p)
			e.dirs.Add(&directoryconfig.Entry{Config: directoryconfig.Connection{Name: "cloud", Type: directory.TypeEntraID}, Err: directoryconfig.ErrTypeUnsupported})
			if err := e.reconcilePolicy("base"); err != nil {
				t.Fatal(err)
			}
			got := e.policy("base")
			c := policyCond(t, got, lapsv1.ConditionStalled, metav1.ConditionTrue, tc.wantReason)
			if !strings.Contains(c.Message, tc.wantMsg) {
				t.Fatalf("message %q", c.Message)
			}
			policyCond(t, got, lapsv1.ConditionReady, metav1.ConditionFalse, tc.wantReason)
			if got.Status.ObservedGeneration != 1 {
				t.Fatal("observedGeneration must move when Stalled")
			}
		})
	}
}

func TestLapsPolicyReconciler_entraPublishesAndWithdraws(t *testing.T) {
	p := newPolicy("cloudpol", lapsv1.PolicyRootCSP, 0, nil)
	p.Spec.BackupDirectory = lapsv1.BackupDirectoryEntraID
	p.Spec.DirectoryRef.Name = "cloud"
	p.Spec.PassphraseLength = ptr.To[int32](8) // ignored: the complexity makes character passwords
	e := newEnv(t, p)
	entra := directorytest.New("cloud", directory.TypeEntraID, e.clock.Now)
	e.dirs.Add(&directoryconfig.Entry{Config: directoryconfig.Connection{Name: "cloud", Type: directory.TypeEntraID, Namespaces: []string{ns}}, Directory: entra})
	if err := e.reconcilePolicy("cloudpol"); err != nil {
		t.Fatal(err)
	}
	got := e.policy("cloudpol")
	policyCond(t, got, lapsv1.ConditionPolicyPushed, metav1.ConditionTrue, ReasonPublished)
	policyCond(t, got, lapsv1.ConditionSettingsIgnored, metav1.ConditionTrue, ReasonSomeIgnored)
	if len(entra.Published()) != 1 || got.Status.Published[0].Kind != PublishedIntunePolicy {
		t.Fatalf("published %v %+v", entra.Published(), got.Status.Published)
	}
	if err := e.reconcilePolicy("cloudpol"); err != nil {
		t.Fatal(err)
	}
	if n := len(entra.CallsOf("publishPolicy")); n != 1 {
		t.Fatalf("published %d times; an unchanged policy must not be pushed again", n)
	}
	if err := e.client.Delete(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	if err := e.reconcilePolicy("cloudpol"); err != nil {
		t.Fatal(err)
	}
	if len(entra.Published()) != 0 || len(entra.CallsOf("withdrawPolicy")) != 1 {
		t.Fatalf("not withdrawn: %v", entra.Published())
	}
}

// TestLapsPolicyReconciler_countsStorageDrift: what the directory holds is counted per policy.
func TestLapsPolicyReconciler_countsStorageDrift(t *testing.T) {
	e := fleet(t, 4, newPolicy("base", lapsv1.PolicyRootGroupPolicy, 0, nil))
	e.dir.Update(guidOf(2), func(r *directory.DeviceRecord) { r.Source = directory.SourceCleartext })
	e.dir.Update(guidOf(3), func(r *directory.DeviceRecord) {
		r.Source, r.PasswordUpdateTime, r.UpdateTimeSource = directory.SourceNone, time.Time{}, directory.UpdateTimeUnknown
	})
	e.dir.Update(guidOf(4), func(r *directory.DeviceRecord) {
		r.Source, r.LegacyExpirationTime, r.PasswordExpirationTime = directory.SourceLegacy, r.PasswordExpirationTime, time.Time{}
	})
	e.sync()
	for _, n := range []string{"pc1", "pc2", "pc3", "pc4"} {
		e.reconcileDevice(n)
	}
	assertCondition(t, e.device("pc2"), lapsv1.ConditionReady, metav1.ConditionFalse, ReasonCleartextPasswordStored)
	assertCondition(t, e.device("pc3"), lapsv1.ConditionPasswordCurrent, metav1.ConditionFalse, ReasonNoPasswordStored)
	assertCondition(t, e.device("pc4"), lapsv1.ConditionPasswordCurrent, metav1.ConditionFalse, ReasonLegacyPasswordStored)
	if err := e.reconcilePolicy("base"); err != nil {
		t.Fatal(err)
	}
	st := e.policy("base").Status
	if st.MatchedDevices != 4 || st.CompliantDevices != 1 || st.CleartextPasswordDevices != 1 || st.NoPasswordStoredDevices != 1 || st.LegacyPasswordDevices != 1 {
		t.Fatalf("counts %+v", st)
	}
}

// TestLapsPolicyReconciler_principalCache: the principal is searched once per connection and
// TTL, however often the policy is reconciled (its device counts change all the time), and again
// after the TTL or a spec change.
func TestLapsPolicyReconciler_principalCache(t *testing.T) {
	p := newPolicy("base", lapsv1.PolicyRootGroupPolicy, 0, nil)
	p.Spec.ADPasswordEncryptionPrincipal = ptr.To(`CORP\Domain Admins`)
	p.Generation = 1
	e := newEnv(t, p)
	e.dir.AddPrincipal(`CORP\Domain Admins`, "S-1-5-21-1-2-3-512")
	r := e.policyReconciler()
	r.Principals = principalcache.New(15 * time.Minute)
	reconcileOnce := func() reconcile.Result {
		t.Helper()
		res, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "base"}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	lookups := func() int { return len(e.dir.CallsOf("resolvePrincipal")) }
	for range 6 {
		if res := reconcileOnce(); res.RequeueAfter != 15*time.Minute {
			t.Fatalf("RequeueAfter %v, want the TTL", res.RequeueAfter)
		}
		e.clock.Step(time.Minute)
	}
	if n := lookups(); n != 1 {
		t.Fatalf("6 reconciles made %d principal lookups, want 1", n)
	}
	policyCond(t, e.policy("base"), lapsv1.ConditionPrincipalResolved, metav1.ConditionTrue, ReasonResolved)
	e.clock.Step(10 * time.Minute) // past the TTL
	reconcileOnce()
	if n := lookups(); n != 2 {
		t.Fatalf("after the TTL: %d lookups, want 2", n)
	}
	// A spec change (new generation) searches again at once.
	cur := e.policy("base")
	cur.Spec.PasswordAgeDays = ptr.To[int32](20)
	cur.Generation = 2
	if err := e.client.Update(context.Background(), cur); err != nil {
		t.Fatal(err)
	}
	if g := e.policy("base").Generation; g == e.policy("base").Status.ObservedGeneration {
		t.Fatalf("the fake client kept generation %d", g)
	}
	reconcileOnce()
	if n := lookups(); n != 3 {
		t.Fatalf("after a spec change: %d lookups, want 3", n)
	}
}
