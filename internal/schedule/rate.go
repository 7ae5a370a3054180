package schedule

import (
	"sync"
	"time"
)

// ConcurrencyRetry is how long a caller refused for maxConcurrent waits before asking again: the
// budget cannot know when an in-flight rotation finishes (its completion is a watch event that
// usually comes sooner).
const ConcurrencyRetry = 30 * time.Second

// RateBudget limits the rotations the controller starts for one policy: at most maxConcurrent in
// flight (spec.rotation.maxConcurrent) and a token bucket of perMinute tokens refilled evenly
// over a minute (spec.rotation.ratePerMinute; a burst of up to perMinute is allowed). Zero or
// negative limits are unlimited. Time is passed in (STYLE.md §6); a RateBudget is safe for
// concurrent use.
type RateBudget struct {
	maxConcurrent int32
	perMinute     int32

	mu sync.Mutex
	// credit is the bucket content in token-nanoseconds: one token is worth time.Minute, and
	// each elapsed nanosecond adds perMinute. Integer arithmetic keeps refills exact.
	credit int64
	last   time.Time
}

// NewRateBudget returns a full budget.
func NewRateBudget(maxConcurrent, perMinute int32) *RateBudget {
	return &RateBudget{maxConcurrent: maxConcurrent, perMinute: perMinute, credit: int64(perMinute) * int64(time.Minute)}
}

// Take asks to start one rotation at now while inFlight rotations are running. ok means go (a
// token was spent); otherwise retryAt is the earliest time asking again can succeed. A clock that
// goes backwards refills nothing.
func (b *RateBudget) Take(now time.Time, inFlight int) (ok bool, retryAt time.Time) {
	if b == nil {
		return true, time.Time{}
	}
	if b.maxConcurrent > 0 && inFlight >= int(b.maxConcurrent) {
		return false, now.Add(ConcurrencyRetry)
	}
	if b.perMinute <= 0 {
		return true, time.Time{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	capacity := int64(b.perMinute) * int64(time.Minute)
	if !b.last.IsZero() && now.After(b.last) {
		elapsed := min(now.Sub(b.last), time.Minute) // a minute refills the whole bucket
		b.credit = min(capacity, b.credit+int64(elapsed)*int64(b.perMinute))
	}
	if b.last.IsZero() || now.After(b.last) {
		b.last = now
	}
	if b.credit >= int64(time.Minute) {
		b.credit -= int64(time.Minute)
		return true, time.Time{}
	}
	missing := int64(time.Minute) - b.credit
	wait := time.Duration((missing + int64(b.perMinute) - 1) / int64(b.perMinute))
	return false, b.last.Add(wait)
}
