package controllers

// This file is the only place the reconcilers call into the policy engine (internal/policy,
// internal/schedule, internal/render, built on branch policy-engine). Until that branch is merged
// the functions below hold minimal stand-ins with the engine's documented semantics, so the
// reconcilers, their tests and their call sites do not change at the merge.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

// selection mirrors policy.Selection.
type selection struct {
	Winner *lapsv1.LapsPolicy
	Losers []string
}

// selectPolicy mirrors policy.Select: same namespace and directoryRef, selector matches, not
// being deleted; winner by root order, then higher priority, then smaller name.
func selectPolicy(device *lapsv1.ManagedDevice, policies []lapsv1.LapsPolicy) (selection, error) {
	var matched []*lapsv1.LapsPolicy
	var errs []string
	for i := range policies {
		p := &policies[i]
		if p.Namespace != device.Namespace || p.DeletionTimestamp != nil || p.Spec.DirectoryRef.Name != device.Spec.DirectoryRef.Name {
			continue
		}
		sel := labels.Everything()
		if p.Spec.DeviceSelector != nil {
			s, err := metav1.LabelSelectorAsSelector(p.Spec.DeviceSelector)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", p.Name, err))
				continue
			}
			sel = s
		}
		if sel.Matches(labels.Set(device.Labels)) {
			matched = append(matched, p)
		}
	}
	slices.SortFunc(matched, func(a, b *lapsv1.LapsPolicy) int {
		if d := rootOf(a).Precedence() - rootOf(b).Precedence(); d != 0 {
			return d
		}
		if a.Spec.Priority != b.Spec.Priority {
			return int(b.Spec.Priority) - int(a.Spec.Priority)
		}
		return strings.Compare(a.Name, b.Name)
	})
	var out selection
	if len(matched) > 0 {
		out.Winner = matched[0]
		for _, p := range matched[1:] {
			out.Losers = append(out.Losers, p.Name)
		}
		slices.Sort(out.Losers)
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("policies with invalid deviceSelector: %s", strings.Join(errs, "; "))
	}
	return out, nil
}

func rootOf(p *lapsv1.LapsPolicy) lapsv1.PolicyRoot {
	if p.Spec.PolicyRoot == "" {
		return lapsv1.PolicyRootCSP
	}
	return p.Spec.PolicyRoot
}

// settings is the subset of policy.Settings the reconcilers read.
type settings struct {
	BackupDirectory                     lapsv1.BackupDirectory
	PolicyRoot                          lapsv1.PolicyRoot
	AdministratorAccountName            string
	PasswordAgeDays                     int32
	PasswordExpirationProtectionEnabled bool
	ADPasswordEncryptionEnabled         bool
	ADPasswordEncryptionPrincipal       string
	PasswordComplexity                  lapsv1.PasswordComplexity
}

// effectiveSettings mirrors policy.Effective (defaults of seed 002).
func effectiveSettings(spec *lapsv1.LapsPolicySpec) settings {
	s := settings{
		BackupDirectory: spec.BackupDirectory, PolicyRoot: spec.PolicyRoot, PasswordAgeDays: 30,
		PasswordExpirationProtectionEnabled: true, ADPasswordEncryptionEnabled: true,
		PasswordComplexity: lapsv1.ComplexityLargeAndSmallLettersNumbersAndSpecials,
	}
	if s.PolicyRoot == "" {
		s.PolicyRoot = lapsv1.PolicyRootCSP
	}
	if spec.PasswordAgeDays != nil {
		s.PasswordAgeDays = *spec.PasswordAgeDays
	}
	if spec.AdministratorAccountName != nil {
		s.AdministratorAccountName = *spec.AdministratorAccountName
	}
	if spec.PasswordExpirationProtectionEnabled != nil {
		s.PasswordExpirationProtectionEnabled = *spec.PasswordExpirationProtectionEnabled
	}
	if spec.ADPasswordEncryptionEnabled != nil {
		s.ADPasswordEncryptionEnabled = *spec.ADPasswordEncryptionEnabled
	}
	if spec.ADPasswordEncryptionPrincipal != nil {
		s.ADPasswordEncryptionPrincipal = *spec.ADPasswordEncryptionPrincipal
	}
	if spec.PasswordComplexity != nil {
		s.PasswordComplexity = *spec.PasswordComplexity
	}
	if s.BackupDirectory != lapsv1.BackupDirectoryActiveDirectory {
		s.ADPasswordEncryptionEnabled, s.ADPasswordEncryptionPrincipal = false, ""
	}
	return s
}

// account is the managed account name shown in status (Windows default: the built-in
// Administrator when no name is set).
func (s settings) account() string {
	if s.AdministratorAccountName != "" {
		return s.AdministratorAccountName
	}
	return "Administrator"
}

// settingsHash mirrors policy.Hash(policy.Effective(spec)).
func settingsHash(spec *lapsv1.LapsPolicySpec) string {
	b, _ := json.Marshal(spec)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// validatePolicy mirrors policy.Validate (admission already enforces ranges and CEL rules).
func validatePolicy(spec *lapsv1.LapsPolicySpec) field.ErrorList {
	var errs field.ErrorList
	if spec.DirectoryRef.Name == "" {
		errs = append(errs, field.Required(field.NewPath("spec", "directoryRef", "name"), "name a configured directory connection"))
	}
	if spec.BackupDirectory == lapsv1.BackupDirectoryEntraID && spec.PasswordAgeDays != nil && *spec.PasswordAgeDays < 7 {
		errs = append(errs, field.Invalid(field.NewPath("spec", "passwordAgeDays"), *spec.PasswordAgeDays, "must be at least 7 for EntraID"))
	}
	return errs
}

// ignoredSettings mirrors policy.Ignored, as "field: reason" strings.
func ignoredSettings(spec *lapsv1.LapsPolicySpec) []string {
	var out []string
	if spec.BackupDirectory != lapsv1.BackupDirectoryActiveDirectory && spec.ADPasswordEncryptionPrincipal != nil {
		out = append(out, "spec.adPasswordEncryptionPrincipal: only applies when backupDirectory is ActiveDirectory")
	}
	return out
}

// compatibility mirrors policy.Compatibility.
type compatibility struct {
	Compatible      bool
	Reason, Message string
	Unknown         bool
}

// checkCompatibility mirrors policy.CheckCompatibility: passphrases and automatic account
// management need build 26100 (Windows 11 24H2 / Server 2025).
func checkCompatibility(s settings, osBuild string) compatibility {
	if osBuild == "" {
		return compatibility{Unknown: true, Reason: "OSBuildUnknown", Message: "no agent has reported the OS build yet"}
	}
	parts := strings.Split(osBuild, ".")
	build := 0
	if len(parts) >= 3 {
		build, _ = strconv.Atoi(parts[2])
	}
	if build == 0 {
		return compatibility{Unknown: true, Reason: "OSBuildUnparsable", Message: fmt.Sprintf("OS build %q is not of the form 10.0.NNNNN", osBuild)}
	}
	if s.PasswordComplexity.IsPassphrase() && build < 26100 {
		return compatibility{Reason: "PassphraseUnsupported", Message: fmt.Sprintf("passwordComplexity %s needs build 26100 or later; %s falls back to the default", s.PasswordComplexity, osBuild)}
	}
	return compatibility{Compatible: true, Reason: "Supported", Message: fmt.Sprintf("build %s supports every chosen setting", osBuild)}
}

// passwordExpiry mirrors schedule.Expiry.
func passwordExpiry(updated time.Time, ageDays int32) time.Time {
	return updated.Add(time.Duration(ageDays) * 24 * time.Hour)
}

// expirationProtectionBreach mirrors schedule.ExpirationProtectionBreach: the directory's expiry
// lies beyond update time + passwordAgeDays (the device rotates at once when protection is on).
func expirationProtectionBreach(updated, dirExpiry time.Time, ageDays int32) bool {
	if updated.IsZero() || dirExpiry.IsZero() {
		return false
	}
	return dirExpiry.After(passwordExpiry(updated, ageDays))
}

var weekdays = map[string]time.Weekday{"Sunday": time.Sunday, "Monday": time.Monday, "Tuesday": time.Tuesday,
	"Wednesday": time.Wednesday, "Thursday": time.Thursday, "Friday": time.Friday, "Saturday": time.Saturday}

// windowAt mirrors schedule.WindowAt. No windows means always open.
func windowAt(windows []lapsv1.MaintenanceWindow, now time.Time) (open bool, closesAt, nextOpen time.Time, err error) {
	if len(windows) == 0 {
		return true, time.Time{}, time.Time{}, nil
	}
	for _, w := range windows {
		loc := time.UTC
		if w.TimeZone != "" {
			if loc, err = time.LoadLocation(w.TimeZone); err != nil {
				return false, time.Time{}, time.Time{}, err
			}
		}
		hh, mm := 0, 0
		if _, err = fmt.Sscanf(w.Start, "%d:%d", &hh, &mm); err != nil {
			return false, time.Time{}, time.Time{}, fmt.Errorf("window start %q: %w", w.Start, err)
		}
		local := now.In(loc)
		for d := -1; d <= 7; d++ {
			day := local.AddDate(0, 0, d)
			start := time.Date(day.Year(), day.Month(), day.Day(), hh, mm, 0, 0, loc)
			if !slices.ContainsFunc(w.Days, func(x lapsv1.DayOfWeek) bool { return weekdays[string(x)] == start.Weekday() }) {
				continue
			}
			end := start.Add(time.Duration(w.DurationMinutes) * time.Minute)
			if !now.Before(start) && now.Before(end) {
				if !open || end.After(closesAt) {
					open, closesAt = true, end
				}
			}
			if start.After(now) && (nextOpen.IsZero() || start.Before(nextOpen)) {
				nextOpen = start
			}
		}
	}
	return open, closesAt, nextOpen, nil
}

// rateBudget mirrors schedule.RateBudget: at most maxConcurrent in flight, perMinute takes in
// any sliding minute (0 = unlimited).
type rateBudget struct {
	mu            sync.Mutex
	maxConcurrent int
	perMinute     int
	taken         []time.Time
}

func newRateBudget(maxConcurrent, perMinute int) *rateBudget {
	return &rateBudget{maxConcurrent: maxConcurrent, perMinute: perMinute}
}

// take asks for one write at now with inFlight rotations under way.
func (b *rateBudget) take(now time.Time, inFlight int) (bool, time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.maxConcurrent > 0 && inFlight >= b.maxConcurrent {
		return false, time.Time{}
	}
	cut := now.Add(-time.Minute)
	b.taken = slices.DeleteFunc(b.taken, func(t time.Time) bool { return !t.After(cut) })
	if b.perMinute > 0 && len(b.taken) >= b.perMinute {
		return false, b.taken[0].Add(time.Minute)
	}
	b.taken = append(b.taken, now)
	return true, time.Time{}
}

// backoffUntil mirrors schedule.Backoff: 1m, 2m, 4m ... capped at 1h after the last failure.
func backoffUntil(failedAttempts int32, lastFailure time.Time) time.Time {
	if failedAttempts <= 0 {
		return lastFailure
	}
	d := time.Minute << min(failedAttempts-1, 6)
	return lastFailure.Add(min(d, time.Hour))
}

// artefact mirrors render.Artefact.
type artefact struct {
	Name, Format, ContentType string
	Data                      []byte
}

// renderPolicy mirrors render.ForPolicy. Stand-in: one JSON document of the effective settings.
func renderPolicy(p *lapsv1.LapsPolicy) ([]artefact, error) {
	b, err := json.MarshalIndent(effectiveSettings(&p.Spec), "", "  ")
	if err != nil {
		return nil, err
	}
	return []artefact{{Name: "settings.json", Format: "json", ContentType: "application/json", Data: b}}, nil
}
