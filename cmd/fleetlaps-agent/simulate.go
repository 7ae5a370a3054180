package main

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/utils/clock"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/agent"
	"github.com/fleetlaps/fleetlaps/internal/fleetsim"
	"github.com/fleetlaps/fleetlaps/internal/ldapserver"
	"github.com/fleetlaps/fleetlaps/internal/policy"
	"github.com/fleetlaps/fleetlaps/internal/render"
	"github.com/fleetlaps/fleetlaps/internal/report"
)

// simulation is one simulated Windows LAPS client backing up to its own in-process directory,
// on the real clock: its hourly cycle, rotations and events as fleetsim plays them.
type simulation struct {
	fleet  *fleetsim.Fleet
	source *agent.Simulated
}

func newSimulation(dev report.DeviceRef) (*simulation, error) {
	clk := clock.RealClock{}
	store := ldapserver.NewStore(ldapserver.StoreConfig{Clock: clk, Seed: 1})
	computer := strings.ToUpper(strings.SplitN(dev.Name, ".", 2)[0])
	dn, err := store.AddComputer(ldapserver.Computer{Name: computer})
	if err != nil {
		return nil, fmt.Errorf("simulated directory: %w", err)
	}
	fleet := fleetsim.New(fleetsim.Config{Seed: 1}, store, ldapserver.Identity{Role: ldapserver.RoleDevice}, clk)
	p := defaultSimPolicy()
	if err := fleet.AddDevice(fleetsim.DeviceSpec{Name: computer, DN: dn}, p); err != nil {
		return nil, err
	}
	// The device runs its first cycle now, so even --once reports a backed-up password.
	if err := fleet.InvokePolicyProcessing(computer); err != nil {
		return nil, err
	}
	fleet.Tick(clk.Now())
	return &simulation{fleet: fleet, source: &agent.Simulated{Fleet: fleet, Computer: computer, Applied: appliedValues(p)}}, nil
}

// defaultSimPolicy is the simulated device's policy: fleetsim's defaults.
func defaultSimPolicy() fleetsim.Policy { return fleetsim.DefaultPolicy() }

func (s *simulation) run(ctx context.Context) { _ = s.fleet.Run(ctx, clock.RealClock{}) }

// appliedValues are the registry values a device holds for a fleetsim policy: the same
// rendering the manager publishes.
func appliedValues(p fleetsim.Policy) []render.RegistryValue {
	spec := lapsv1.LapsPolicySpec{
		BackupDirectory:                     lapsv1.BackupDirectoryActiveDirectory,
		PolicyRoot:                          lapsv1.PolicyRoot(p.PolicyRoot),
		PasswordAgeDays:                     ptr(int32(p.PasswordAgeDays)),
		PasswordLength:                      ptr(int32(p.PasswordLength)),
		PasswordExpirationProtectionEnabled: ptr(p.PasswordExpirationProtectionEnabled),
		ADPasswordEncryptionEnabled:         ptr(p.ADPasswordEncryptionEnabled),
		ADEncryptedPasswordHistorySize:      ptr(int32(p.ADEncryptedPasswordHistorySize)),
		ADBackupDSRMPassword:                ptr(p.ADBackupDSRMPassword),
		PostAuthenticationResetDelay:        ptr(int32(p.PostAuthenticationResetDelay)),
	}
	return render.RegistryValues(policy.Effective(&spec))
}

func ptr[T any](v T) *T { return &v }
