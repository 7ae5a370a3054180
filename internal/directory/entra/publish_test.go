package entra_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/graphemu"
	"github.com/fleetlaps/fleetlaps/internal/policy"
	"github.com/fleetlaps/fleetlaps/internal/policy/policytest"
	"github.com/fleetlaps/fleetlaps/internal/render"
)

func intuneDoc(t *testing.T, mutate func(*lapsv1.LapsPolicySpec)) []byte {
	t.Helper()
	spec := policytest.SeedCSPExampleEntraID()
	if mutate != nil {
		mutate(&spec)
	}
	data, err := render.Render(render.FormatIntune, policy.Effective(&spec), render.WithName("fleetlaps fleet/workstations"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// create -> assign -> update in place on a hash change -> found again by its marker after a lost
// id (no duplicate) -> delete; a foreign policy is never deleted.
func TestPolicy_Lifecycle(t *testing.T) {
	e := newEnv(t, graphemu.Options{}, nil)
	pub := e.dir.(directory.AssigningPublisher)
	ctx := context.Background()
	groups := []string{"11111111-2222-3333-4444-555555555555"}
	ref, err := pub.PublishAssignedPolicy(ctx, "fleet-workstations", intuneDoc(t, nil), groups)
	if err != nil {
		t.Fatal(err)
	}
	ps := e.emu.Policies()
	if len(ps) != 1 || ps[0].ID != ref.ID || len(ps[0].GroupIDs) != 1 || ps[0].GroupIDs[0] != groups[0] || ref.Hash == "" {
		t.Fatalf("after create: %+v, ref %+v", ps, ref)
	}

	changed := intuneDoc(t, func(s *lapsv1.LapsPolicySpec) { s.PasswordLength = ptr(int32(20)) })
	ref2, err := pub.PublishAssignedPolicy(ctx, "fleet-workstations", changed, groups)
	if err != nil {
		t.Fatal(err)
	}
	ps = e.emu.Policies()
	if ref2.ID != ref.ID || ref2.Hash == ref.Hash || len(ps) != 1 || ps[0].Updates != 1 || !strings.Contains(string(ps[0].Body), `"value":20`) {
		t.Fatalf("update in place: ref %+v -> %+v, policies %+v", ref, ref2, ps)
	}

	// The manager crashed after creating but before recording the id: a new backend finds the
	// policy by its ownership marker instead of creating a second one.
	restarted := e.open(t, nil).(directory.AssigningPublisher)
	ref3, err := restarted.PublishAssignedPolicy(ctx, "fleet-workstations", changed, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ref3.ID != ref.ID || len(e.emu.Policies()) != 1 || e.emu.Count("createPolicy") != 1 {
		t.Fatalf("after restart: ref %+v, %d policies, %d creates; want the same id, 1, 1", ref3, len(e.emu.Policies()), e.emu.Count("createPolicy"))
	}
	if g := e.emu.Policies()[0].GroupIDs; len(g) != 0 {
		t.Fatalf("assignment not replaced: %v", g)
	}

	foreign := e.emu.AddForeignPolicy("someone else's LAPS", "made by hand")
	if err := restarted.(directory.PolicyPublisher).WithdrawPolicy(ctx, directory.PublishedRef{ID: foreign}); !errors.Is(err, directory.ErrOutOfScope) {
		t.Fatalf("withdraw of a foreign policy: %v, want ErrOutOfScope", err)
	}
	if err := restarted.(directory.PolicyPublisher).WithdrawPolicy(ctx, ref3); err != nil {
		t.Fatal(err)
	}
	if err := restarted.(directory.PolicyPublisher).WithdrawPolicy(ctx, ref3); err != nil {
		t.Fatalf("withdraw of a deleted policy: %v, want nil", err)
	}
	if ps := e.emu.Policies(); len(ps) != 1 || ps[0].ID != foreign {
		t.Fatalf("left: %+v, want only the foreign policy", ps)
	}
}

func ptr[T any](v T) *T { return &v }
