// Command kubectl-laps is a kubectl plugin for fleetlaps. "kubectl laps render" turns a LapsPolicy
// manifest into the document devices read (CSP SyncML, Intune JSON, Registry.pol, its text form or
// the agent's local configuration), after the same validation the apiserver applies.
package main

import (
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes the command line and returns the exit code: 0 on success, 1 on any error (the
// message is on stderr; nothing is written to stdout).
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := newRootCommand(stdin, stdout, stderr)
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		_, _ = io.WriteString(stderr, "error: "+err.Error()+"\n")
		return 1
	}
	return 0
}
