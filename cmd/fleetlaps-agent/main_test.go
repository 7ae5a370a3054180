package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/render"
	"github.com/fleetlaps/fleetlaps/internal/report"
	"github.com/fleetlaps/fleetlaps/internal/testenv"
)

func writeConfig(t *testing.T, dir, url string, ca []byte, token string) string {
	t.Helper()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "ca.crt"), ca, 0o600))
	must(os.WriteFile(filepath.Join(dir, "token"), []byte(token+"\n"), 0o600))
	cfg := filepath.Join(dir, "agent.yaml")
	must(os.WriteFile(cfg, []byte("serverURL: "+url+"\ncaFile: "+filepath.Join(dir, "ca.crt")+"\ntokenFile: "+filepath.Join(dir, "token")+"\ninterval: 1h\n"), 0o600))
	return cfg
}

// TestOnceSimulate runs the agent binary's code path end to end: a simulated device reports
// once over HTTPS to a report API backed by a real apiserver, and status.agent shows it.
func TestOnceSimulate(t *testing.T) {
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = lapsv1.AddToScheme(scheme)
	cfg, stop, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stop() }()
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, ns := range []string{"fleet", "fleetlaps-system"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Create(ctx, &lapsv1.ManagedDevice{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "ws-0001"}, Spec: lapsv1.ManagedDeviceSpec{
		Identity:     lapsv1.DeviceIdentity{ActiveDirectory: &lapsv1.ActiveDirectoryIdentity{DistinguishedName: "CN=WS-0001,DC=corp"}},
		DirectoryRef: lapsv1.DirectoryReference{Name: "corp"},
	}}); err != nil {
		t.Fatal(err)
	}
	dev := report.DeviceRef{Namespace: "fleet", Name: "ws-0001"}
	toks, err := report.Enroll(ctx, c, "fleetlaps-system", []report.DeviceRef{dev}, false)
	if err != nil {
		t.Fatal(err)
	}
	certDir := t.TempDir()
	ca, err := report.WriteSelfSigned(certDir, []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	l := &report.Listener{Addr: "127.0.0.1:0", CertDir: certDir, Ready: make(chan struct{}),
		Server: &report.Server{Client: c, Tokens: c, ManagerNamespace: "fleetlaps-system"}}
	done := make(chan error, 1)
	go func() { done <- l.Start(ctx) }()
	select {
	case <-l.Ready:
	case err := <-done:
		t.Fatal(err)
	}
	conf := writeConfig(t, t.TempDir(), "https://"+l.BoundAddr().String(), ca, toks[dev])

	var stdout, stderr bytes.Buffer
	if code := run([]string{"--config", conf, "--once", "--simulate"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "report for fleet/ws-0001 accepted (status written: true)") {
		t.Errorf("stdout %q", stdout.String())
	}
	var md lapsv1.ManagedDevice
	if err := c.Get(ctx, types.NamespacedName{Namespace: "fleet", Name: "ws-0001"}, &md); err != nil {
		t.Fatal(err)
	}
	a := md.Status.Agent
	if a == nil || a.OSBuild != "10.0.26100" || a.ActivePolicyRoot != lapsv1.PolicyRootGroupPolicy || a.LocalPasswordVersion == "" ||
		a.AppliedPolicyHash != render.AppliedHash(appliedValues(defaultSimPolicy())) || len(a.RecentEvents) == 0 {
		t.Fatalf("status.agent %+v", a)
	}
	// A second run is a new process: its sequence still grows, and the heartbeat writes nothing.
	stdout.Reset()
	if code := run([]string{"--config", conf, "--once", "--simulate"}, &stdout, &stderr); code != 0 {
		t.Fatalf("second run exit %d: %s", code, stderr.String())
	}
	for _, out := range []string{stdout.String(), stderr.String()} {
		if strings.Contains(out, toks[dev]) {
			t.Fatal("the token was printed")
		}
	}
	cancel()
	<-done
}

func TestConfigErrorsNameFilesNotSecrets(t *testing.T) {
	dir := t.TempDir()
	const secret = "fltk1.ZmxlZXQvd3MtMDAwMQ.c2VjcmV0"
	cases := map[string]string{
		"serverURL: http://x\ncaFile: a\ntokenFile: b\n":                  "must be an https:// URL",
		"serverURL: https://x\ntokenFile: b\n":                            "caFile is required",
		"serverURL: https://x\ncaFile: a\n":                               "tokenFile is required",
		"serverURL: https://x\ncaFile: a\ntokenFile: b\ninterval: soon\n": "expected a positive Go duration",
		"serverURL: https://x\ncaFile: a\ntokenFile: b\ntoken: " + secret: "unknown field",
	}
	for body, want := range cases {
		p := filepath.Join(dir, "agent.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		code := run([]string{"--config", p, "--once"}, &stdout, &stderr)
		if code != 1 || !strings.Contains(stderr.String(), want) {
			t.Errorf("%q: exit %d, stderr %q, want %q", body, code, stderr.String(), want)
		}
	}
	// A token file that holds something else is refused without echoing it.
	p := writeConfig(t, dir, "https://127.0.0.1:1", []byte("x"), "hunter2-not-a-token")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--config", p, "--once"}, &stdout, &stderr); code != 1 || strings.Contains(stderr.String(), "hunter2") ||
		!strings.Contains(stderr.String(), "is not a fleetlaps enrollment token") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}
