package acmetest

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/enrollkit/enrollkit/acme"
)

// NewNonces returns an acme.Nonces for one subtest. It may register
// cleanup with t.Cleanup.
type NewNonces func(t *testing.T) acme.Nonces

// RunNonces is the conformance suite for implementations of acme.Nonces:
// a nonce issued is accepted once and then refused, nonces are distinct
// base64url strings, unknown and malformed nonces are refused, and of many
// callers racing to consume one nonce exactly one succeeds.
func RunNonces(t *testing.T, newNonces NewNonces) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, n acme.Nonces)
	}{
		{"AcceptedOnce", testNonceOnce},
		{"Distinct", testNoncesDistinct},
		{"Unknown", testNonceUnknown},
		{"ConcurrentConsumeOneWinner", testNonceRace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newNonces(t)) })
	}
}

func issue(t *testing.T, n acme.Nonces) string {
	t.Helper()
	s, err := n.IssueNonce(context.Background())
	if err != nil {
		t.Fatalf("IssueNonce: %v", err)
	}
	if s == "" || strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		t.Fatalf("nonce %q is not base64url", s)
	}
	return s
}

func consume(t *testing.T, n acme.Nonces, s string) bool {
	t.Helper()
	ok, err := n.ConsumeNonce(context.Background(), s)
	if err != nil {
		t.Fatalf("ConsumeNonce(%q): %v", s, err)
	}
	return ok
}

func testNonceOnce(t *testing.T, n acme.Nonces) {
	a, b := issue(t, n), issue(t, n)
	if !consume(t, n, b) || !consume(t, n, a) {
		t.Fatal("an issued nonce was refused")
	}
	if consume(t, n, a) || consume(t, n, b) {
		t.Error("a consumed nonce was accepted again")
	}
}

func testNoncesDistinct(t *testing.T, n acme.Nonces) {
	seen := map[string]bool{}
	for range 100 {
		s := issue(t, n)
		if seen[s] {
			t.Fatalf("nonce %q issued twice", s)
		}
		seen[s] = true
	}
}

func testNonceUnknown(t *testing.T, n acme.Nonces) {
	s := issue(t, n)
	last := s[len(s)-1:]
	other := "A"
	if last == "A" {
		other = "B"
	}
	for _, bad := range []string{"", "x", s[:len(s)-1], s + "A", s[:len(s)-1] + other, strings.Repeat("A", len(s)),
		strings.Repeat("é", len(s)), s + s} {
		if consume(t, n, bad) {
			t.Errorf("ConsumeNonce(%q) accepted a nonce never issued", bad)
		}
	}
	if !consume(t, n, s) {
		t.Error("the issued nonce was refused after the unknown ones")
	}
}

func testNonceRace(t *testing.T, n acme.Nonces) {
	s := issue(t, n)
	const racers = 8
	var wg sync.WaitGroup
	oks := make([]bool, racers)
	errs := make([]error, racers)
	for i := range racers {
		wg.Go(func() { oks[i], errs[i] = n.ConsumeNonce(context.Background(), s) })
	}
	wg.Wait()
	won := 0
	for i := range racers {
		if errs[i] != nil {
			t.Errorf("racing ConsumeNonce: %v", errs[i])
		}
		if oks[i] {
			won++
		}
	}
	if won != 1 {
		t.Errorf("%d racers consumed the nonce, want 1", won)
	}
}
