package agent

import (
	"context"

	"github.com/fleetlaps/fleetlaps/internal/fleetsim"
	"github.com/fleetlaps/fleetlaps/internal/render"
	"github.com/fleetlaps/fleetlaps/internal/report"
)

// Simulated is a Source that plays one fleetsim device: what its simulated Windows LAPS
// applied and logged. Applied is the values of the policy the device received (what the
// manager published for it).
type Simulated struct {
	Fleet    *fleetsim.Fleet
	Computer string
	Applied  []render.RegistryValue
}

// Collect reads the device's simulated state.
func (s *Simulated) Collect(context.Context) (State, error) {
	r, err := s.Fleet.Report(s.Computer)
	if err != nil {
		return State{}, err
	}
	return SimulatedState(r, s.Applied), nil
}

// SimulatedState is the State of a fleetsim report.
func SimulatedState(r fleetsim.Report, applied []render.RegistryValue) State {
	st := State{
		OSBuild: r.OSBuild, BootMode: string(r.BootMode), ActiveRoot: r.ActivePolicyRoot, AppliedValues: applied,
		LocalPasswordVersion: r.LocalPasswordVersion, LocalExpirationTime: r.LocalExpirationTime,
	}
	if st.OSBuild == "" {
		st.OSBuild = "10.0.26100"
	}
	for _, e := range r.RecentEvents {
		st.Events = append(st.Events, report.Event{ID: int32(e.ID), Time: e.Time, ResultCode: e.Code, Message: e.Message})
	}
	return st
}
