// Package challengefake is the stand-in for enroll.Service that the tests
// of the identity issuers (packages scep and acme) redeem single-use
// challenges with: it keeps RedeemChallenge's contract for a fixed set of
// challenges, each good once for its enrollment, and records the
// certificates it is told about.
package challengefake

import (
	"context"
	"fmt"
	"sync"

	"github.com/enrollkit/enrollkit/enroll"
)

// Enrollments redeems the challenges of IDs. Its methods are safe for
// concurrent use; set its fields before the first call.
type Enrollments struct {
	// Actor is the enroll.Meta.Actor every call must carry.
	Actor string
	// StoreErr, when set, is what every call fails with.
	StoreErr error

	mu       sync.Mutex
	ids      map[string]string // challenge → enrollment ID
	used     map[string]bool
	recorded map[string][]byte // enrollment ID → certificate
}

// New returns Enrollments for callers acting as actor, whose challenges
// are the keys of ids and their enrollments its values.
func New(actor string, ids map[string]string) *Enrollments {
	return &Enrollments{Actor: actor, ids: ids, used: map[string]bool{}, recorded: map[string][]byte{}}
}

// RedeemChallenge marks challenge used and returns its enrollment, or an
// error matching enroll.ErrChallengeInvalid when it is unknown or used.
func (f *Enrollments) RedeemChallenge(_ context.Context, m enroll.Meta, challenge string) (*enroll.Enrollment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.StoreErr != nil {
		return nil, f.StoreErr
	}
	if m.Actor != f.Actor {
		return nil, fmt.Errorf("actor %q", m.Actor)
	}
	id, ok := f.ids[challenge]
	if !ok {
		return nil, fmt.Errorf("redeem: %w", enroll.ErrChallengeInvalid)
	}
	if f.used[challenge] {
		return nil, fmt.Errorf("redeem: %w: already used", enroll.ErrChallengeInvalid)
	}
	f.used[challenge] = true
	return &enroll.Enrollment{ID: id}, nil
}

// RecordCertificate records der as enrollment id's certificate.
func (f *Enrollments) RecordCertificate(_ context.Context, _ enroll.Meta, id string, der []byte) (*enroll.Enrollment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.StoreErr != nil {
		return nil, f.StoreErr
	}
	f.recorded[id] = der
	return &enroll.Enrollment{ID: id}, nil
}

// Counts returns how many challenges were redeemed and how many
// certificates are recorded.
func (f *Enrollments) Counts() (used, recorded int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.used), len(f.recorded)
}

// Recorded returns the certificate recorded for enrollment id, or nil.
func (f *Enrollments) Recorded(id string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.recorded[id]
}

// ForgetRecorded forgets the certificates recorded so far.
func (f *Enrollments) ForgetRecorded() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recorded = map[string][]byte{}
}
