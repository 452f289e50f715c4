package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/acme"
	"github.com/enrollkit/enrollkit/acme/acmetest"
	"github.com/enrollkit/enrollkit/internal/testenv"
	"github.com/enrollkit/enrollkit/store/internal/acmesql"
	"github.com/enrollkit/enrollkit/store/internal/alternate"
)

// ACMECalls returns a call of every method of an ACME store, by name.
// On a store that has not read its nonce key yet, both nonce calls reach
// the database (the nonce consumed is well formed).
func ACMECalls(s *acmesql.Store) map[string]func(context.Context) error {
	return map[string]func(context.Context) error{
		"CreateAccount": func(ctx context.Context) error {
			return s.CreateAccount(ctx, &acme.Account{ID: "a", Key: []byte("{}"), Thumbprint: "t"})
		},
		"Account":             func(ctx context.Context) error { _, err := s.Account(ctx, "a"); return err },
		"AccountByThumbprint": func(ctx context.Context) error { _, err := s.AccountByThumbprint(ctx, "t"); return err },
		"UpdateAccount": func(ctx context.Context) error {
			return s.UpdateAccount(ctx, &acme.Account{ID: "a", Key: []byte("{}"), Thumbprint: "t"})
		},
		"CreateOrder": func(ctx context.Context) error { return s.CreateOrder(ctx, &acme.Order{ID: "o"}) },
		"Order":       func(ctx context.Context) error { _, err := s.Order(ctx, "o"); return err },
		"UpdateOrder": func(ctx context.Context) error { return s.UpdateOrder(ctx, &acme.Order{ID: "o"}) },
		"IssueNonce":  func(ctx context.Context) error { _, err := s.IssueNonce(ctx); return err },
		"ConsumeNonce": func(ctx context.Context) error {
			_, err := s.ConsumeNonce(ctx, strings.Repeat("A", 48))
			return err
		},
	}
}

// ACMERetention checks, on the ACME store of a fresh database, what its
// sweep forgets and when: an order's identifier when the order expires,
// a consumed nonce once it can no longer be accepted, an order a day
// after it expired and an account a day after it was made; that a nonce
// is accepted only within its lifetime; and that a write a minute after
// the last sweep sweeps by itself.
func ACMERetention(t *testing.T, s *acmesql.Store) {
	t.Helper()
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := testenv.NewClock(t0)
	s.Now = clock.Now
	if err := s.CreateAccount(ctx, &acme.Account{ID: "old", Key: []byte("{}"), Thumbprint: "t-old", Created: t0}); err != nil {
		t.Fatal(err)
	}
	o := &acme.Order{ID: "old", AccountID: "old", Identifier: "live secret", Status: acme.StatusPending,
		Expires: t0.Add(15 * time.Minute), Token: "tok", Created: t0}
	if err := s.CreateOrder(ctx, o); err != nil {
		t.Fatal(err)
	}
	n, err := s.IssueNonce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.ConsumeNonce(ctx, n); !ok || err != nil {
		t.Fatalf("ConsumeNonce = %v, %v", ok, err)
	}
	sweep := func(at time.Time, want int) {
		t.Helper()
		if got, err := s.Sweep(ctx, at); got != want || err != nil {
			t.Fatalf("Sweep at %v = %d, %v; want %d", at.Sub(t0), got, err, want)
		}
	}
	sweep(t0.Add(14*time.Minute), 0)
	sweep(t0.Add(15*time.Minute), 1) // the identifier
	got, err := s.Order(ctx, "old")
	if err != nil || got.Identifier != "" || got.Version != 0 || got.Token != "tok" {
		t.Fatalf("expired order: %+v, %v; want its identifier blank, the rest kept", got, err)
	}
	nonceGone := t0.Add(acmesql.NonceTTL + acmesql.MaxClockSkew + time.Second)
	sweep(nonceGone, 1) // the consumed nonce
	sweep(t0.Add(15*time.Minute+acme.MemoryRetention+time.Second), 2)
	if _, err := s.Order(ctx, "old"); !errors.Is(err, acme.ErrNotFound) {
		t.Errorf("order a day after it expired: %v, want ErrNotFound", err)
	}
	if _, err := s.Account(ctx, "old"); !errors.Is(err, acme.ErrNotFound) {
		t.Errorf("account a day after it was made: %v, want ErrNotFound", err)
	}

	// A nonce is accepted within its lifetime only.
	tests := []struct {
		name    string
		advance time.Duration // from issue to consumption
		ok      bool
	}{
		{"fresh", 0, true},
		{"at the end of its lifetime", acmesql.NonceTTL, true},
		{"past its lifetime", acmesql.NonceTTL + time.Microsecond, false},
		{"from a clock within the skew ahead", -acmesql.MaxClockSkew, true},
		{"from a clock beyond the skew ahead", -acmesql.MaxClockSkew - time.Second, false},
	}
	for _, tc := range tests {
		n, err := s.IssueNonce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(tc.advance)
		if ok, err := s.ConsumeNonce(ctx, n); ok != tc.ok || err != nil {
			t.Errorf("nonce %s: ConsumeNonce = %v, %v; want %v", tc.name, ok, err, tc.ok)
		}
		clock.Advance(-tc.advance)
	}

	// A write a minute after the last sweep sweeps.
	t1 := clock.Now()
	if err := s.CreateAccount(ctx, &acme.Account{ID: "a1", Key: []byte("{}"), Thumbprint: "t-a1", Created: t1}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(acme.MemoryRetention + 2*time.Minute)
	if err := s.CreateAccount(ctx, &acme.Account{ID: "a2", Key: []byte("{}"), Thumbprint: "t-a2", Created: clock.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Account(ctx, "a1"); !errors.Is(err, acme.ErrNotFound) {
		t.Errorf("an account a day old after the next write: %v, want ErrNotFound", err)
	}
	if _, err := s.Account(ctx, "a2"); err != nil {
		t.Errorf("the new account: %v", err)
	}
}

// RunACME runs acme/acmetest's suites on a database's ACME store: the
// store and nonce suites on the store of a fresh database (one) and on
// two stores of one database called in turn (pair), and the replica
// suite on pair's two stores.
func RunACME(t *testing.T, one func(*testing.T) alternate.ACMEStoreNonces, pair func(*testing.T) (a, b alternate.ACMEStoreNonces)) {
	turns := func(t *testing.T) *alternate.ACMEStore {
		a, b := pair(t)
		return &alternate.ACMEStore{Stores: []alternate.ACMEStoreNonces{a, b}}
	}
	t.Run("Store", func(t *testing.T) {
		acmetest.RunStore(t, func(t *testing.T) acme.Store { return one(t) })
	})
	t.Run("Nonces", func(t *testing.T) {
		acmetest.RunNonces(t, func(t *testing.T) acme.Nonces { return one(t) })
	})
	t.Run("StoreTwoHandles", func(t *testing.T) {
		acmetest.RunStore(t, func(t *testing.T) acme.Store { return turns(t) })
	})
	t.Run("NoncesTwoHandles", func(t *testing.T) {
		acmetest.RunNonces(t, func(t *testing.T) acme.Nonces { return turns(t) })
	})
	t.Run("Replicas", func(t *testing.T) {
		acmetest.RunReplicas(t, func(t *testing.T) (acme.Store, acme.Store) { return pair(t) })
	})
}

// BenchmarkNonce is the nonce work of one ACME request: the nonce its
// answer carries issued, and the nonce it came with consumed.
func BenchmarkNonce(b *testing.B, n acme.Nonces) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		s, err := n.IssueNonce(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if ok, err := n.ConsumeNonce(ctx, s); !ok || err != nil {
			b.Fatalf("ConsumeNonce = %v, %v", ok, err)
		}
	}
}
