package acmetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/acme"
	"github.com/enrollkit/enrollkit/mdm"
)

// NewCredentialStores returns two handles on one empty
// acme.CredentialStore for one subtest (the same handle twice for a store
// of one process; two processes' handles on one database otherwise). It
// may register cleanup with t.Cleanup.
type NewCredentialStores func(t *testing.T) (a, b acme.CredentialStore)

// RunCredentialStore is the conformance suite for implementations of
// acme.CredentialStore, run in one line:
//
//	func TestCredentialStore(t *testing.T) {
//		acmetest.RunCredentialStore(t, func(t *testing.T) (acme.CredentialStore, acme.CredentialStore) {
//			s := acme.NewMemoryCredentialStore()
//			return s, s
//		})
//	}
//
// It checks the contract documented on acme.CredentialStore: every field
// round-trips, a grant is taken once (also through the other handle, and
// of many takers racing exactly one wins), a new grant for the same
// enrollment and asset voids the old one, grants of other enrollments or
// assets are kept, and a taken or unknown hash gives ErrNotFound.
func RunCredentialStore(t *testing.T, open NewCredentialStores) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, a, b acme.CredentialStore)
	}{
		{"RoundTripOnce", testGrantOnce},
		{"Replace", testGrantReplace},
		{"Race", testGrantRace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := open(t)
			tt.fn(t, a, b)
		})
	}
}

func sampleGrant(n int, enrollment, asset string) *acme.CredentialGrant {
	return &acme.CredentialGrant{Hash: fmt.Sprintf("%064x", n), Enrollment: mdm.EnrollmentID(enrollment), Asset: asset,
		Expires: storeBase.Add(time.Hour)}
}

func put(t *testing.T, s acme.CredentialStore, g *acme.CredentialGrant) {
	t.Helper()
	if err := s.PutCredentialGrant(t.Context(), g); err != nil {
		t.Fatalf("PutCredentialGrant: %v", err)
	}
}

func take(t *testing.T, s acme.CredentialStore, hash string) *acme.CredentialGrant {
	t.Helper()
	g, err := s.TakeCredentialGrant(t.Context(), hash)
	if errors.Is(err, acme.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("TakeCredentialGrant: %v", err)
	}
	return g
}

func testGrantOnce(t *testing.T, a, b acme.CredentialStore) {
	g := sampleGrant(1, "enrollment-1", "asset-1")
	put(t, a, g)
	got := take(t, b, g.Hash)
	if got == nil || got.Hash != g.Hash || got.Enrollment != g.Enrollment || got.Asset != g.Asset || !sameTime(got.Expires, g.Expires) {
		t.Fatalf("taken %+v, want %+v", got, g)
	}
	for _, s := range []acme.CredentialStore{a, b} {
		if again := take(t, s, g.Hash); again != nil {
			t.Fatalf("taken twice: %+v", again)
		}
	}
	if unknown := take(t, a, fmt.Sprintf("%064x", 99)); unknown != nil {
		t.Fatalf("unknown hash taken: %+v", unknown)
	}
}

func testGrantReplace(t *testing.T, a, b acme.CredentialStore) {
	old := sampleGrant(1, "enrollment-1", "asset-1")
	otherAsset := sampleGrant(2, "enrollment-1", "asset-2")
	otherEnrollment := sampleGrant(3, "enrollment-2", "asset-1")
	put(t, a, old)
	put(t, a, otherAsset)
	put(t, b, otherEnrollment)
	renewed := sampleGrant(4, "enrollment-1", "asset-1")
	put(t, b, renewed)
	if g := take(t, a, old.Hash); g != nil {
		t.Fatalf("a replaced grant was taken: %+v", g)
	}
	for _, want := range []*acme.CredentialGrant{renewed, otherAsset, otherEnrollment} {
		if g := take(t, a, want.Hash); g == nil || g.Enrollment != want.Enrollment || g.Asset != want.Asset {
			t.Fatalf("grant %s: taken %+v, want %+v", want.Hash, g, want)
		}
	}
}

func testGrantRace(t *testing.T, a, b acme.CredentialStore) {
	g := sampleGrant(7, "enrollment-1", "asset-1")
	put(t, a, g)
	const n = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
		errs []error
	)
	for i := range n {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			got, err := s.TakeCredentialGrant(t.Context(), g.Hash)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && got != nil:
				wins++
			case !errors.Is(err, acme.ErrNotFound):
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 || wins != 1 {
		t.Fatalf("%d of %d takers won (errors %v), want exactly one", wins, n, errs)
	}
}
