//go:build !linux

package main

import (
	"context"
	"os"
)

// On other systems the demo keeps plain output and stops on Ctrl-C (SIGINT) only.
func isTerminal(*os.File) bool { return false }

func watchQuitKeys(ctx context.Context, _ *os.File) (context.Context, func(), bool) {
	return ctx, func() {}, false
}
