//go:build !windows

package main

import (
	"context"
	"errors"
)

func defaultConfigPath() string { return "/etc/fleetlaps/agent.yaml" }

// isWindowsService: off Windows the agent runs in the foreground (systemd or a terminal).
func isWindowsService() (bool, error) { return false, nil }

func runService(string, func(context.Context) error) error {
	return errors.New("the Windows service mode needs Windows")
}
