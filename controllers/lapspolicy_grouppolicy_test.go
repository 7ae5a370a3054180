package controllers

import (
	"errors"
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/conditions"
	"github.com/fleetlaps/fleetlaps/internal/directory"
)

// TestUpdatePolicyStatus_GroupPolicy: scope in, PolicyPushed and GPODrift out; no client.
func TestUpdatePolicyStatus_GroupPolicy(t *testing.T) {
	missing := directory.NewError(directory.ErrPermissionDenied, "corp", "publishGroupPolicy",
		errors.New("the publishing account CN=gpo lacks write gPLink on OU=A,DC=corp"))
	cases := map[string]struct {
		scope                     func(s *policyScope)
		err                       error
		pushed, drift             metav1.ConditionStatus
		pushedReason, driftReason string
		driftMessage              string
	}{
		"should report a restored drift naming what differed": {
			scope: func(s *policyScope) {
				s.pushed = true
				s.gpoDrift = &gpoDrift{found: true, differences: []string{"link on OU=A,DC=corp is missing", "GPT.INI version 2 and versionNumber 7 disagree"}}
			},
			pushed: metav1.ConditionTrue, pushedReason: ReasonPublished, drift: metav1.ConditionTrue, driftReason: ReasonDriftRestored,
			driftMessage: "the Group Policy object was changed outside the controller and restored: link on OU=A,DC=corp is missing; GPT.INI version 2 and versionNumber 7 disagree",
		},
		"should report InSync when the object matched": {
			scope:  func(s *policyScope) { s.pushed = true; s.gpoDrift = &gpoDrift{} },
			pushed: metav1.ConditionTrue, pushedReason: ReasonPublished, drift: metav1.ConditionFalse, driftReason: ReasonInSync,
		},
		"should name the missing right": {
			scope:  func(s *policyScope) { s.pushErr = missing },
			err:    fmt.Errorf("publishing Group Policy object: %w", missing),
			pushed: metav1.ConditionFalse, pushedReason: ReasonMissingRight,
		},
		"should stall a link target outside the search bases": {
			scope:  func(s *policyScope) {},
			err:    stalled(ReasonLinkTargetOutOfScope, errors.New(`link target "OU=B,DC=corp" lies outside the connection's search bases`)),
			pushed: metav1.ConditionFalse, pushedReason: ReasonLinkTargetOutOfScope,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := &lapsv1.LapsPolicy{Spec: lapsv1.LapsPolicySpec{BackupDirectory: lapsv1.BackupDirectoryActiveDirectory, GroupPolicy: &lapsv1.GroupPolicySettings{}}}
			s := &policyScope{policy: p, hash: "abc"}
			tc.scope(s)
			updatePolicyStatus(s, t0, tc.err)
			c := conditions.Get(p.Status.Conditions, lapsv1.ConditionPolicyPushed)
			if c == nil || c.Status != tc.pushed || c.Reason != tc.pushedReason {
				t.Fatalf("PolicyPushed = %+v", c)
			}
			if tc.pushedReason == ReasonMissingRight && c.Message != "publishing the Group Policy object failed: "+missing.Error() {
				t.Errorf("MissingRight message %q does not name the right", c.Message)
			}
			d := conditions.Get(p.Status.Conditions, lapsv1.ConditionGPODrift)
			switch {
			case tc.drift == "" && d != nil:
				t.Errorf("GPODrift set without a comparison: %+v", d)
			case tc.drift != "" && (d == nil || d.Status != tc.drift || d.Reason != tc.driftReason):
				t.Errorf("GPODrift = %+v", d)
			case tc.driftMessage != "" && d.Message != tc.driftMessage:
				t.Errorf("GPODrift message %q", d.Message)
			}
		})
	}
}
