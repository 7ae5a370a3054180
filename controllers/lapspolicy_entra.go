package controllers

import (
	"context"
	"fmt"
	"hash"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/conditions"
	"github.com/fleetlaps/fleetlaps/internal/directory"
)

// Entra ID specifics of the LapsPolicy reconciler: group assignment of the Intune policy and the
// tenant's LAPS switch.

// ReasonTenantLAPSDisabled: the Entra tenant does not allow LAPS password backup.
const (
	ReasonTenantLAPSDisabled = "TenantLAPSDisabled"
	ReasonTenantLAPSOn       = "Enabled"
	ReasonTenantCheckFailed  = "CheckFailed"
)

// tenantRecheck is how often a policy whose tenant has LAPS off looks at the switch again.
const tenantRecheck = 10 * time.Minute

type tenantLAPS struct {
	applicable bool
	enabled    bool
	err        error
}

// groupIDs returns spec.entra.assignToGroupIDs.
func groupIDs(spec *lapsv1.LapsPolicySpec) []string {
	if spec.Entra == nil {
		return nil
	}
	return spec.Entra.AssignToGroupIDs
}

// hashAssignment adds the assigned groups (sorted, lower case) to the rendered hash, so a change
// of assignment republishes like a change of settings.
func hashAssignment(h hash.Hash, spec *lapsv1.LapsPolicySpec) {
	g := groupIDs(spec)
	if len(g) == 0 {
		return
	}
	ids := make([]string, len(g))
	for i, id := range g {
		ids[i] = strings.ToLower(id)
	}
	slices.Sort(ids)
	fmt.Fprintf(h, "assignToGroupIDs\x00%s\x00", strings.Join(ids, ","))
}

// publishIntune publishes doc under the policy's namespaced name, assigned to its groups where
// the directory assigns. The name is NAMESPACE/NAME: "/" appears in neither part, so two
// namespaces can never name (and so find and update) the same directory-side policy.
func publishIntune(ctx context.Context, d directory.Directory, p *lapsv1.LapsPolicy, doc []byte) (directory.PublishedRef, error) {
	name := p.Namespace + "/" + p.Name
	if ap, ok := d.(directory.AssigningPublisher); ok {
		return ap.PublishAssignedPolicy(ctx, name, doc, groupIDs(&p.Spec))
	}
	if len(groupIDs(&p.Spec)) > 0 {
		return directory.PublishedRef{}, fmt.Errorf("directory %s cannot assign policies to groups", d.Name())
	}
	return d.(directory.PolicyPublisher).PublishPolicy(ctx, name, doc)
}

// reconcileTenantLAPS reads the tenant's LAPS switch for EntraID policies. Sets:
// TenantLAPSEnabled.
func (r *LapsPolicyReconciler) reconcileTenantLAPS(ctx context.Context, s *policyScope) error {
	if s.policy.Spec.BackupDirectory != lapsv1.BackupDirectoryEntraID || s.entry == nil {
		return nil
	}
	chk, ok := s.entry.Directory.(directory.TenantLAPSChecker)
	if !ok {
		return nil
	}
	s.tenant.applicable = true
	s.tenant.enabled, s.tenant.err = chk.TenantLAPSEnabled(ctx)
	return s.tenant.err
}

func setTenantLAPSCondition(s *policyScope, set func(t string, status metav1.ConditionStatus, reason, msg string)) {
	st := &s.policy.Status
	switch {
	case !s.tenant.applicable:
		if s.policy.Spec.BackupDirectory != lapsv1.BackupDirectoryEntraID {
			conditions.Remove(&st.Conditions, lapsv1.ConditionTenantLAPSEnabled)
		}
	case s.tenant.err != nil:
		set(lapsv1.ConditionTenantLAPSEnabled, metav1.ConditionUnknown, ReasonTenantCheckFailed,
			"could not read the tenant's LAPS setting: "+s.tenant.err.Error())
	case s.tenant.enabled:
		set(lapsv1.ConditionTenantLAPSEnabled, metav1.ConditionTrue, ReasonTenantLAPSOn,
			"the Entra tenant allows devices to back up LAPS passwords")
	default:
		set(lapsv1.ConditionTenantLAPSEnabled, metav1.ConditionFalse, ReasonTenantLAPSDisabled,
			fmt.Sprintf("LAPS is turned off in the Entra tenant of directory %s: no device can back up its password until an administrator enables Microsoft Entra Local Administrator Password Solution in the tenant's device settings", s.entry.Config.Name))
	}
}
