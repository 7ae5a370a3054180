package render_test

import (
	"bytes"
	"testing"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/policy"
	"github.com/fleetlaps/fleetlaps/internal/policy/policytest"
	"github.com/fleetlaps/fleetlaps/internal/render"
)

// admittedSpecs is every spec of the shared admission table that both Go and the apiserver admit,
// each also under every policy root the CEL rules allow.
func admittedSpecs() map[string]lapsv1.LapsPolicySpec {
	out := map[string]lapsv1.LapsPolicySpec{}
	for _, tc := range policytest.AdmissionCases {
		if !tc.Valid {
			continue
		}
		for _, root := range []lapsv1.PolicyRoot{"", lapsv1.PolicyRootCSP, lapsv1.PolicyRootGroupPolicy, lapsv1.PolicyRootLocalConfiguration, lapsv1.PolicyRootLegacyLAPS} {
			s := tc.Spec
			if root != "" {
				s.PolicyRoot = root
			}
			if len(policy.Validate(&s)) == 0 {
				out[tc.Name+"/"+string(root)] = s
			}
		}
	}
	return out
}

// TestRender_EveryAdmittedSpecRenders: no spec that admission accepts makes a renderer fail.
func TestRender_EveryAdmittedSpecRenders(t *testing.T) {
	for name, spec := range admittedSpecs() {
		p := lapsPolicy("p", spec)
		if _, err := render.ForPolicy(p); err != nil {
			t.Errorf("%s: ForPolicy: %v", name, err)
		}
		s := policy.Effective(&spec)
		for _, f := range render.Formats {
			if _, err := render.Render(f, s); err != nil {
				t.Errorf("%s: Render %s: %v", name, f, err)
			}
		}
	}
}

// TestHash_ChangesIffArtefactsChange: over every pair of admitted specs, policy.Hash of the
// effective settings is equal exactly when ForPolicy renders the same bytes.
func TestHash_ChangesIffArtefactsChange(t *testing.T) {
	type rendered struct {
		name, hash string
		data       []byte
	}
	var all []rendered
	for name, spec := range admittedSpecs() {
		arts, err := render.ForPolicy(lapsPolicy("p", spec))
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		for _, a := range arts {
			b.WriteString(a.Name + "\x00")
			b.Write(a.Data)
			b.WriteString("\x00")
		}
		all = append(all, rendered{name, policy.Hash(policy.Effective(&spec)), b.Bytes()})
	}
	for i := range all {
		for j := i + 1; j < len(all); j++ {
			a, b := all[i], all[j]
			sameHash, sameData := a.hash == b.hash, bytes.Equal(a.data, b.data)
			if sameHash != sameData {
				t.Errorf("%q vs %q: same hash %v, same artefacts %v", a.name, b.name, sameHash, sameData)
			}
		}
	}
	t.Logf("%d admitted specs compared pairwise", len(all))
}
