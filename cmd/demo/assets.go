package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// resolveAssets finds the kube-apiserver and etcd binaries the demo runs: the --assets flag,
// KUBEBUILDER_ASSETS, or else hack/envtest-assets.sh from the repository, which builds them from
// source on first use (about 8 minutes, with its progress on stderr) and then answers from its
// cache at once. It also builds kubectl, which the demo tells you to use.
func resolveAssets(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if env := os.Getenv("KUBEBUILDER_ASSETS"); env != "" {
		return env, nil
	}
	script := filepath.Join("hack", "envtest-assets.sh")
	if _, err := os.Stat(script); err != nil {
		return "", errors.New("no control plane: pass --assets DIR (kube-apiserver and etcd), set KUBEBUILDER_ASSETS, " +
			"run from the repository root so hack/envtest-assets.sh can build them, or use --fleet-only")
	}
	fmt.Fprintln(os.Stderr, ">> locating kube-apiserver and etcd (hack/envtest-assets.sh; the first run builds them from source, ~8 min)")
	var out bytes.Buffer
	cmd := exec.Command("bash", script)
	cmd.Env = append(os.Environ(), "FLEETLAPS_ENVTEST_KUBECTL=1")
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building the control plane with %s: %w", script, err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	return strings.TrimSpace(lines[len(lines)-1]), nil
}
