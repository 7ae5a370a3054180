package main

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/testenv"
)

// The cluster commands run against a real kube-apiserver (envtest) with the project's CRDs. It
// is started by the first test that needs it; the render tests need none.
var (
	update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

	envOnce    sync.Once
	env        *envtest.Environment
	envErr     error
	kubeconfig string
	k8s        client.Client
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if env != nil {
		_ = env.Stop()
	}
	if kubeconfig != "" {
		_ = os.RemoveAll(filepath.Dir(kubeconfig))
	}
	os.Exit(code)
}

// cluster starts envtest once and returns an admin client; the plugin reaches the same apiserver
// through the kubeconfig file given by --kubeconfig.
func cluster(t *testing.T) client.Client {
	t.Helper()
	envOnce.Do(func() {
		if env, envErr = testenv.Environment(); envErr != nil {
			return
		}
		cfg, err := env.Start()
		if err != nil {
			envErr, env = err, nil
			return
		}
		dir, err := os.MkdirTemp("", "kubectl-laps-test-")
		if err != nil {
			envErr = err
			return
		}
		kubeconfig = filepath.Join(dir, "kubeconfig")
		if envErr = os.WriteFile(kubeconfig, env.KubeConfig, 0o600); envErr != nil {
			return
		}
		testScheme := runtime.NewScheme()
		utilruntime.Must(clientgoscheme.AddToScheme(testScheme))
		utilruntime.Must(lapsv1.AddToScheme(testScheme))
		k8s, envErr = client.New(cfg, client.Options{Scheme: testScheme})
	})
	if envErr != nil {
		t.Fatalf("envtest: %v", envErr)
	}
	return k8s
}

// laps runs the plugin against the test cluster.
func laps(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runCmd(t, "", append([]string{"--kubeconfig", kubeconfig}, args...)...)
}

// golden compares got with testdata/golden/NAME (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/kubectl-laps -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update after checking):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// t0 is the fixture's "now": every timestamp in the golden files derives from it.
var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) *metav1.Time { t := metav1.NewTime(t0.Add(d)); return &t }

func cond(typ string, status metav1.ConditionStatus, reason, message string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: message, LastTransitionTime: *at(-time.Hour)}
}

func createNamespace(t *testing.T, c client.Client, name string) {
	t.Helper()
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
}

// createWithStatus creates obj and then writes the status it was given (the status subresource
// ignores status on create).
func createWithStatus(t *testing.T, c client.Client, obj client.Object, setStatus func()) {
	t.Helper()
	ctx := context.Background()
	if err := c.Create(ctx, obj); err != nil {
		t.Fatalf("create %s: %v", obj.GetName(), err)
	}
	if setStatus != nil {
		setStatus()
		if err := c.Status().Update(ctx, obj); err != nil {
			t.Fatalf("status of %s: %v", obj.GetName(), err)
		}
	}
}

func newPolicy(ns, name string, root lapsv1.PolicyRoot, priority int32, dir string, selector map[string]string) *lapsv1.LapsPolicy {
	p := &lapsv1.LapsPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: lapsv1.LapsPolicySpec{
			BackupDirectory: lapsv1.BackupDirectoryActiveDirectory,
			DirectoryRef:    lapsv1.DirectoryReference{Name: dir},
			PolicyRoot:      root,
			Priority:        priority,
		},
	}
	if selector != nil {
		p.Spec.DeviceSelector = &metav1.LabelSelector{MatchLabels: selector}
	}
	return p
}

func newDevice(ns, name string, labels map[string]string) *lapsv1.ManagedDevice {
	return &lapsv1.ManagedDevice{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: lapsv1.ManagedDeviceSpec{
			DirectoryRef: lapsv1.DirectoryReference{Name: "corp"},
			Identity: lapsv1.DeviceIdentity{ActiveDirectory: &lapsv1.ActiveDirectoryIdentity{
				DistinguishedName: "CN=" + name + ",OU=Workstations,DC=corp,DC=example",
			}},
		},
	}
}

// fleetFixture creates, in namespace ns, policies and devices in known states:
//
//	gold      CSP 10 tier=gold     wins pc-01 and pc-02 (ignores passphraseLength)
//	gold-low  CSP 5  tier=gold     loses to gold on priority
//	base      GroupPolicy 100 all  wins pc-03, loses to gold on root
//	silver    CSP 0  tier=silver   selects nothing
//	elsewhere CSP 0  directory other
//
//	pc-01 compliant, rotated by RotationRequest pc-01-ticket (evidence: a new version)
//	pc-02 expired, rotation failing with event 10027, a rotation in progress, agent overdue
//	pc-03 compliant under base
//	pc-04 no policy (another directory)
func fleetFixture(t *testing.T, c client.Client, ns string) {
	t.Helper()
	createNamespace(t, c, ns)
	gold := newPolicy(ns, "gold", lapsv1.PolicyRootCSP, 10, "corp", map[string]string{"tier": "gold"})
	gold.Spec.PassphraseLength = ptr.To[int32](7) // ignored: the complexity is not a passphrase
	createWithStatus(t, c, gold, func() {
		gold.Status = lapsv1.LapsPolicyStatus{
			MatchedDevices: 2, CompliantDevices: 1, ExpiredDevices: 1, ConflictingDevices: 2,
			RenderedHash: "3f6c2a1b9d0e",
			Published:    []lapsv1.PublishedPolicy{{Directory: "corp", Kind: "ConfigMap", Ref: "laps-policy-gold", Hash: "3f6c2a1b9d0e"}},
			Conditions:   []metav1.Condition{cond(lapsv1.ConditionReady, metav1.ConditionTrue, "Published", "policy published")},
		}
	})
	createWithStatus(t, c, newPolicy(ns, "gold-low", lapsv1.PolicyRootCSP, 5, "corp", map[string]string{"tier": "gold"}), nil)
	base := newPolicy(ns, "base", lapsv1.PolicyRootGroupPolicy, 100, "corp", nil)
	createWithStatus(t, c, base, func() {
		base.Status = lapsv1.LapsPolicyStatus{
			MatchedDevices: 3, CompliantDevices: 1, ConflictingDevices: 2, RenderedHash: "a9b8c7d6e5f4",
			Conditions: []metav1.Condition{cond(lapsv1.ConditionReady, metav1.ConditionTrue, "Published", "policy published")},
		}
	})
	createWithStatus(t, c, newPolicy(ns, "silver", lapsv1.PolicyRootCSP, 0, "corp", map[string]string{"tier": "silver"}), nil)
	createWithStatus(t, c, newPolicy(ns, "elsewhere", lapsv1.PolicyRootCSP, 0, "other", nil), nil)

	req := &lapsv1.RotationRequest{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pc-01-ticket"},
		Spec:       lapsv1.RotationRequestSpec{DeviceName: "pc-01", Reason: "helpdesk ticket 4711"},
	}
	createWithStatus(t, c, req, func() {
		req.Status = lapsv1.RotationRequestStatus{Phase: lapsv1.RotationSucceeded, Targets: 1, Rotated: 1, Results: []lapsv1.DeviceRotationResult{{
			Device: "pc-01", State: lapsv1.DeviceRotationRotated, RequestedAt: at(-3 * time.Hour),
			PreviousPasswordVersion: "0b6e1c55-0000-4000-8000-000000000001", RotatedAt: at(-2 * time.Hour), Attempts: 1,
		}}}
	})

	pc1 := newDevice(ns, "pc-01", map[string]string{"tier": "gold"})
	createWithStatus(t, c, pc1, func() {
		pc1.Status = lapsv1.ManagedDeviceStatus{
			EffectivePolicy:     &lapsv1.EffectivePolicy{Name: "gold", PolicyRoot: lapsv1.PolicyRootCSP, Hash: "3f6c2a1b9d0e"},
			ConflictingPolicies: []string{"base", "gold-low"},
			Account:             "Administrator", PasswordUpdateTime: at(-2 * time.Hour), PasswordUpdateTimeSource: "ReplicationMetadata",
			PasswordExpirationTime: at(28 * 24 * time.Hour), CurrentPasswordVersion: "0b6e1c55-0000-4000-8000-000000000002",
			LastRotationRequest: "pc-01-ticket",
			Agent:               &lapsv1.AgentStatus{LastReportTime: at(-10 * time.Minute), OSBuild: "10.0.26100.2033"},
			Conditions: []metav1.Condition{
				cond(lapsv1.ConditionReady, metav1.ConditionTrue, "Compliant", "password current"),
				cond(lapsv1.ConditionPasswordCurrent, metav1.ConditionTrue, "NotExpired", "password expires at 2026-12-29T10:00:00Z"),
				cond(lapsv1.ConditionAgentReporting, metav1.ConditionTrue, "Reporting", "last report less than 3h0m0s ago"),
			},
		}
	})
	pc2 := newDevice(ns, "pc-02", map[string]string{"tier": "gold"})
	createWithStatus(t, c, pc2, func() {
		pc2.Status = lapsv1.ManagedDeviceStatus{
			EffectivePolicy:     &lapsv1.EffectivePolicy{Name: "gold", PolicyRoot: lapsv1.PolicyRootCSP, Hash: "3f6c2a1b9d0e"},
			ConflictingPolicies: []string{"base", "gold-low"},
			Account:             "Administrator", PasswordUpdateTime: at(-31 * 24 * time.Hour), PasswordUpdateTimeSource: "ReplicationMetadata",
			PasswordExpirationTime: at(-24 * time.Hour), CurrentPasswordVersion: "7d1f9a20-0000-4000-8000-000000000003",
			Agent: &lapsv1.AgentStatus{LastReportTime: at(-5 * time.Hour), OSBuild: "10.0.22631.4460", RecentEvents: []lapsv1.AgentEvent{
				{ID: 10027, Time: *at(-6 * time.Hour), Message: "the password does not meet the local password policy"},
				{ID: 10005, Time: *at(-30 * time.Hour)},
			}},
			Conditions: []metav1.Condition{
				cond(lapsv1.ConditionReady, metav1.ConditionFalse, "RotationFailing", "password expired"),
				cond(lapsv1.ConditionPasswordCurrent, metav1.ConditionFalse, "RotationFailing", "password expired at 2026-11-30T10:00:00Z and the device's rotation fails: it reported event 10027 at 2026-12-01T04:00:00Z"),
				cond(lapsv1.ConditionRotating, metav1.ConditionTrue, "RotationRequested", "RotationRequest pc-02-x in progress"),
				cond(lapsv1.ConditionAgentReporting, metav1.ConditionFalse, "ReportOverdue", "last report at 2026-12-01T05:00:00Z; reports are expected every 1h0m0s"),
			},
		}
	})
	pc3 := newDevice(ns, "pc-03", nil)
	createWithStatus(t, c, pc3, func() {
		pc3.Status = lapsv1.ManagedDeviceStatus{
			EffectivePolicy: &lapsv1.EffectivePolicy{Name: "base", PolicyRoot: lapsv1.PolicyRootGroupPolicy, Hash: "a9b8c7d6e5f4"},
			Account:         "Administrator", PasswordUpdateTime: at(-5 * 24 * time.Hour), PasswordUpdateTimeSource: "ExpiryMinusAge",
			PasswordExpirationTime: at(25 * 24 * time.Hour),
			Conditions: []metav1.Condition{
				cond(lapsv1.ConditionReady, metav1.ConditionTrue, "Compliant", "password current"),
				cond(lapsv1.ConditionPasswordCurrent, metav1.ConditionTrue, "NotExpired", "password expires at 2026-12-26T10:00:00Z"),
			},
		}
	})
	pc4 := newDevice(ns, "pc-04", map[string]string{"tier": "gold"})
	pc4.Spec.DirectoryRef.Name = "lab"
	createWithStatus(t, c, pc4, func() {
		pc4.Status = lapsv1.ManagedDeviceStatus{Conditions: []metav1.Condition{
			cond(lapsv1.ConditionReady, metav1.ConditionFalse, "NoPolicy", "no LapsPolicy selects this device"),
			cond(lapsv1.ConditionPolicyApplied, metav1.ConditionFalse, "NoPolicy", "no LapsPolicy selects this device"),
		}}
	})
}

var fleetOnce sync.Once

// fleet is the shared read-only fixture of the status and explain tests.
func fleet(t *testing.T) {
	t.Helper()
	c := cluster(t)
	fleetOnce.Do(func() { fleetFixture(t, c, "fleet") })
}
