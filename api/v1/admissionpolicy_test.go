package v1_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/testenv"
)

// The ValidatingAdmissionPolicies of config/admission-policy on a real apiserver without the
// admission webhooks (as when they are disabled): a requester can be left empty or be the
// requesting user, never someone else.

func applyAdmissionPolicies(t *testing.T) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "admission-policy", "requester.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &u.Object); err != nil {
			t.Fatal(err)
		}
		if err := k8s.Create(context.Background(), u); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("creating %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
}

// as returns a client acting as user (in system:masters, so RBAC lets it do anything: only the
// admission policies stand in its way).
func as(t *testing.T, user string) client.Client {
	t.Helper()
	cfg := rest.CopyConfig(restCfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{"system:masters"}}
	c, err := client.New(cfg, client.Options{Scheme: k8s.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// eventuallyDenied retries until the freshly created policies are in force (the apiserver loads
// them asynchronously).
func eventuallyDenied(t *testing.T, try func() error) error {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := try()
		if err != nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func rotationRequest(name, requestedBy string) *lapsv1.RotationRequest {
	return &lapsv1.RotationRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       lapsv1.RotationRequestSpec{DeviceName: "pc1", Reason: "ticket 7", RequestedBy: requestedBy},
	}
}

func mustDeny(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatal("accepted; want a denial")
	}
	if !apierrors.IsInvalid(err) && !apierrors.IsForbidden(err) {
		t.Fatalf("want a policy denial, got %s: %v", apierrors.ReasonForError(err), err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("message does not say %q: %v", want, err)
	}
}

func TestAdmissionPolicy_requestedByIsTheRequestingUser(t *testing.T) {
	applyAdmissionPolicies(t)
	ctx := context.Background()
	alice := as(t, "alice@corp.example")
	err := eventuallyDenied(t, func() error {
		return alice.Create(ctx, rotationRequest("forged", "bob@corp.example"), client.DryRunAll)
	})
	mustDeny(t, err, "spec.requestedBy is recorded from the creating user")

	if err := alice.Create(ctx, rotationRequest("empty", "")); err != nil {
		t.Fatalf("an empty requestedBy (the webhook's to fill): %v", err)
	}
	own := rotationRequest("own", "alice@corp.example")
	if err := alice.Create(ctx, own); err != nil {
		t.Fatalf("the user's own name: %v", err)
	}
	own.Spec.RequestedBy = "bob@corp.example"
	err = as(t, "bob@corp.example").Update(ctx, own)
	if err == nil {
		t.Fatal("requestedBy changed after creation")
	}
	if !strings.Contains(err.Error(), "requestedBy") && !strings.Contains(err.Error(), "immutable") {
		t.Fatalf("message does not say why: %v", err)
	}
}

func TestAdmissionPolicy_rotateRequesterIsTheAnnotatingUser(t *testing.T) {
	applyAdmissionPolicies(t)
	ctx := context.Background()
	device := func(name string, annotations map[string]string) *lapsv1.ManagedDevice {
		return &lapsv1.ManagedDevice{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Annotations: annotations},
			Spec: lapsv1.ManagedDeviceSpec{DirectoryRef: lapsv1.DirectoryReference{Name: "corp"},
				Identity: lapsv1.DeviceIdentity{ActiveDirectory: &lapsv1.ActiveDirectoryIdentity{DistinguishedName: "CN=" + name + ",OU=W,DC=corp,DC=example"}}},
		}
	}
	alice, mallory := as(t, "alice"), as(t, "mallory")
	err := eventuallyDenied(t, func() error {
		return mallory.Create(ctx, device("forged", map[string]string{
			lapsv1.AnnotationRotateRequestedAt: "now", lapsv1.AnnotationRotateRequestedBy: "alice"}), client.DryRunAll)
	})
	mustDeny(t, err, "rotate-requested-by set to the requesting user mallory")

	d := device("pc1", nil)
	if err := alice.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	// Without the webhook, a new request must carry the user's own name.
	d.Annotations = map[string]string{lapsv1.AnnotationRotateRequestedAt: "t1"}
	mustDeny(t, alice.Update(ctx, d), "rotate-requested-by set to the requesting user alice")
	d.Annotations[lapsv1.AnnotationRotateRequestedBy] = "alice"
	if err := alice.Update(ctx, d); err != nil {
		t.Fatalf("the user's own name: %v", err)
	}
	// Relabelling the request as someone else's, without a new request, is refused.
	d.Annotations[lapsv1.AnnotationRotateRequestedBy] = "mallory"
	mustDeny(t, mallory.Update(ctx, d), "cannot be set or changed on its own")
	// Unrelated changes by anyone keep the recorded requester.
	d.Annotations[lapsv1.AnnotationRotateRequestedBy] = "alice"
	d.Labels = map[string]string{"site": "hq"}
	if err := mallory.Update(ctx, d); err != nil {
		t.Fatalf("an unrelated change: %v", err)
	}
}
