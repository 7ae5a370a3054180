//go:build !linux

package adtest

import "os/exec"

func setPdeathsig(*exec.Cmd) {}
