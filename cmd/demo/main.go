// Command demo runs fleetlaps on one machine: a local kube-apiserver and etcd (built from source
// by hack/envtest-assets.sh), the CRDs, the sample objects and the manager, and tells you how to
// point kubectl at it. It runs until Ctrl-C and then removes everything it started.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

func main() {
	var (
		assets  = flag.String("assets", os.Getenv("KUBEBUILDER_ASSETS"), "Directory with kube-apiserver and etcd (hack/envtest-assets.sh prints it).")
		samples = flag.String("samples", "config/samples", "Directory of sample manifests to apply.")
		workDir = flag.String("dir", ".demo", "Directory for the kubeconfig and logs.")
		runFor  = flag.Duration("run-for", 0, "Stop after this long (0: run until Ctrl-C).")
	)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseDevMode(false)))
	if err := run(*assets, *samples, *workDir, *runFor); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(assets, samplesDir, workDir string, runFor time.Duration) error {
	if assets == "" {
		return errors.New("--assets (or KUBEBUILDER_ASSETS) is required; `make demo` sets it")
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if runFor > 0 {
		ctx, cancel = context.WithTimeout(ctx, runFor)
		defer cancel()
	}

	fmt.Println(">> starting kube-apiserver and etcd")
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("starting the control plane: %w", err)
	}
	defer func() {
		fmt.Println(">> stopping the control plane")
		_ = env.Stop()
	}()

	kubeconfig, err := writeKubeconfig(env, workDir)
	if err != nil {
		return err
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(lapsv1.AddToScheme(scheme))
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	applied, err := applySamples(ctx, c, samplesDir)
	if err != nil {
		return err
	}
	fmt.Printf(">> applied %d sample objects from %s\n", applied, samplesDir)

	mgrErr := make(chan error, 1)
	go func() { mgrErr <- startManager(ctx, cfg, scheme) }()

	fmt.Printf(`
fleetlaps demo is running. In another shell:

  export KUBECONFIG=%s PATH=%s:$PATH
  kubectl get lapspolicies,manageddevices,rotationrequests -A
  kubectl get manageddevices -A -w
  kubectl annotate manageddevice -n frontline ws-0001 %s="$(date -u +%%FT%%TZ)"
  kubectl create -f config/samples/laps_v1_rotationrequest.yaml

Ctrl-C stops everything.
`, kubeconfig, assets, lapsv1.AnnotationRotateRequestedAt)

	select {
	case <-ctx.Done():
		return nil
	case err := <-mgrErr:
		return err
	}
}

func startManager(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme) error {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return err
	}
	return mgr.Start(ctx)
}

func writeKubeconfig(env *envtest.Environment, dir string) (string, error) {
	user, err := env.AddUser(envtest.User{Name: "demo-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", fmt.Errorf("creating the demo user: %w", err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	path, err := filepath.Abs(filepath.Join(dir, "kubeconfig"))
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, data, 0o600)
}

// applySamples creates the namespaces the samples use and every object in the directory's YAML
// files, except RotationRequests (those are for you to create).
func applySamples(ctx context.Context, c client.Client, dir string) (int, error) {
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") || filepath.Base(path) == "kustomization.yaml" {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, doc := range strings.Split(string(data), "\n---") {
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if len(u.Object) == 0 || u.GetKind() == "RotationRequest" {
				continue
			}
			if ns := u.GetNamespace(); ns != "" {
				nsObj := &unstructured.Unstructured{}
				nsObj.SetAPIVersion("v1")
				nsObj.SetKind("Namespace")
				nsObj.SetName(ns)
				if err := c.Create(ctx, nsObj); err != nil && !strings.Contains(err.Error(), "already exists") {
					return err
				}
			}
			if err := c.Create(ctx, u); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			n++
		}
		return nil
	})
	return n, err
}
