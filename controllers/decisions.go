package controllers

// This file is the only place the reconcilers call into the policy engine (internal/policy,
// internal/schedule, internal/render, internal/evidence), except the RotationRequest decisions
// schedule.Slot and schedule.NextWrite, whose inputs are gathered in rotationrequest_slots.go and
// rotationrequest_writes.go, and internal/compliance, called from manageddevice_status.go whose
// conditions it decides. Keeping the calls here makes the engine's contract visible in one
// screen.

import (
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/evidence"
	"github.com/fleetlaps/fleetlaps/internal/policy"
	"github.com/fleetlaps/fleetlaps/internal/render"
	"github.com/fleetlaps/fleetlaps/internal/schedule"
)

type (
	selection     = policy.Selection
	settings      = policy.Settings
	compatibility = policy.Compatibility
)

// selectPolicy picks the one effective policy (root order, then priority, then name).
func selectPolicy(device *lapsv1.ManagedDevice, policies []lapsv1.LapsPolicy) (selection, error) {
	return policy.Select(device, policies)
}

func effectiveSettings(spec *lapsv1.LapsPolicySpec) settings { return policy.Effective(spec) }

// accountOf is the managed account name shown in status.
func accountOf(s settings) string {
	if a := s.AutomaticAccountManagement; a.Enabled {
		if a.Target == lapsv1.AccountTargetBuiltinAdministrator {
			return "Administrator"
		}
		return a.NameOrPrefix
	}
	if s.AdministratorAccountName != "" {
		return s.AdministratorAccountName
	}
	return "Administrator"
}

func settingsHash(spec *lapsv1.LapsPolicySpec) string { return policy.Hash(policy.Effective(spec)) }

func validatePolicy(spec *lapsv1.LapsPolicySpec) field.ErrorList { return policy.Validate(spec) }

// ignoredSettings returns "field: reason" strings.
func ignoredSettings(spec *lapsv1.LapsPolicySpec) []string {
	var out []string
	for _, i := range policy.Ignored(spec) {
		out = append(out, i.String())
	}
	return out
}

func checkCompatibility(s settings, osBuild string) compatibility {
	return policy.CheckCompatibility(s, osBuild)
}

// evidenceOf decides whether rec proves a rotation after res was requested, and when.
func evidenceOf(rec directory.DeviceRecord, res *lapsv1.DeviceRotationResult) (time.Time, bool) {
	return evidence.Rotated(rec, evidence.Request{RequestedAt: res.RequestTime(), PreviousPasswordVersion: res.PreviousPasswordVersion})
}

// versionForEvidence is the password version recorded with an intent. When the directory states
// when the password was updated (replication metadata, Entra's backup time), that time at or
// after the intent is the evidence (evidence.Rotated), and the version is not stored: it would
// be the largest part of every in-flight result.
func versionForEvidence(rec directory.DeviceRecord) string {
	if evidence.UpdateTimeStated(rec) {
		return ""
	}
	return rec.CurrentPasswordVersion
}

func passwordExpiry(updated time.Time, ageDays int32) time.Time {
	return schedule.Expiry(updated, ageDays)
}

func expirationProtectionBreach(updated, dirExpiry time.Time, ageDays int32) bool {
	return schedule.ExpirationProtectionBreach(updated, dirExpiry, ageDays)
}

// retryAt is when a failed directory write may be tried again.
func retryAt(failedAttempts int32, lastFailure time.Time) time.Time {
	return schedule.Backoff(failedAttempts, lastFailure)
}

// nextAttention is the RequeueAfter for the earliest future candidate (bounded by the engine's
// MinRequeue/MaxRequeue).
func nextAttention(now time.Time, candidates ...time.Time) time.Duration {
	return schedule.NextAttention(now, candidates...)
}

type artefact = render.Artefact

// renderPolicy renders every artefact of the policy's root (render.ForPolicy validates first).
func renderPolicy(p *lapsv1.LapsPolicy) ([]artefact, error) { return render.ForPolicy(p) }

// intuneArtefact picks the document an Entra ID PolicyPublisher pushes.
func intuneArtefact(arts []artefact) ([]byte, bool) {
	for _, a := range arts {
		if a.Format == render.FormatIntune {
			return a.Data, true
		}
	}
	return nil, false
}
