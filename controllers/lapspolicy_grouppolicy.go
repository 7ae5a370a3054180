package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/grouppolicy"
	"github.com/fleetlaps/fleetlaps/internal/render"
)

// PublishedGroupPolicyObject is the status.published kind of a policy's Group Policy object; Ref
// is its {GUID}.
const PublishedGroupPolicyObject = "GroupPolicyObject"

// Group Policy reasons.
const (
	// ReasonMissingRight: the publishing account lacks a right; the message names it.
	ReasonMissingRight = "MissingRight"
	// ReasonLinkTargetOutOfScope: a link target lies outside the connection's search bases.
	ReasonLinkTargetOutOfScope = "LinkTargetOutOfScope"
	// ReasonGroupPolicyNotConfigured: the connection has no publishing account.
	ReasonGroupPolicyNotConfigured = "GroupPolicyNotConfigured"
	ReasonDriftRestored            = "DriftRestored"
	ReasonInSync                   = "InSync"
)

// groupPolicyOwner is the ownership mark of p's Group Policy object.
func groupPolicyOwner(p *lapsv1.LapsPolicy) string { return p.Namespace + "/" + p.Name }

// groupPolicyObject is what p declares for its Group Policy object, from the rendered artefacts.
func groupPolicyObject(p *lapsv1.LapsPolicy, arts []artefact) (directory.GroupPolicyObject, error) {
	g := p.Spec.GroupPolicy
	obj := directory.GroupPolicyObject{Owner: groupPolicyOwner(p), DisplayName: g.DisplayName, MachineExtensions: grouppolicy.RegistryExtensions}
	if obj.DisplayName == "" {
		obj.DisplayName = "fleetlaps " + p.Namespace + "/" + p.Name
	}
	if p.Spec.EffectivePolicyRoot() == lapsv1.PolicyRootLegacyLAPS {
		obj.MachineExtensions = grouppolicy.LegacyLAPSExtensions
	}
	for _, a := range arts {
		if a.Format == render.FormatRegistryPol {
			obj.RegistryPol = a.Data
		}
	}
	if obj.RegistryPol == nil {
		return obj, fmt.Errorf("policy root %s renders no Registry.pol; groupPolicy needs policyRoot GroupPolicy or LegacyLAPS", p.Spec.EffectivePolicyRoot())
	}
	for _, l := range g.Links {
		obj.Links = append(obj.Links, directory.GroupPolicyLink{Target: l.Target, Enforced: l.Enforced})
	}
	return obj, nil
}

// reconcileGroupPolicy publishes the policy as a Group Policy object. The backend compares what
// the domain holds with the declaration and writes only what differs; differences found while
// the declaration is the one last published are drift (someone edited the object): they are
// restored, reported by the GPODrift condition and an event naming them. Sets: PolicyPushed,
// GPODrift, status.published.
func (r *LapsPolicyReconciler) reconcileGroupPolicy(ctx context.Context, s *policyScope) error {
	p := s.policy
	pub, ok := s.entry.Directory.(directory.GroupPolicyPublisher)
	if !ok || s.entry.Config.Type != directory.TypeActiveDirectory {
		return stalled("DirectoryTypeUnsupported", fmt.Errorf("directory %q (type %s) cannot publish Group Policy objects; groupPolicy needs an Active Directory connection",
			s.entry.Config.Name, s.entry.Config.Type))
	}
	obj, err := groupPolicyObject(p, s.artefacts)
	if err != nil {
		return stalled("RenderFailed", err)
	}
	var previous *lapsv1.PublishedPolicy
	for i := range p.Status.Published {
		if p.Status.Published[i].Kind == PublishedGroupPolicyObject {
			previous = &p.Status.Published[i]
		}
	}
	res, err := pub.PublishGroupPolicy(ctx, obj)
	if err != nil {
		switch directory.KindOf(err) {
		case directory.ErrPermissionDenied:
			s.pushErr = err
			// Not Stalled: the right is granted outside the cluster; retried with backoff, and
			// PolicyPushed names the right (reason MissingRight).
			return fmt.Errorf("publishing Group Policy object: %w", err)
		case directory.ErrOutOfScope:
			return stalled(ReasonLinkTargetOutOfScope, err)
		case directory.ErrInvalidConfig:
			return stalled(ReasonGroupPolicyNotConfigured, err)
		}
		s.pushErr = err
		return fmt.Errorf("publishing Group Policy object: %w", err)
	}
	drift := previous != nil && previous.Ref == res.GUID && previous.Hash == s.hash && len(res.Differences) > 0
	s.gpoDrift = &gpoDrift{found: drift, differences: res.Differences}
	if drift && r.Recorder != nil {
		r.Recorder.Eventf(p, nil, "Warning", "GPODriftRestored", "PublishGroupPolicy", "Group Policy object %s was changed outside the controller and restored: %s",
			res.GUID, strings.Join(res.Differences, "; "))
	}
	if res.Created && r.Recorder != nil {
		r.Recorder.Eventf(p, nil, "Normal", "Published", "PublishGroupPolicy", "created Group Policy object %s in directory %s", res.GUID, s.entry.Config.Name)
	}
	p.Status.Published = []lapsv1.PublishedPolicy{{Directory: s.entry.Config.Name, Kind: PublishedGroupPolicyObject, Ref: res.GUID, Hash: s.hash, Version: int64(res.Version)}}
	s.pushed = true
	// Hand edits of the object are seen only by looking: look again after the resync interval.
	s.requeueAfter = r.groupPolicyResync()
	return nil
}

// DefaultGroupPolicyResync is how often a published Group Policy object is compared with its
// declaration when nothing else triggers a reconcile.
const DefaultGroupPolicyResync = 10 * time.Minute

func (r *LapsPolicyReconciler) groupPolicyResync() time.Duration {
	if r.GroupPolicyResync > 0 {
		return r.GroupPolicyResync
	}
	return DefaultGroupPolicyResync
}

// gpoDrift is what the last publish found.
type gpoDrift struct {
	found       bool
	differences []string
}

// withdrawGroupPolicy unlinks and deletes the policy's Group Policy object through the
// connection that published it.
func (r *LapsPolicyReconciler) withdrawGroupPolicy(ctx context.Context, p *lapsv1.LapsPolicy, pub lapsv1.PublishedPolicy) error {
	e, err := r.Directories.Lookup(pub.Directory)
	if err != nil {
		return nil // the connection is gone: nothing can be withdrawn through it
	}
	gp, ok := e.Directory.(directory.GroupPolicyPublisher)
	if !ok {
		return nil
	}
	if err := gp.WithdrawGroupPolicy(ctx, groupPolicyOwner(p)); err != nil {
		return fmt.Errorf("withdrawing Group Policy object %s from %s: %w", pub.Ref, pub.Directory, err)
	}
	return nil
}
