package passcode

import (
	"fmt"
	"time"
)

// DefaultMaxAttempts is how many wrong passcodes lock a passcode when
// Policy.MaxAttempts is zero.
const DefaultMaxAttempts = 5

// DefaultTTL is how long a passcode stays valid when Policy.TTL is zero.
const DefaultTTL = 72 * time.Hour

// State is everything a store persists for one passcode. It holds no secret
// in the clear: only the argon2id hash. The zero State has no hash and is
// refused by Check as malformed.
type State struct {
	// Hash is the passcode's argon2id hash in PHC string form.
	Hash string
	// ExpiresAt is the instant from which the passcode is refused. The zero
	// time means it never expires.
	ExpiresAt time.Time
	// Attempts counts the wrong passcodes entered so far.
	Attempts int
	// Locked is set by the wrong attempt that reaches the policy's limit;
	// a locked passcode refuses everything, the right code included.
	Locked bool
	// Used is set when the passcode is accepted; a used passcode refuses
	// everything, so it cannot serve twice.
	Used bool
}

// Policy says how passcodes are issued and checked. The zero Policy is ready
// to use: 8-digit codes, valid for 72 hours, locked after 5 wrong attempts,
// hashed with DefaultParams. A Policy holds no mutable state and is safe for
// concurrent use.
type Policy struct {
	// Generator draws new codes; its zero value makes 8-digit codes.
	Generator Generator
	// Params are the argon2id parameters new hashes are made with; zero
	// fields take their defaults. Checking works with whatever parameters
	// a stored hash carries.
	Params Params
	// TTL is how long an issued passcode is valid; zero means DefaultTTL,
	// a negative value means no expiry.
	TTL time.Duration
	// MaxAttempts is how many wrong passcodes lock it; zero means
	// DefaultMaxAttempts.
	MaxAttempts int
}

func (p Policy) maxAttempts() int {
	if p.MaxAttempts <= 0 {
		return DefaultMaxAttempts
	}
	return p.MaxAttempts
}

// Issue generates a new passcode and the State to persist for it. The code is
// returned in the clear once, to be sent to the employee (see [Format]); only
// its hash is in the state.
func (p Policy) Issue(now time.Time) (code string, st State, err error) {
	code, err = p.Generator.Generate()
	if err != nil {
		return "", State{}, err
	}
	hash, err := Hash(code, p.Params)
	if err != nil {
		return "", State{}, err
	}
	st = State{Hash: hash}
	switch {
	case p.TTL == 0:
		st.ExpiresAt = now.Add(DefaultTTL)
	case p.TTL > 0:
		st.ExpiresAt = now.Add(p.TTL)
	}
	return code, st, nil
}

// Check decides whether input, typed by the user at time now, is the passcode
// st describes, and returns the state to persist in its place with the
// outcome:
//
//   - nil: accepted; the new state is marked Used.
//   - [*MismatchError] (matches [ErrMismatch]): wrong code; Attempts grew by
//     one. When that reaches MaxAttempts the new state is Locked and the
//     error matches [ErrLocked] too.
//   - [ErrLocked], [ErrUsed], [ErrExpired]: refused without looking at input;
//     the state is returned unchanged (except that a state whose Attempts
//     already reach MaxAttempts, say after the limit was lowered, comes
//     back Locked).
//   - a [*MalformedHashError] (matches [ErrMalformedHash]): the stored hash
//     is unusable; the state is returned unchanged.
//
// Check is pure: it reads no clock and touches no storage, so the caller
// persists the returned state only if the stored one is still st (for example
// with a version column), retrying from the fresh state otherwise. That makes
// the attempt limit hold across replicas checking concurrently. Input is
// normalised first; normalised input longer than MaxLength is a mismatch
// without hashing.
func (p Policy) Check(st State, input string, now time.Time) (State, error) {
	switch {
	case st.Used:
		return st, ErrUsed
	case st.Locked:
		return st, ErrLocked
	case !st.ExpiresAt.IsZero() && !now.Before(st.ExpiresAt):
		return st, ErrExpired
	}
	h, err := ParsePHC(st.Hash)
	if err != nil {
		return st, err
	}
	max := p.maxAttempts()
	if st.Attempts >= max {
		// The limit was lowered since the last attempt, or the state was
		// written by something else: treat it as locked, and say so.
		next := st
		next.Locked = true
		return next, ErrLocked
	}
	in := Normalize(input)
	if len(in) <= MaxLength && h.matches(in) {
		next := st
		next.Used = true
		return next, nil
	}
	next := st
	next.Attempts++
	if next.Attempts >= max {
		next.Locked = true
	}
	return next, &MismatchError{Remaining: max - next.Attempts}
}

// Check is Policy{}.Check: at most DefaultMaxAttempts wrong attempts.
func Check(st State, input string, now time.Time) (State, error) {
	return Policy{}.Check(st, input, now)
}

// String describes the state for logs without revealing the hash.
func (st State) String() string {
	status := "active"
	switch {
	case st.Used:
		status = "used"
	case st.Locked:
		status = "locked"
	}
	exp := "never"
	if !st.ExpiresAt.IsZero() {
		exp = st.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("passcode(%s, failed attempts: %d, expires: %s)", status, st.Attempts, exp)
}
