package ad

import (
	"crypto/sha256"
	"sync"
	"time"
)

// bindBudget is how many refused binds a connection sends per bindWindow. AD locks an account
// out after its lockout threshold of bad passwords within the observation window (often 5 to 10
// within 30 minutes or more); a controller retrying a changed password every sync would reach
// it and lock the service account for everyone.
const (
	bindBudget = 3
	bindWindow = time.Hour
)

// bindGuard counts refused binds of one password. A changed password file (another hash) is
// tried at once; the same password is not tried again beyond the budget. Callers hold the
// read and write connections of one Directory share it, so the budget holds for the account.
type bindGuard struct {
	mu        sync.Mutex
	refusedAt []time.Time
	password  [sha256.Size]byte
}

// suspended says whether a bind with password must not be sent at now, and until when.
func (g *bindGuard) suspended(now time.Time, password string) (time.Time, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if sha256.Sum256([]byte(password)) != g.password {
		return time.Time{}, false
	}
	recent := g.refusedAt[:0]
	for _, t := range g.refusedAt {
		if now.Sub(t) < bindWindow {
			recent = append(recent, t)
		}
	}
	g.refusedAt = recent
	if len(recent) < bindBudget {
		return time.Time{}, false
	}
	return recent[len(recent)-bindBudget].Add(bindWindow), true
}

// refused records a refused bind of password at now.
func (g *bindGuard) refused(now time.Time, password string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if h := sha256.Sum256([]byte(password)); h != g.password {
		g.password, g.refusedAt = h, nil
	}
	g.refusedAt = append(g.refusedAt, now)
}

// accepted forgets refused binds.
func (g *bindGuard) accepted() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.refusedAt, g.password = nil, [sha256.Size]byte{}
}
