// Package principalcache remembers resolved adPasswordEncryptionPrincipal values per directory
// connection for a time-to-live. Resolving a principal is a subtree search of the whole domain;
// a LapsPolicy is reconciled whenever its device counts change, so without a cache a busy fleet
// repeats the same search many times a minute.
package principalcache

import (
	"context"
	"sync"
	"time"
)

// DefaultTTL is the --principal-cache-ttl default.
const DefaultTTL = 15 * time.Minute

type key struct{ directory, name string }

type entry struct {
	sid     string
	expires time.Time
}

// Cache holds successful resolutions only: a principal that is not found (yet) is looked up again
// at the next reconcile, so a group created in AD shows up without waiting for the TTL. The zero
// TTL disables caching. Safe for concurrent use.
type Cache struct {
	ttl     time.Duration
	mu      sync.Mutex
	entries map[key]entry
}

// New returns a cache whose entries live for ttl.
func New(ttl time.Duration) *Cache {
	return &Cache{ttl: ttl, entries: map[key]entry{}}
}

// TTL is how long an entry lives.
func (c *Cache) TTL() time.Duration {
	if c == nil {
		return 0
	}
	return c.ttl
}

// Resolve returns the cached SID of name on directory, or calls resolve and caches its answer
// until now+TTL. A nil Cache always calls resolve.
func (c *Cache) Resolve(ctx context.Context, directory, name string, now time.Time, resolve func(context.Context, string) (string, error)) (string, error) {
	if c == nil || c.ttl <= 0 {
		return resolve(ctx, name)
	}
	k := key{directory, name}
	c.mu.Lock()
	e, ok := c.entries[k]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.sid, nil
	}
	sid, err := resolve(ctx, name)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		delete(c.entries, k)
		return "", err
	}
	c.entries[k] = entry{sid: sid, expires: now.Add(c.ttl)}
	return sid, nil
}

// Forget drops the entry of name on directory (a spec that names it changed).
func (c *Cache) Forget(directory, name string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, key{directory, name})
}
