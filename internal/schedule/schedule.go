// Package schedule holds the pure time decisions of fleetlaps: password expiry, expiration
// protection, maintenance windows, rotation rate budgets, retry backoff and the next time a
// reconciler needs to look at an object. Every function takes the current time as an argument;
// nothing here reads the clock (STYLE.md §6).
package schedule

import (
	"time"
	_ "time/tzdata" // maintenance windows name IANA zones; do not depend on the host's tzdata.
)

const day = 24 * time.Hour

// Expiry is when a password backed up at updated expires with a maximum age of ageDays: updated +
// ageDays × 24 h (seed 001: "An associated password expiration time, which is based on the
// current policy's password age setting, is also computed and stored in the directory").
// Elapsed days, not calendar days: Windows stores the expiry as an absolute FILETIME. A zero
// updated or a non-positive ageDays gives the zero time (no expiry known).
func Expiry(updated time.Time, ageDays int32) time.Time {
	if updated.IsZero() || ageDays <= 0 {
		return time.Time{}
	}
	return updated.Add(time.Duration(ageDays) * day)
}

// ExpirationProtectionTolerance absorbs the difference between the directory's expiry (100 ns
// FILETIME) and an update time known only to the second (replication metadata).
const ExpirationProtectionTolerance = time.Minute

// ExpirationProtectionBreach says whether the directory's expiry lies later than the password's
// update time plus ageDays (beyond ExpirationProtectionTolerance): a planned expiration "that
// would result in a password age greater than what is specified by the PasswordAgeDays policy",
// which a device with PasswordExpirationProtectionEnabled corrects by rotating at once (seed 001,
// seed 003 PasswordExpirationProtectionEnabled). Unknown times never breach.
func ExpirationProtectionBreach(updated, directoryExpiry time.Time, ageDays int32) bool {
	limit := Expiry(updated, ageDays)
	if limit.IsZero() || directoryExpiry.IsZero() {
		return false
	}
	return directoryExpiry.After(limit.Add(ExpirationProtectionTolerance))
}

// Backoff bounds: the first retry waits BackoffBase, each further failure doubles the wait, up
// to BackoffMax.
const (
	BackoffBase = time.Minute
	BackoffMax  = time.Hour
)

// Backoff is the earliest time to retry after failedAttempts consecutive failures, the last at
// lastFailure: lastFailure + 1 min × 2^(failedAttempts-1), capped at 1 h (1, 2, 4, 8, 16, 32, 60,
// 60 ... minutes). No failures (or no failure time) means no wait: the zero time. The cap keeps a
// broken device retried hourly, about as often as its own LAPS cycle runs (seed 001), and never
// in a tight loop.
func Backoff(failedAttempts int32, lastFailure time.Time) time.Time {
	if failedAttempts <= 0 || lastFailure.IsZero() {
		return time.Time{}
	}
	wait := BackoffMax
	if failedAttempts <= 7 { // 2^6 min = 64 min > cap
		wait = min(BackoffBase<<(failedAttempts-1), BackoffMax)
	}
	return lastFailure.Add(wait)
}

// Requeue bounds for NextAttention.
const (
	// MinRequeue keeps a reconciler from spinning on an event that is due within the second.
	MinRequeue = time.Second
	// MaxRequeue: every object is looked at again at least this often, so a missed watch event or
	// clock drift heals by itself. It is below the smallest passwordAgeDays (1 day).
	MaxRequeue = 12 * time.Hour
)

// NextAttention is the RequeueAfter for the next interesting time: the earliest candidate strictly
// after now (zero times ignored), minus now, at least MinRequeue and at most MaxRequeue. With no
// candidate after now it returns 0 (nothing scheduled: rely on watches). Candidates at or before
// now are ignored, so a past due time never schedules in the past (a tight loop): the caller acts
// on it in the current reconcile.
func NextAttention(now time.Time, candidates ...time.Time) time.Duration {
	var next time.Time
	for _, c := range candidates {
		if c.IsZero() || !c.After(now) {
			continue
		}
		if next.IsZero() || c.Before(next) {
			next = c
		}
	}
	if next.IsZero() {
		return 0
	}
	d := next.Sub(now)
	switch {
	case d < MinRequeue:
		return MinRequeue
	case d > MaxRequeue:
		return MaxRequeue
	}
	return d
}
