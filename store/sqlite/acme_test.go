package sqlite_test

import (
	"context"
	"testing"

	"github.com/enrollkit/enrollkit/acme"
	"github.com/enrollkit/enrollkit/acme/acmetest"
	"github.com/enrollkit/enrollkit/store/internal/alternate"
)

func TestACMEConformance(t *testing.T) {
	acmetest.RunStore(t, func(t *testing.T) acme.Store { return open(t).ACME() })
	acmetest.RunNonces(t, func(t *testing.T) acme.Nonces { return open(t).ACME() })
}

// TestACMEConformanceTwoHandles runs the suites with every call going to
// one of two handles on one file in turn, as two processes would: a nonce
// issued by one is consumed through the other.
func TestACMEConformanceTwoHandles(t *testing.T) {
	pair := func(t *testing.T) *alternate.ACMEStore {
		a, b := openPair(t)
		return &alternate.ACMEStore{Stores: []alternate.ACMEStoreNonces{a.ACME(), b.ACME()}}
	}
	acmetest.RunStore(t, func(t *testing.T) acme.Store { return pair(t) })
	acmetest.RunNonces(t, func(t *testing.T) acme.Nonces { return pair(t) })
}

// TestACMEReplicas runs two ACME Handlers on two handles of one file.
func TestACMEReplicas(t *testing.T) {
	acmetest.RunReplicas(t, func(t *testing.T) (acme.Store, acme.Store) {
		a, b := openPair(t)
		return a.ACME(), b.ACME()
	})
}

// BenchmarkACMENonce is the nonce work of one ACME request: the nonce its
// answer carries issued, and the nonce it came with consumed.
func BenchmarkACMENonce(b *testing.B) {
	s := open(b).ACME()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		n, err := s.IssueNonce(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if ok, err := s.ConsumeNonce(ctx, n); !ok || err != nil {
			b.Fatalf("ConsumeNonce = %v, %v", ok, err)
		}
	}
}
