// Command kubectl-laps is the kubectl plugin for fleetlaps, the daily tool of the people who run
// it. It follows kubectl's conventions (k8s.io/cli-runtime): --kubeconfig, --context, -n/-A and
// -o table|yaml|json.
//
//	kubectl laps status [DEVICE...|-l SELECTOR]  the fleet per policy, or devices in detail
//	kubectl laps explain DEVICE                   why a device has its effective policy
//	kubectl laps rotate DEVICE...|-l SELECTOR     create a RotationRequest (--wait follows it)
//	kubectl laps render -f FILE [-o FORMAT]       render a LapsPolicy manifest for devices
//
// The plugin reads and creates Kubernetes objects only: it never talks to a directory and never
// reads a password.
package main

import (
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes the command line and returns the exit code: 0 on success, 1 on any error (the
// message is on stderr).
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := newRootCommand(stdin, stdout, stderr)
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		_, _ = io.WriteString(stderr, "error: "+err.Error()+"\n")
		return 1
	}
	return 0
}
