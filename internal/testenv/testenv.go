// Package testenv starts the envtest control plane (a real kube-apiserver and etcd built from
// source by hack/envtest-assets.sh) with this project's CRDs installed. Test packages call it
// once from TestMain.
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// RepoRoot is the repository root, found from this file's location.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// AssetsDir returns KUBEBUILDER_ASSETS, or the newest bin/k8s/<version>-<os>-<arch>/ directory
// that hack/envtest-assets.sh built. It fails with instructions when neither exists: tests never
// skip for a missing control plane.
func AssetsDir() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	matches, _ := filepath.Glob(filepath.Join(RepoRoot(), "bin", "k8s", "*-"+runtime.GOOS+"-"+runtime.GOARCH))
	for i := len(matches) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(matches[i], "kube-apiserver")); err == nil {
			return matches[i], nil
		}
	}
	return "", fmt.Errorf("no envtest binaries: run `make test` (or `export KUBEBUILDER_ASSETS=$(hack/envtest-assets.sh | tail -1)`) to build kube-apiserver and etcd from source")
}

// Environment returns an envtest environment with the CRDs from config/crd/bases.
func Environment() (*envtest.Environment, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	return &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}, nil
}

// Start starts an environment and returns its rest config and a stop function.
func Start() (*rest.Config, func() error, error) {
	env, err := Environment()
	if err != nil {
		return nil, nil, err
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, nil, fmt.Errorf("starting envtest with assets %s: %w", env.BinaryAssetsDirectory, err)
	}
	return cfg, env.Stop, nil
}
