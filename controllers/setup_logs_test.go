package controllers

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/directory/directorytest"
	"github.com/fleetlaps/fleetlaps/internal/directoryconfig"
	"github.com/fleetlaps/fleetlaps/internal/logcapture"
)

// TestSetupWithManager_directoryKeyOncePerLine: the sync runnables SetupWithManager builds log
// the "directory" key once per line (it used to be added by both the setup and the syncer).
func TestSetupWithManager_directoryKeyOncePerLine(t *testing.T) {
	logs, logger := logcapture.New(1)
	mgr, err := ctrl.NewManager(testCfg, ctrl.Options{
		Scheme: testScheme(t), Logger: logger, Metrics: metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(t0)
	dir := directorytest.New("logs-corp", directory.TypeActiveDirectory, clk.Now)
	dir.FailAlways("snapshot", directory.NewError(directory.ErrUnreachable, "logs-corp", "snapshot", errors.New("connection refused")))
	comps, err := SetupWithManager(context.Background(), mgr, Options{
		Directories: directoryconfig.NewSet(dir), Clock: clk, ManualSync: true, SyncInterval: time.Minute, Jitter: func() float64 { return 0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	comps.Syncers[0].SyncOnce(context.Background())
	lines := 0
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if !strings.Contains(line, "snapshot failed") {
			continue
		}
		lines++
		if n := strings.Count(line, `"directory"=`); n != 1 {
			t.Errorf("%d directory keys in %s", n, line)
		}
	}
	if lines == 0 {
		t.Fatalf("no snapshot failure logged:\n%s", logs.String())
	}
}
