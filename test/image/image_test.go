// Package image_test builds the manager image as an air-gapped site would (hack/image/build.sh:
// buildah, FROM scratch, nothing pulled), runs it with podman against a real kube-apiserver
// (envtest), and checks that it runs as the non-root user 65532 and serves its health endpoints.
package image_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/fleetlaps/fleetlaps/internal/testenv"
)

const nonRootUID = "65532"

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// imageConfig is the part of `podman image inspect` the test reads.
type imageConfig struct {
	Size   int64
	Config struct {
		User       string
		Entrypoint []string
	}
}

func TestImage_BuildsWithoutARegistryAndRunsAsNonRootAgainstAnAPIServer(t *testing.T) {
	for _, tool := range []string{"buildah", "podman"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: `make test` installs the Debian packages in hack/image/packages.txt", tool)
		}
	}
	tag := fmt.Sprintf("localhost/fleetlaps/manager:test-%d", os.Getpid())
	start := time.Now()
	// The static build compiles the manager's packages apart from the test build (CGO_ENABLED=0,
	// -trimpath): a cold cache takes minutes on 2 cores. End the build, and say so, before the
	// test binary's own deadline would kill the test without cleaning up.
	buildCtx := context.Background()
	if deadline, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		buildCtx, cancel = context.WithDeadline(buildCtx, deadline.Add(-time.Minute))
		defer cancel()
	}
	build := exec.CommandContext(buildCtx, filepath.Join(testenv.RepoRoot(), "hack", "image", "build.sh"), tag)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("hack/image/build.sh (after %s): %v\n%s", time.Since(start).Round(time.Second), err, out)
	}
	t.Cleanup(func() { _ = exec.Command("podman", "rmi", "-f", tag).Run() })
	t.Logf("image built in %s", time.Since(start).Round(time.Second))

	var images []imageConfig
	if err := json.Unmarshal([]byte(run(t, "podman", "image", "inspect", tag)), &images); err != nil || len(images) != 1 {
		t.Fatalf("podman image inspect: %v", err)
	}
	img := images[0]
	t.Logf("image size %.1f MB", float64(img.Size)/1e6)
	if img.Config.User != nonRootUID+":"+nonRootUID {
		t.Errorf("image user %q, want %s:%s", img.Config.User, nonRootUID, nonRootUID)
	}
	if strings.Join(img.Config.Entrypoint, " ") != "/manager" {
		t.Errorf("entrypoint %v, want [/manager]", img.Config.Entrypoint)
	}

	ctrllog.SetLogger(logr.Discard())
	env, err := testenv.Environment()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	user, err := env.AddUser(envtest.User{Name: "fleetlaps-manager", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, data := range map[string][]byte{"kubeconfig": kubeconfig, "directories.yaml": []byte("directories: []\n")} {
		// Readable by the container's user 65532; the files are bind-mounted one by one.
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The container shares the host's network so it reaches envtest on the loopback address;
	// it runs as a restricted pod would: read-only root, no capabilities, no new privileges.
	probe := freePort(t)
	name := fmt.Sprintf("fleetlaps-image-test-%d", os.Getpid())
	started := time.Now()
	// runc, not Debian's default crun: crun refuses hosts with cgroup v1 and v2 mounted side by
	// side (hybrid), as CI machines may be. The explicit limits stay below the host's: sandboxes
	// refuse the raised defaults podman asks for.
	run(t, "podman", "--runtime", "runc", "run", "-d", "--name", name, "--network", "host", "--read-only",
		"--cap-drop", "ALL", "--security-opt", "no-new-privileges",
		"--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096",
		"-e", "KUBECONFIG=/etc/fleetlaps/kubeconfig",
		"-v", filepath.Join(dir, "kubeconfig")+":/etc/fleetlaps/kubeconfig:ro",
		"-v", filepath.Join(dir, "directories.yaml")+":/etc/fleetlaps/directories.yaml:ro",
		tag,
		"--directories=/etc/fleetlaps/directories.yaml",
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probe),
		"--metrics-bind-address=0", "--report-bind-address=0", "--enable-webhook=false")
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command("podman", "logs", name).CombinedOutput()
			t.Logf("manager log:\n%s", out)
		}
		_ = exec.Command("podman", "rm", "-f", "-t", "2", name).Run()
	})

	// The process the container runs, seen from the host: its real and effective user ids.
	pid := run(t, "podman", "inspect", "--format", "{{.State.Pid}}", name)
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatalf("reading the manager process's status: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 3 && (f[0] == "Uid:" || f[0] == "Gid:") {
			if f[1] != nonRootUID || f[2] != nonRootUID {
				t.Errorf("manager process %s %v, want %s", f[0], f[1:], nonRootUID)
			}
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for _, path := range []string{"/healthz", "/readyz"} {
		url := fmt.Sprintf("http://127.0.0.1:%d%s", probe, path)
		for {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if ctx.Err() != nil {
				t.Fatalf("%s never answered 200 (last: %v)", url, err)
			}
			if state := run(t, "podman", "inspect", "--format", "{{.State.Status}}", name); state != "running" {
				t.Fatalf("the manager container is %s", state)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	t.Logf("healthy %s after start", time.Since(started).Round(100*time.Millisecond))
	// The controllers start their workers only after their caches listed the CRDs' objects from
	// the apiserver: proof that the container reached it with the mounted kubeconfig.
	for {
		logs, _ := exec.Command("podman", "logs", name).CombinedOutput()
		if strings.Contains(string(logs), `"Starting workers"`) && strings.Contains(string(logs), `"controller":"manageddevice"`) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the controllers never started their workers:\n%s", logs)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("controllers running %s after start", time.Since(started).Round(100*time.Millisecond))
}
