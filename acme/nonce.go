package acme

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"sync"
)

// Nonces issues the anti-replay nonces of RFC 8555 section 6.5 and
// accepts each once. IssueNonce returns a fresh nonce: a string of
// base64url characters. ConsumeNonce reports whether nonce was issued and
// not yet consumed, and consumes it: of any number of calls with one
// nonce, concurrent or not, through every Handler sharing the Nonces, at
// most one reports true. An implementation may refuse a nonce after a
// while (expired, or forgotten to bound what it keeps); the client then
// retries with the fresh nonce of the badNonce answer. Errors are the
// implementation's failures, which the Handler answers with
// serverInternal. Implementations must be safe for concurrent use.
type Nonces interface {
	IssueNonce(ctx context.Context) (string, error)
	ConsumeNonce(ctx context.Context, nonce string) (bool, error)
}

var _ Nonces = (*MemoryNonces)(nil)

// nonceLen is the length of a MemoryNonces nonce as sent: 128 random bits
// in unpadded base64url.
const nonceLen = 22

// MemoryNonces is the Nonces of one server, the default of
// Config.Nonces: replicas behind a load balancer need a shared one (the
// SQL stores of store/sqlite and store/postgres are). It keeps at most a
// fixed number of unused nonces: when full, issuing a nonce forgets the
// oldest one still unused, whose request then fails with badNonce and is
// retried by the client with a fresh one. Memory is thus bounded whatever
// the rate of newNonce requests.
type MemoryNonces struct {
	mu   sync.Mutex
	live map[string]struct{}
	ring []string // issued nonces in order; next is the oldest slot
	next int
}

// NewMemoryNonces returns a MemoryNonces that keeps at most capacity
// unused nonces; zero or less means DefaultMaxNonces.
func NewMemoryNonces(capacity int) *MemoryNonces {
	if capacity <= 0 {
		capacity = DefaultMaxNonces
	}
	return &MemoryNonces{live: make(map[string]struct{}, capacity), ring: make([]string, capacity)}
}

// IssueNonce implements Nonces; it never fails.
func (s *MemoryNonces) IssueNonce(context.Context) (string, error) {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	n := base64.RawURLEncoding.EncodeToString(b[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.ring[s.next]; old != "" {
		delete(s.live, old)
	}
	s.ring[s.next] = n
	s.next = (s.next + 1) % len(s.ring)
	s.live[n] = struct{}{}
	return n, nil
}

// ConsumeNonce implements Nonces; it never fails. Nonces are not secrets
// (they travel in response headers), so the map lookup need not be
// constant-time.
func (s *MemoryNonces) ConsumeNonce(_ context.Context, n string) (bool, error) {
	if len(n) != nonceLen {
		return false, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.live[n]; !ok {
		return false, nil
	}
	delete(s.live, n)
	return true, nil
}
