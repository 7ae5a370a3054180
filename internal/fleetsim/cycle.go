package fleetsim

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"

	"github.com/fleetlaps/fleetlaps/internal/adsyntax"
	"github.com/fleetlaps/fleetlaps/internal/ldapserver"
)

// maxLocalStates bounds the local state history kept for image rollback.
const maxLocalStates = 8

// Policy roots with their own behaviour.
const rootLegacy = "LegacyLAPS"

func (f *Fleet) roll(d *device, p float64) bool { return p > 0 && d.rng.Float64() < p }

func (p Policy) age() time.Duration {
	days := p.PasswordAgeDays
	if days <= 0 {
		days = 30
	}
	return time.Duration(days) * 24 * time.Hour
}

// cycle is one background processing cycle (seed 001): nothing outside normal boot; otherwise
// check the password against the directory (AD) or the local expiry (Entra) and rotate when
// it expired, the version GUID differs (image rollback), the policy age was exceeded
// (expiration protection) or a post-authentication grace period ended.
func (f *Fleet) cycle(d *device, now time.Time) {
	f.stats.Cycles++
	if d.boot != BootNormal {
		return // Windows LAPS is disabled in safe mode, DSRM and every non-normal boot
	}
	p := d.policy
	switch p.BackupDirectory {
	case BackupActiveDirectory:
		f.log(d, Event{ID: EventCycleStarted, Time: now})
		if p.PolicyRoot == rootLegacy {
			f.log(d, Event{ID: EventPolicyLegacy, Time: now})
		} else {
			f.log(d, Event{ID: EventPolicyAD, Time: now})
		}
		f.cycleAD(d, now)
	case BackupEntraID:
		f.log(d, Event{ID: EventCycleStarted, Time: now})
		f.log(d, Event{ID: EventPolicyEntra, Time: now})
		f.cycleEntra(d, now)
	}
}

// postAuthDue says whether a post-authentication reset is due now.
func (d *device) postAuthDue(now time.Time) bool {
	delay := d.policy.PostAuthenticationResetDelay
	return !d.signInAt.IsZero() && delay > 0 && !now.Before(d.signInAt.Add(time.Duration(delay)*time.Hour))
}

func (f *Fleet) cycleEntra(d *device, now time.Time) {
	l := d.local()
	postAuth := d.postAuthDue(now)
	if postAuth {
		f.log(d, Event{ID: EventGracePeriodOver, Time: now})
	}
	if !postAuth && !l.expiry.IsZero() && now.Before(l.expiry) {
		f.log(d, Event{ID: EventCycleSucceeded, Time: now})
		return
	}
	if !f.canBuildPassword(d, now, postAuth) {
		return
	}
	if f.roll(d, f.cfg.Rates.Unreachable) {
		f.fail(d, now, EventEntraUpdateFailed, CodeServerDown, "Entra ID update failed")
		return
	}
	f.rotated(d, now, localState{updated: now, expiry: now.Add(d.policy.age())}, EventStoredInEntra, postAuth)
}

// canBuildPassword fails the rotation with 10027 when the local password policy cannot be met.
func (f *Fleet) canBuildPassword(d *device, now time.Time, postAuth bool) bool {
	if !d.complexityFails && !f.roll(d, f.cfg.Rates.Complexity) {
		return true
	}
	f.fail(d, now, EventComplexityUnachievable, CodePasswordRestriction,
		"cannot generate a password meeting the local length/complexity policy")
	if postAuth {
		f.log(d, Event{ID: EventPostAuthResetFailed, Time: now, Code: CodePasswordRestriction})
	}
	return false
}

func (f *Fleet) cycleAD(d *device, now time.Time) {
	p := d.policy
	dc := d.spec.DomainController
	if dc && !(p.ADBackupDSRMPassword && p.ADPasswordEncryptionEnabled) {
		// A domain controller has no local accounts; without DSRM backup there is nothing to do.
		f.log(d, Event{ID: EventCycleSucceeded, Time: now})
		return
	}
	if f.roll(d, f.cfg.Rates.Unreachable) {
		f.fail(d, now, EventADQueryFailed, CodeServerDown, "no domain controller answered")
		return
	}
	legacy := p.PolicyRoot == rootLegacy
	expAttr := ldapserver.AttrPasswordExpirationTime
	if legacy {
		expAttr = ldapserver.AttrLegacyExpirationTime
	}
	pwAttr, histAttr := ldapserver.AttrEncryptedPassword, ldapserver.AttrEncryptedPasswordHistory
	if dc {
		pwAttr, histAttr = ldapserver.AttrEncryptedDSRMPassword, ldapserver.AttrEncryptedDSRMPasswordHistory
	}
	want := []string{expAttr, ldapserver.AttrCurrentPasswordVersion}
	keepHistory := !legacy && p.ADPasswordEncryptionEnabled && p.ADEncryptedPasswordHistorySize > 0
	if keepHistory {
		want = append(want, pwAttr, histAttr) // SELF may read the current encrypted value for the history
	}
	vals, err := f.dir.Read(f.writer, d.spec.DN, want...)
	f.stats.DirectoryReads++
	if err != nil {
		f.fail(d, now, EventADQueryFailed, errorCode(err), "reading the computer object failed")
		return
	}

	l := d.local()
	rotate := false
	dirVersion := ""
	if v := vals[ldapserver.AttrCurrentPasswordVersion]; len(v) == 1 {
		dirVersion, _ = adsyntax.ParseGUID([]byte(v[0]))
	}
	expiry, never, expErr := time.Time{}, false, errors.New("absent")
	if v := vals[expAttr]; len(v) == 1 {
		var ft adsyntax.Filetime
		ft, expErr = adsyntax.ParseFiletime(v[0])
		expiry, never = ft.Time, ft.Never
	}
	switch {
	case !legacy && dirVersion != "" && dirVersion != l.version:
		// Image rollback (or a password written by another copy of this machine).
		if l.version != "" {
			f.stats.RollbacksDetected++
		}
		f.log(d, Event{ID: EventPasswordNeedsUpdate, Time: now, Code: ReasonRollback,
			Message: "msLAPS-CurrentPasswordVersion differs from the local LastPasswordVersion"})
		rotate = true
	case expErr != nil:
		rotate = true // no password backed up yet (or an unreadable expiry)
	case !never && !now.Before(expiry):
		rotate = true
	case p.PasswordExpirationProtectionEnabled && !l.updated.IsZero() && !now.Before(l.updated.Add(p.age())):
		rotate = true // the directory expiry is later than the policy allows
	}
	postAuth := d.postAuthDue(now)
	if postAuth {
		f.log(d, Event{ID: EventGracePeriodOver, Time: now})
		rotate = true
	}
	if !rotate {
		f.log(d, Event{ID: EventCycleSucceeded, Time: now})
		return
	}
	if !f.canBuildPassword(d, now, postAuth) {
		return
	}
	if f.roll(d, f.cfg.Rates.PermissionDenied) {
		f.fail(d, now, EventADUpdateFailed, CodeAccessDenied, "access denied writing the password")
		return
	}

	version := d.newGUID()
	versionStr, _ := adsyntax.ParseGUID(version)
	newExpiry := now.Add(p.age())
	changes := []ldapserver.Change{{Op: ldapserver.ModReplace, Attr: expAttr, Vals: []string{adsyntax.FormatFiletime(newExpiry)}}}
	switch {
	case legacy:
		changes = append(changes, ldapserver.Change{Op: ldapserver.ModReplace, Attr: ldapserver.AttrLegacyPassword, Vals: []string{placeholder(d)}})
		versionStr = ""
	case p.ADPasswordEncryptionEnabled:
		blob := d.opaque(f.cfg.BlobSize)
		value := string(append(adsyntax.EncryptedPasswordHeader(now, len(blob)), blob...))
		var hist []string
		if keepHistory {
			hist = append(vals[pwAttr], vals[histAttr]...)
			if len(hist) > p.ADEncryptedPasswordHistorySize {
				hist = hist[:p.ADEncryptedPasswordHistorySize]
			}
		}
		changes = append(changes,
			ldapserver.Change{Op: ldapserver.ModReplace, Attr: pwAttr, Vals: []string{value}},
			ldapserver.Change{Op: ldapserver.ModReplace, Attr: histAttr, Vals: hist},
			ldapserver.Change{Op: ldapserver.ModReplace, Attr: ldapserver.AttrCurrentPasswordVersion, Vals: []string{string(version)}})
		if !dc {
			changes = append(changes, ldapserver.Change{Op: ldapserver.ModReplace, Attr: ldapserver.AttrPassword})
		}
	default:
		doc, _ := json.Marshal(map[string]string{"n": p.accountName(), "t": hexFiletime(now), "p": placeholder(d)})
		changes = append(changes,
			ldapserver.Change{Op: ldapserver.ModReplace, Attr: ldapserver.AttrPassword, Vals: []string{string(doc)}},
			ldapserver.Change{Op: ldapserver.ModReplace, Attr: ldapserver.AttrEncryptedPassword},
			ldapserver.Change{Op: ldapserver.ModReplace, Attr: ldapserver.AttrEncryptedPasswordHistory},
			ldapserver.Change{Op: ldapserver.ModReplace, Attr: ldapserver.AttrCurrentPasswordVersion, Vals: []string{string(version)}})
	}
	if err := f.dir.Modify(f.writer, d.spec.DN, changes); err != nil {
		f.fail(d, now, EventADUpdateFailed, errorCode(err), "writing the password to Active Directory failed")
		if postAuth {
			f.log(d, Event{ID: EventPostAuthResetFailed, Time: now, Code: errorCode(err)})
		}
		return
	}
	f.stats.DirectoryWrites++
	f.rotated(d, now, localState{version: versionStr, updated: now, expiry: newExpiry}, EventStoredInAD, postAuth)
}

// rotated records a successful rotation: the directory has the new password, then the local
// account is updated and the new state saved.
func (f *Fleet) rotated(d *device, now time.Time, st localState, storedEvent int, postAuth bool) {
	f.log(d, Event{ID: storedEvent, Time: now})
	f.log(d, Event{ID: EventLocalPasswordUpdated, Time: now})
	if postAuth {
		d.signInAt = time.Time{}
		f.stats.PostAuthResets++
		f.log(d, Event{ID: EventPostAuthResetDone, Time: now})
	}
	f.log(d, Event{ID: EventCycleSucceeded, Time: now})
	d.versions = append(d.versions, st)
	if len(d.versions) > maxLocalStates {
		d.versions = d.versions[len(d.versions)-maxLocalStates:]
	}
	d.rotations++
	f.stats.Rotations++
}

// placeholder stands where a clear-text password would be: random, never kept, never a
// password of any account (the simulator manages no real account).
func placeholder(d *device) string {
	return "sim-" + base64.RawURLEncoding.EncodeToString(d.opaque(12))
}

func errorCode(err error) uint32 {
	var re *ldapserver.ResultError
	if errors.As(err, &re) && re.Code == ldapserver.ResultInsufficientAccessRight {
		return CodeAccessDenied
	}
	return CodeServerDown
}
