package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/report"
)

// TestEnroll runs enroll, --rotate and --revoke against a real apiserver.
func TestEnroll(t *testing.T) {
	c := cluster(t)
	ctx := context.Background()
	for _, ns := range []string{"enroll", defaultManagerNamespace} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	if err := c.Create(ctx, &lapsv1.ManagedDevice{ObjectMeta: metav1.ObjectMeta{Namespace: "enroll", Name: "ws-0001"}, Spec: lapsv1.ManagedDeviceSpec{
		Identity:     lapsv1.DeviceIdentity{ActiveDirectory: &lapsv1.ActiveDirectoryIdentity{DistinguishedName: "CN=WS-0001,DC=corp"}},
		DirectoryRef: lapsv1.DirectoryReference{Name: "corp"},
	}}); err != nil {
		t.Fatal(err)
	}
	dev := report.DeviceRef{Namespace: "enroll", Name: "ws-0001"}
	storedHash := func() []byte {
		var s corev1.Secret
		if err := c.Get(ctx, types.NamespacedName{Namespace: defaultManagerNamespace, Name: report.TokenSecretName(dev)}, &s); err != nil {
			return nil
		}
		return s.Data["ws-0001"]
	}

	code, out, errOut := runCmd(t, "", "enroll", "ws-0001", "--kubeconfig", kubeconfig, "-n", "enroll")
	tok := strings.TrimSpace(out)
	if code != 0 || !report.TokenMatches(tok, storedHash()) || !strings.Contains(errOut, "shown only this once") {
		t.Fatalf("enroll: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if d, err := report.ParseToken(tok); err != nil || d != dev {
		t.Fatalf("token names %v, %v", d, err)
	}
	if code, _, errOut := runCmd(t, "", "enroll", "ws-0001", "--kubeconfig", kubeconfig, "-n", "enroll"); code != 1 || !strings.Contains(errOut, "already has a token (use --rotate") {
		t.Fatalf("second enroll: exit %d, %q", code, errOut)
	}
	if !report.TokenMatches(tok, storedHash()) {
		t.Fatal("a refused enroll changed the token")
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	code, out, _ = runCmd(t, "", "enroll", "ws-0001", "--rotate", "--token-file", tokenFile, "--kubeconfig", kubeconfig, "-n", "enroll")
	data, _ := os.ReadFile(tokenFile)
	rotated := strings.TrimSpace(string(data))
	if fi, err := os.Stat(tokenFile); code != 0 || out != "" || err != nil || fi.Mode().Perm() != 0o600 ||
		report.TokenMatches(tok, storedHash()) || !report.TokenMatches(rotated, storedHash()) {
		t.Fatalf("rotate: exit %d, stdout %q", code, out)
	}
	if code, out, _ := runCmd(t, "", "enroll", "ws-0001", "--revoke", "--kubeconfig", kubeconfig, "-n", "enroll"); code != 0 || storedHash() != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("revoke: exit %d %q", code, out)
	}
	if code, _, errOut := runCmd(t, "", "enroll", "ws-9999", "--kubeconfig", kubeconfig, "-n", "enroll"); code != 1 || !strings.Contains(errOut, "ManagedDevice enroll/ws-9999 not found") {
		t.Fatalf("unknown device: exit %d %q", code, errOut)
	}
	if code, _, errOut := runCmd(t, "", "enroll", "ws-0001", "--rotate", "--revoke", "--kubeconfig", kubeconfig, "-n", "enroll"); code != 1 || !strings.Contains(errOut, "none of the others can be") {
		t.Fatalf("--rotate --revoke: exit %d %q", code, errOut)
	}
}
