package enroll_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/enroll/enrolltest"
	"github.com/enrollkit/enrollkit/internal/testenv"
)

// countingAuthenticator is the fixture's Authenticator, counting calls.
func countingAuthenticator(calls *atomic.Int64) enroll.Authenticator {
	return enroll.AuthenticatorFunc(func(ctx context.Context, username, password string) (enroll.User, error) {
		calls.Add(1)
		return coreAuthenticate(ctx, username, password)
	})
}

// TestSignInThrottleStopsGuessing sends 120 wrong passwords for one
// invitation through the portal, as the attack did: after five, the portal
// answers 429 with Retry-After and a page that says when to come back, the
// Authenticator is not asked any more (not even for the right password),
// and the failures and the lock-out are logged without the passwords. Once
// the back-off has passed, the right password signs in.
func TestSignInThrottleStopsGuessing(t *testing.T) {
	var buf testenv.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var calls atomic.Int64
	h := newHarness(t, harnessOptions{logger: logger, authenticator: enroll.AuthenticatorFunc(
		func(ctx context.Context, username, password string) (enroll.User, error) {
			calls.Add(1)
			if username == testUsername && password == testPassword {
				return enroll.User{ID: testUserID, Name: "Jane"}, nil
			}
			return enroll.User{}, enroll.ErrBadCredentials
		})})
	inv := h.invite()
	b := h.browser()
	p := b.get(inv.URL)
	portalWantPath(t, p, "signin")
	statuses := map[int]int{}
	var guesses []string
	for i := range 120 {
		guess := fmt.Sprintf("guess-%03d-Tr0ub4dor", i)
		guesses = append(guesses, guess)
		p = b.submit(p, map[string]string{"username": testUsername, "password": guess, "ownership": "employee"})
		statuses[p.status]++
	}
	if statuses[http.StatusUnauthorized] != enroll.DefaultInvitationFailures || statuses[http.StatusTooManyRequests] != 120-enroll.DefaultInvitationFailures {
		t.Fatalf("statuses of 120 wrong passwords: %v; want %d×401, then 429", statuses, enroll.DefaultInvitationFailures)
	}
	if got := calls.Load(); got != enroll.DefaultInvitationFailures {
		t.Fatalf("the Authenticator checked %d passwords, want %d", got, enroll.DefaultInvitationFailures)
	}
	if ra := p.header.Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After = %q, want 1", ra)
	}
	if !strings.Contains(p.alert, "try again in 1 second") {
		t.Errorf("the throttled page says %q", p.alert)
	}

	// The right password is not checked while throttled either.
	p = b.submit(p, janeEmployee)
	portalWantStatus(t, p, http.StatusTooManyRequests)
	if calls.Load() != enroll.DefaultInvitationFailures {
		t.Fatal("the password was checked while throttled")
	}
	if e, _ := h.svc.Get(context.Background(), inv.EnrollmentID); e.State != enroll.StateInvited {
		t.Fatalf("the attempts moved the enrollment to %s", e.State)
	}
	h.clock.Advance(time.Second)
	p = b.submit(p, janeEmployee)
	portalWantPath(t, p, "privacy")

	out := buf.String()
	for _, want := range []string{"sign-in failed", "sign-ins to an enrollment locked out", "signed in after failed attempts"} {
		if n := strings.Count(out, want); n == 0 {
			t.Errorf("the log has no %q line", want)
		}
	}
	if n := strings.Count(out, "msg=\"enroll: sign-in failed\""); n != enroll.DefaultInvitationFailures {
		t.Errorf("%d failed sign-ins logged, want %d", n, enroll.DefaultInvitationFailures)
	}
	for _, secret := range append(guesses, testPassword, inv.Token) {
		if strings.Contains(out, secret) {
			t.Fatalf("the log carries the secret %q:\n%s", secret, out)
		}
	}
}

// TestSignInThrottleBackOff follows the back-off on a fake clock: it
// starts at one second after five failures, doubles with every failure up
// to 15 minutes, an attempt too early is refused (with how long to wait)
// and not counted, a count is forgotten an hour after its latest failure,
// and a successful sign-in resets it.
func TestSignInThrottleBackOff(t *testing.T) {
	var calls atomic.Int64
	f := newCoreFixture(t, func(c *enroll.Config) { c.Authenticator = countingAuthenticator(&calls) })
	ctx := context.Background()
	id := f.invite(t, "alice").EnrollmentID
	wrong := func() error {
		_, err := f.svc.Authenticate(ctx, coreMeta, id, "alice", "not the password", enroll.OwnershipEmployee)
		return err
	}
	wantWait := func(what string, err error, d time.Duration) {
		t.Helper()
		var te *enroll.ThrottleError
		if !errors.As(err, &te) || !errors.Is(err, enroll.ErrThrottled) || te.RetryAfter != d {
			t.Fatalf("%s: err = %v, want a *ThrottleError with RetryAfter %s", what, err, d)
		}
	}
	failFive := func(what string) {
		t.Helper()
		for i := range enroll.DefaultInvitationFailures {
			coreWantErr(t, fmt.Sprintf("%s: wrong password %d", what, i+1), wrong(), enroll.ErrBadCredentials)
		}
	}
	failFive("first round")
	wait := time.Second
	for i := range 14 {
		wantWait(fmt.Sprintf("early attempt %d", i), wrong(), wait)
		wantWait(fmt.Sprintf("early attempt %d again", i), wrong(), wait) // not counted: the wait stays
		f.clock.Advance(wait - time.Millisecond)
		coreWantErr(t, "a millisecond too early", wrong(), enroll.ErrThrottled)
		f.clock.Advance(time.Millisecond)
		coreWantErr(t, fmt.Sprintf("after waiting %s", wait), wrong(), enroll.ErrBadCredentials)
		wait = min(2*wait, enroll.DefaultThrottleMaxDelay)
	}
	if wait != 15*time.Minute {
		t.Fatalf("the back-off ended at %s, want 15m", wait)
	}
	checked := calls.Load()
	if want := int64(enroll.DefaultInvitationFailures + 14); checked != want {
		t.Fatalf("%d passwords checked, want %d", checked, want)
	}

	// An hour after the latest failure the count is forgotten.
	f.clock.Advance(enroll.DefaultThrottleWindow + time.Second)
	failFive("after the window")
	coreWantErr(t, "sixth after the window", wrong(), enroll.ErrThrottled)

	// A success (once admitted) resets the count.
	f.clock.Advance(time.Second)
	if _, err := f.svc.Authenticate(ctx, coreMeta, id, "alice", corePassword, enroll.OwnershipEmployee); err != nil {
		t.Fatalf("right password after the back-off: %v", err)
	}
	failFive("after a success")

	// Sweep forgets counts older than the window.
	f.clock.Advance(enroll.DefaultThrottleWindow + time.Second)
	if _, err := f.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := f.store.Failures(ctx, "enrollment:"+id); err != nil || got.Count != 0 {
		t.Fatalf("after Sweep: %+v, %v", got, err)
	}
}

// TestSignInThrottleAddress guesses from one address across invitations:
// four wrong passwords on each of five enrollments stay under every
// enrollment's limit, and then that address (and its IPv6 /64) is
// throttled on any enrollment, the right password included, while another
// address is not.
func TestSignInThrottleAddress(t *testing.T) {
	for _, tt := range []struct {
		name, attacker, sameNet, other string
	}{
		{"IPv4", "203.0.113.9", "203.0.113.9", "203.0.113.10"},
		{"IPv6", "2001:db8:1:2::1", "2001:db8:1:2:ffff::7", "2001:db8:1:3::1"},
		{"IPv4-mapped", "::ffff:203.0.113.9", "203.0.113.9", "203.0.113.10"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int64
			f := newCoreFixture(t, func(c *enroll.Config) { c.Authenticator = countingAuthenticator(&calls) })
			ctx := context.Background()
			from := func(ip string) enroll.Meta { m := coreMeta; m.ClientIP = ip; return m }
			for range enroll.DefaultAddressFailures / 4 {
				id := f.invite(t, "bob").EnrollmentID
				for range 4 {
					_, err := f.svc.Authenticate(ctx, from(tt.attacker), id, "bob", "guess", enroll.OwnershipEmployee)
					coreWantErr(t, "guess", err, enroll.ErrBadCredentials)
				}
			}
			alice := f.invite(t, "alice").EnrollmentID
			before := calls.Load()
			_, err := f.svc.Authenticate(ctx, from(tt.sameNet), alice, "alice", corePassword, enroll.OwnershipEmployee)
			coreWantErr(t, "the attacker's network, right password", err, enroll.ErrThrottled)
			if calls.Load() != before {
				t.Fatal("a password was checked for a throttled address")
			}
			if _, err := f.svc.Authenticate(ctx, from(tt.other), alice, "alice", corePassword, enroll.OwnershipEmployee); err != nil {
				t.Fatalf("another address: %v", err)
			}
		})
	}
}

// TestConcurrentWrongPasswords races wrong passwords for one enrollment on
// two replicas sharing a store: exactly five are checked, the others are
// throttled, however they interleave.
func TestConcurrentWrongPasswords(t *testing.T) {
	f := newCoreFixture(t)
	ctx := context.Background()
	id := f.invite(t, "alice").EnrollmentID
	replicas := coreReplicas(t, f, 2)
	enrolltest.RaceWrongPasswords(t, 40, func(i int) error {
		m := coreMeta
		m.ClientIP = fmt.Sprintf("198.51.100.%d", i)
		_, err := replicas[i%2].Authenticate(ctx, m, id, "alice", "wrong", enroll.OwnershipEmployee)
		return err
	})
}

// storeWithoutFailures hides the memory store's FailureStore methods.
type storeWithoutFailures struct{ enroll.Store }

// TestSignInThrottleWithoutFailureStore checks that a Store that keeps no
// failures still gets a throttle (in the process), with a warning.
func TestSignInThrottleWithoutFailureStore(t *testing.T) {
	var buf testenv.Buffer
	f := newCoreFixture(t)
	cfg := f.cfg
	cfg.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	svc, err := enroll.New(storeWithoutFailures{f.store}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "keeps no sign-in failures") {
		t.Errorf("no warning:\n%s", buf.String())
	}
	id := f.invite(t, "alice").EnrollmentID
	for range enroll.DefaultInvitationFailures {
		_, err = svc.Authenticate(context.Background(), coreMeta, id, "alice", "wrong", enroll.OwnershipEmployee)
		coreWantErr(t, "wrong password", err, enroll.ErrBadCredentials)
	}
	_, err = svc.Authenticate(context.Background(), coreMeta, id, "alice", corePassword, enroll.OwnershipEmployee)
	coreWantErr(t, "sixth attempt", err, enroll.ErrThrottled)
}

// TestThrottleConfig checks that New refuses settings that would weaken
// the throttle, and accepts the zero value and sound ones.
func TestThrottleConfig(t *testing.T) {
	for _, tt := range []struct {
		name string
		c    enroll.ThrottleConfig
		ok   bool
	}{
		{"zero value", enroll.ThrottleConfig{}, true},
		{"stricter", enroll.ThrottleConfig{InvitationFailures: 3, AddressFailures: 10, Delay: 5 * time.Second, MaxDelay: time.Hour, Window: 24 * time.Hour}, true},
		{"negative limit", enroll.ThrottleConfig{InvitationFailures: -1}, false},
		{"negative delay", enroll.ThrottleConfig{Delay: -time.Second}, false},
		{"delay above the cap", enroll.ThrottleConfig{Delay: time.Hour, MaxDelay: time.Minute}, false},
		{"window not above the cap", enroll.ThrottleConfig{MaxDelay: time.Hour, Window: time.Hour}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := coreConfig()
			cfg.Throttle = tt.c
			_, err := enroll.New(newCoreFixture(t).store, cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("New: %v, want ok %v", err, tt.ok)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "enroll: ") {
				t.Errorf("error without package prefix: %v", err)
			}
		})
	}
}
