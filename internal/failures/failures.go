// Package failures counts failed attempts per key in memory: the state
// behind enroll.FailureStore for store/memory, and for a Service whose Store
// keeps no counts of its own. It is one implementation so that both count
// the same way.
package failures

import (
	"sync"
	"time"
)

// Counts holds failure counts by key. The zero value is empty and ready;
// it is safe for concurrent use.
type Counts struct {
	mu sync.Mutex
	m  map[string]record
}

type record struct {
	count int
	last  time.Time
}

// Add counts one failure for key at now and returns the key's count and
// latest failure as they were before it. A key whose latest failure is
// before now-window starts again: Add returns zero values and the count
// becomes 1. The latest failure never moves back in time.
func (c *Counts) Add(key string, now time.Time, window time.Duration) (count int, last time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]record)
	}
	r, ok := c.m[key]
	if ok && r.last.Before(now.Add(-window)) {
		r, ok = record{}, false
	}
	next := record{count: r.count + 1, last: now}
	if ok && r.last.After(now) {
		next.last = r.last
	}
	c.m[key] = next
	return r.count, r.last
}

// Get returns key's count and latest failure (zero values for none).
func (c *Counts) Get(key string) (count int, last time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.m[key]
	return r.count, r.last
}

// Reset forgets key's failures.
func (c *Counts) Reset(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
}

// Prune forgets every key whose latest failure is before before.
func (c *Counts) Prune(before time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, r := range c.m {
		if r.last.Before(before) {
			delete(c.m, k)
		}
	}
}
