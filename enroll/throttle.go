package enroll

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/enrollkit/enrollkit/internal/failures"
)

// Defaults of ThrottleConfig's zero fields.
const (
	// DefaultInvitationFailures is how many failed sign-ins one enrollment
	// takes before the back-off starts.
	DefaultInvitationFailures = 5
	// DefaultAddressFailures is how many failed sign-ins one client
	// address makes, across enrollments, before the back-off starts.
	DefaultAddressFailures = 20
	// DefaultThrottleDelay is the first back-off; it doubles with every
	// further failure.
	DefaultThrottleDelay = time.Second
	// DefaultThrottleMaxDelay caps the back-off.
	DefaultThrottleMaxDelay = 15 * time.Minute
	// DefaultThrottleWindow is how long failures are remembered after the
	// latest one.
	DefaultThrottleWindow = time.Hour
)

// ThrottleConfig limits guessing of corporate passwords at sign-in
// ([Service.Authenticate]). Failures are counted per enrollment (so per
// invitation, also in the account-driven flow, where anyone who knows a
// Managed Apple Account can reach the sign-in page) and per client address
// ([Meta.ClientIP]; an IPv6 address counts for its /64 network). Once a
// count reaches its limit, every further attempt waits: Delay after the
// limit was reached, doubling with each further failure up to MaxDelay.
// An attempt that comes too early is refused with a *ThrottleError
// (ErrThrottled) before the Authenticator is called, and is not counted.
//
// Every admitted attempt is counted against its enrollment before the
// password is checked, so that racing requests, also on several replicas,
// cannot slip more guesses past the limit; a successful sign-in resets the
// enrollment's count. Failures from an address are counted when the
// credentials turn out wrong, and only the window forgets them: a success
// from the same address does not, or an insider could wipe the address
// count with their own password between guesses.
//
// The zero value is the documented defaults; there is no switch to turn
// the throttle off.
type ThrottleConfig struct {
	// InvitationFailures is the limit per enrollment; zero means
	// DefaultInvitationFailures.
	InvitationFailures int
	// AddressFailures is the limit per client address; zero means
	// DefaultAddressFailures.
	AddressFailures int
	// Delay is the first back-off; zero means DefaultThrottleDelay.
	Delay time.Duration
	// MaxDelay caps the back-off; zero means DefaultThrottleMaxDelay.
	MaxDelay time.Duration
	// Window is how long a count lives after its latest failure; zero
	// means DefaultThrottleWindow. It must exceed MaxDelay, or waiting out
	// the back-off would reset the count.
	Window time.Duration
	// Store keeps the counts. Nil means the Service's Store when it is a
	// FailureStore (the stores of this module are), so that all replicas
	// share one count. For any other Store the counts are kept in the
	// memory of this process, which limits each replica on its own; New
	// logs a warning then.
	Store FailureStore
}

// Failures is what a FailureStore keeps for one key.
type Failures struct {
	// Count is the number of failures counted.
	Count int
	// Last is when the latest of them was counted.
	Last time.Time
}

// FailureStore keeps counts of failed sign-ins for the throttle (see
// ThrottleConfig), by key. Keys are at most 200 bytes: "enrollment:"
// followed by an enrollment ID, or "address:" followed by a client address
// or IPv6 /64 network in the clear (addresses are in the audit trail too).
// Nothing secret is ever a key.
//
// Contract (enroll/enrolltest checks all of it):
//
//   - AddFailure counts one failure for key at now, atomically, also
//     across processes sharing one database: n concurrent calls on one key
//     raise its count by exactly n, and each sees a different count
//     before its own. It returns the key's Failures as they were before
//     this one. A key whose Last is before now-window (or that has no
//     failures) starts again: AddFailure returns the zero Failures and the
//     count becomes 1. Last never moves back in time.
//   - Failures returns key's Failures, the zero value for an unknown key.
//     It does not apply a window; the caller does.
//   - ResetFailures forgets key; an unknown key is no error.
//   - PruneFailures forgets every key whose Last is before before.
//   - Times survive a round trip to at least microsecond precision.
//   - All methods are safe for concurrent use.
type FailureStore interface {
	AddFailure(ctx context.Context, key string, now time.Time, window time.Duration) (Failures, error)
	Failures(ctx context.Context, key string) (Failures, error)
	ResetFailures(ctx context.Context, key string) error
	PruneFailures(ctx context.Context, before time.Time) error
}

// throttle is the Service's sign-in throttle: ThrottleConfig with its
// defaults applied.
type throttle struct {
	ThrottleConfig
	now func() time.Time
	log *slog.Logger
}

// newThrottle applies the defaults of c and checks it. store is the
// Service's Store, used when c.Store is nil and it keeps failures.
func newThrottle(store Store, c ThrottleConfig, now func() time.Time, log *slog.Logger) (*throttle, error) {
	if c.InvitationFailures < 0 || c.AddressFailures < 0 || c.Delay < 0 || c.MaxDelay < 0 || c.Window < 0 {
		return nil, errors.New("enroll: New: Config.Throttle has a negative setting")
	}
	c.InvitationFailures = cmp.Or(c.InvitationFailures, DefaultInvitationFailures)
	c.AddressFailures = cmp.Or(c.AddressFailures, DefaultAddressFailures)
	c.Delay = cmp.Or(c.Delay, DefaultThrottleDelay)
	c.MaxDelay = cmp.Or(c.MaxDelay, DefaultThrottleMaxDelay)
	c.Window = cmp.Or(c.Window, DefaultThrottleWindow)
	if c.Delay > c.MaxDelay || c.Window <= c.MaxDelay {
		return nil, errors.New("enroll: New: Config.Throttle needs Delay <= MaxDelay < Window")
	}
	if c.Store == nil {
		if fs, ok := store.(FailureStore); ok {
			c.Store = fs
		} else {
			log.Warn("enroll: the Store keeps no sign-in failures; each process throttles sign-ins on its own (set Config.Throttle.Store to share the count)")
			c.Store = new(memoryFailures)
		}
	}
	return &throttle{ThrottleConfig: c, now: now, log: log}, nil
}

// wait returns how long from now an attempt on a key with failures f and
// limit must still wait; zero when it may go ahead.
func (t *throttle) wait(f Failures, limit int, now time.Time) time.Duration {
	if f.Count < limit || f.Last.Before(now.Add(-t.Window)) {
		return 0
	}
	d := t.Delay
	for i := limit; i < f.Count && d < t.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, t.MaxDelay)
	return max(0, f.Last.Add(d).Sub(now))
}

// throttleError rounds a wait up to whole seconds, as Retry-After carries it.
func throttleError(wait time.Duration) *ThrottleError {
	return &ThrottleError{RetryAfter: max(time.Second, (wait + time.Second - 1).Truncate(time.Second))}
}

// signIn is an admitted sign-in attempt.
type signIn struct {
	m        Meta
	id       string
	address  string // the address key, "" without a client address
	failures int    // the enrollment's count, this attempt included
}

// enrollmentKey and addressKey are the FailureStore keys of the throttle.
func enrollmentKey(id string) string { return "enrollment:" + clipKey(id) }

// addressKey returns the key of a client address: an IPv6 address counts
// for its /64, the smallest network a client usually gets, and an
// IPv4-mapped one as IPv4. A value that is no address counts as itself.
func addressKey(ip string) string {
	if ip == "" {
		return ""
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "address:" + clipKey(ip)
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return "address:" + p.String()
	}
	return "address:" + a.String()
}

// clipKey bounds the part of a key that comes from a request.
func clipKey(s string) string {
	if len(s) > 180 {
		return s[:180]
	}
	return s
}

// admit decides whether a sign-in on enrollment id from m's address may
// check credentials now. It refuses with a *ThrottleError, uncounted, while
// either count is backing off; otherwise it counts the attempt against the
// enrollment first and refuses when that count shows a racing attempt got
// there before it.
func (t *throttle) admit(ctx context.Context, m Meta, id string) (*signIn, error) {
	now := t.now()
	a := &signIn{m: m, id: id, address: addressKey(m.ClientIP)}
	refuse := func(scope string, w time.Duration) error {
		t.log.DebugContext(ctx, "enroll: sign-in refused while throttled", "enrollment", id, "client", m.ClientIP,
			"scope", scope, "retry_after", w.Round(time.Second))
		return throttleError(w)
	}
	for _, k := range []struct {
		key, scope string
		limit      int
	}{{enrollmentKey(id), "enrollment", t.InvitationFailures}, {a.address, "address", t.AddressFailures}} {
		if k.key == "" {
			continue
		}
		f, err := t.Store.Failures(ctx, k.key)
		if err != nil {
			return nil, fmt.Errorf("enroll: sign-in throttle: %w", err)
		}
		if w := t.wait(f, k.limit, now); w > 0 {
			return nil, refuse(k.scope, w)
		}
	}
	prev, err := t.Store.AddFailure(ctx, enrollmentKey(id), now, t.Window)
	if err != nil {
		return nil, fmt.Errorf("enroll: sign-in throttle: %w", err)
	}
	a.failures = prev.Count + 1
	if w := t.wait(prev, t.InvitationFailures, now); w > 0 {
		return nil, refuse("enrollment", w)
	}
	return a, nil
}

// settle records the outcome err of an admitted sign-in: a success resets
// the enrollment's count; wrong credentials are counted against the
// address and logged, and so is the failure that starts or extends a
// back-off. Other errors (the enrollment's state, a failing Authenticator)
// keep the attempt counted and are reported by the caller. Store errors
// here are logged, not returned: the sign-in's outcome stands.
func (t *throttle) settle(ctx context.Context, a *signIn, err error) {
	switch {
	case err == nil:
		if a.failures > 1 {
			t.log.InfoContext(ctx, "enroll: signed in after failed attempts", "enrollment", a.id, "client", a.m.ClientIP, "failures", a.failures-1)
		}
		if rerr := t.Store.ResetFailures(ctx, enrollmentKey(a.id)); rerr != nil {
			t.log.ErrorContext(ctx, "enroll: sign-in throttle: reset", "enrollment", a.id, "err", rerr)
		}
		return
	case !errors.Is(err, ErrBadCredentials):
		return
	}
	now := t.now()
	attrs := []any{"enrollment", a.id, "client", a.m.ClientIP, "failures", a.failures}
	if a.address != "" {
		prev, aerr := t.Store.AddFailure(ctx, a.address, now, t.Window)
		if aerr != nil {
			t.log.ErrorContext(ctx, "enroll: sign-in throttle: count address", "enrollment", a.id, "err", aerr)
		}
		attrs = append(attrs, "address_failures", prev.Count+1)
		if w := t.wait(Failures{Count: prev.Count + 1, Last: now}, t.AddressFailures, now); aerr == nil && w > 0 {
			t.log.InfoContext(ctx, "enroll: sign-ins from an address locked out", append(attrs, "retry_after", w)...)
		}
	}
	t.log.InfoContext(ctx, "enroll: sign-in failed", attrs...)
	if w := t.wait(Failures{Count: a.failures, Last: now}, t.InvitationFailures, now); w > 0 {
		t.log.InfoContext(ctx, "enroll: sign-ins to an enrollment locked out", "enrollment", a.id, "client", a.m.ClientIP,
			"failures", a.failures, "retry_after", w)
	}
}

// prune forgets counts older than the window.
func (t *throttle) prune(ctx context.Context) error {
	if err := t.Store.PruneFailures(ctx, t.now().Add(-t.Window)); err != nil {
		return fmt.Errorf("enroll: sign-in throttle: prune: %w", err)
	}
	return nil
}

// logPasscode logs the outcome of a wrong passcode (never the passcode).
func (s *Service) logPasscode(ctx context.Context, m Meta, id string, err error) {
	var pe *PasscodeError
	if !errors.As(err, &pe) {
		return
	}
	if pe.AttemptsLeft == 0 {
		s.log.InfoContext(ctx, "enroll: enrollment locked after wrong passcodes", "enrollment", id, "client", m.ClientIP)
		return
	}
	s.log.InfoContext(ctx, "enroll: wrong passcode", "enrollment", id, "client", m.ClientIP, "attempts_left", pe.AttemptsLeft)
}

// memoryFailures is the FailureStore of a Service whose Store keeps none.
type memoryFailures struct{ c failures.Counts }

func (f *memoryFailures) AddFailure(_ context.Context, key string, now time.Time, window time.Duration) (Failures, error) {
	n, last := f.c.Add(key, now, window)
	return Failures{Count: n, Last: last}, nil
}

func (f *memoryFailures) Failures(_ context.Context, key string) (Failures, error) {
	n, last := f.c.Get(key)
	return Failures{Count: n, Last: last}, nil
}

func (f *memoryFailures) ResetFailures(_ context.Context, key string) error {
	f.c.Reset(key)
	return nil
}

func (f *memoryFailures) PruneFailures(_ context.Context, before time.Time) error {
	f.c.Prune(before)
	return nil
}
