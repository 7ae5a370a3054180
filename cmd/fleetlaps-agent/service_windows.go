//go:build windows

package main

import (
	"context"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows/svc"
)

func defaultConfigPath() string {
	return filepath.Join(os.Getenv("ProgramData"), "fleetlaps", "agent.yaml")
}

func isWindowsService() (bool, error) { return svc.IsWindowsService() }

// runService runs the agent under the service control manager until it says stop.
func runService(name string, run func(context.Context) error) error {
	return svc.Run(name, &serviceHandler{run: run})
}

type serviceHandler struct{ run func(context.Context) error }

func (h *serviceHandler) Execute(_ []string, req <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.run(ctx) }()
	status <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	for {
		select {
		case c := <-req:
			switch c.Cmd {
			case svc.Interrogate:
				status <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				status <- svc.Status{State: svc.StopPending}
				cancel()
				<-done
				return false, 0
			}
		case err := <-done:
			if err != nil {
				return false, 1
			}
			return false, 0
		}
	}
}
