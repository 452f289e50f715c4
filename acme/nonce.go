package acme

import (
	"crypto/rand"
	"encoding/base64"
	"sync"
)

// nonceLen is the length of a nonce as sent: 128 random bits in
// unpadded base64url.
const nonceLen = 22

// nonces hands out anti-replay nonces (RFC 8555 section 6.5) and accepts
// each once. It keeps at most a fixed number: when full, issuing a nonce
// forgets the oldest one still unused, whose request then fails with
// badNonce and is retried by the client with a fresh one. Memory is thus
// bounded whatever the rate of newNonce requests.
type nonces struct {
	mu   sync.Mutex
	live map[string]struct{}
	ring []string // issued nonces in order; next is the oldest slot
	next int
}

func newNonces(capacity int) *nonces {
	return &nonces{live: make(map[string]struct{}, capacity), ring: make([]string, capacity)}
}

// issue returns a fresh nonce.
func (s *nonces) issue() string {
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
	return n
}

// consume reports whether n was issued and not yet used, and marks it
// used. Nonces are not secrets (they travel in response headers), so the
// map lookup need not be constant-time.
func (s *nonces) consume(n string) bool {
	if len(n) != nonceLen {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.live[n]; !ok {
		return false
	}
	delete(s.live, n)
	return true
}
