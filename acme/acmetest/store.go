package acmetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/acme"
)

// NewStore returns an empty acme.Store for one subtest. It may register
// cleanup with t.Cleanup.
type NewStore func(t *testing.T) acme.Store

// storeBase is an instant with nanoseconds, to check that stores keep at
// least microseconds; it is recent, so that no store forgets the samples
// as expired.
var storeBase = time.Now().UTC().Truncate(time.Second).Add(535897932)

// RunStore is the conformance suite for implementations of acme.Store, run
// in one line:
//
//	func TestStoreConformance(t *testing.T) {
//		acmetest.RunStore(t, func(t *testing.T) acme.Store { return acme.NewMemoryStore() })
//	}
//
// It checks the contract documented on acme.Accounts and acme.Orders:
// every field round-trips, records are copies in and out, ErrNotFound,
// ErrConflict for a taken ID or thumbprint and for a stale Version,
// Version incremented by each update, and that of many writers racing
// from one read exactly one wins.
func RunStore(t *testing.T, newStore NewStore) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s acme.Store)
	}{
		{"AccountRoundTrip", testAccountRoundTrip},
		{"AccountConflicts", testAccountConflicts},
		{"AccountUpdate", testAccountUpdate},
		{"OrderRoundTrip", testOrderRoundTrip},
		{"OrderUpdate", testOrderUpdate},
		{"Missing", testMissing},
		{"Copies", testCopies},
		{"ConcurrentOrderUpdateOneWinner", testConcurrentOneWinner},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

// sampleAccount returns an account with every field set.
func sampleAccount(id string) *acme.Account {
	return &acme.Account{
		ID:             id,
		Key:            []byte(`{"kty":"EC","crv":"P-256","x":"` + id + `","y":"y"}`),
		Thumbprint:     "thumb-" + id,
		IdentifierHash: "hash-" + id,
		Created:        storeBase,
	}
}

// sampleOrder returns an order with every field set.
func sampleOrder(id string) *acme.Order {
	return &acme.Order{
		ID:          id,
		AccountID:   "account-" + id,
		Identifier:  "identifier-" + id,
		Status:      acme.StatusValid,
		Expires:     storeBase.Add(15 * time.Minute),
		Token:       "token-" + id,
		AttestedKey: []byte{0x30, 0x59, 1, 2, 3},
		Error:       "error-" + id,
		Certificate: []byte{0x30, 0x82, 4, 5, 6},
		Created:     storeBase,
	}
}

// sameTime compares at microsecond precision, in any location.
func sameTime(a, b time.Time) bool {
	return a.Truncate(time.Microsecond).Equal(b.Truncate(time.Microsecond))
}

func accountsEqual(a, b *acme.Account) bool {
	x, y := *a, *b
	if !sameTime(x.Created, y.Created) {
		return false
	}
	x.Created, y.Created = time.Time{}, time.Time{}
	return reflect.DeepEqual(x, y)
}

func ordersEqual(a, b *acme.Order) bool {
	x, y := *a, *b
	if !sameTime(x.Created, y.Created) || !sameTime(x.Expires, y.Expires) {
		return false
	}
	x.Created, y.Created, x.Expires, y.Expires = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return reflect.DeepEqual(x, y)
}

func testAccountRoundTrip(t *testing.T, s acme.Store) {
	ctx := context.Background()
	a := sampleAccount("a1")
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	if a.Version != 0 {
		t.Errorf("Version after create = %d, want 0", a.Version)
	}
	for _, get := range []func() (*acme.Account, error){
		func() (*acme.Account, error) { return s.Account(ctx, "a1") },
		func() (*acme.Account, error) { return s.AccountByThumbprint(ctx, "thumb-a1") },
	} {
		got, err := get()
		if err != nil {
			t.Fatal(err)
		}
		if !accountsEqual(got, a) {
			t.Errorf("got %+v, want %+v", got, a)
		}
	}
}

func testAccountConflicts(t *testing.T, s acme.Store) {
	ctx := context.Background()
	if err := s.CreateAccount(ctx, sampleAccount("a1")); err != nil {
		t.Fatal(err)
	}
	sameID := sampleAccount("a1")
	sameID.Thumbprint = "another thumbprint"
	if err := s.CreateAccount(ctx, sameID); !errors.Is(err, acme.ErrConflict) {
		t.Errorf("taken ID: %v, want ErrConflict", err)
	}
	sameKey := sampleAccount("a2")
	sameKey.Thumbprint = "thumb-a1"
	if err := s.CreateAccount(ctx, sameKey); !errors.Is(err, acme.ErrConflict) {
		t.Errorf("taken thumbprint: %v, want ErrConflict", err)
	}
	if _, err := s.Account(ctx, "a2"); !errors.Is(err, acme.ErrNotFound) {
		t.Errorf("refused account was stored: %v", err)
	}
}

func testAccountUpdate(t *testing.T, s acme.Store) {
	ctx := context.Background()
	a := sampleAccount("a1")
	a.IdentifierHash = ""
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	r1, _ := s.Account(ctx, "a1")
	r2, _ := s.Account(ctx, "a1")
	r1.IdentifierHash = "bound"
	if err := s.UpdateAccount(ctx, r1); err != nil {
		t.Fatal(err)
	}
	if r1.Version != 1 {
		t.Errorf("Version after update = %d, want 1", r1.Version)
	}
	r2.IdentifierHash = "bound elsewhere"
	if err := s.UpdateAccount(ctx, r2); !errors.Is(err, acme.ErrConflict) {
		t.Errorf("stale update: %v, want ErrConflict", err)
	}
	got, _ := s.AccountByThumbprint(ctx, "thumb-a1")
	if got.IdentifierHash != "bound" || got.Version != 1 {
		t.Errorf("stored %q version %d", got.IdentifierHash, got.Version)
	}
	if err := s.UpdateAccount(ctx, sampleAccount("nobody")); !errors.Is(err, acme.ErrNotFound) {
		t.Errorf("update of a missing account: %v, want ErrNotFound", err)
	}
}

func testOrderRoundTrip(t *testing.T, s acme.Store) {
	ctx := context.Background()
	o := sampleOrder("o1")
	if err := s.CreateOrder(ctx, o); err != nil {
		t.Fatal(err)
	}
	got, err := s.Order(ctx, "o1")
	if err != nil {
		t.Fatal(err)
	}
	if !ordersEqual(got, o) {
		t.Errorf("got %+v, want %+v", got, o)
	}
	if err := s.CreateOrder(ctx, sampleOrder("o1")); !errors.Is(err, acme.ErrConflict) {
		t.Errorf("taken ID: %v, want ErrConflict", err)
	}
}

func testOrderUpdate(t *testing.T, s acme.Store) {
	ctx := context.Background()
	o := sampleOrder("o1")
	o.Status, o.AttestedKey, o.Certificate, o.Error = acme.StatusPending, nil, nil, ""
	if err := s.CreateOrder(ctx, o); err != nil {
		t.Fatal(err)
	}
	r1, _ := s.Order(ctx, "o1")
	r2, _ := s.Order(ctx, "o1")
	r1.Status, r1.AttestedKey = acme.StatusReady, []byte{1, 2, 3}
	if err := s.UpdateOrder(ctx, r1); err != nil {
		t.Fatal(err)
	}
	if r1.Version != 1 {
		t.Errorf("Version after update = %d, want 1", r1.Version)
	}
	r2.Status = acme.StatusInvalid
	if err := s.UpdateOrder(ctx, r2); !errors.Is(err, acme.ErrConflict) {
		t.Errorf("stale update: %v, want ErrConflict", err)
	}
	got, _ := s.Order(ctx, "o1")
	if !ordersEqual(got, r1) {
		t.Errorf("stored %+v, want %+v", got, r1)
	}
	if err := s.UpdateOrder(ctx, sampleOrder("nobody")); !errors.Is(err, acme.ErrNotFound) {
		t.Errorf("update of a missing order: %v, want ErrNotFound", err)
	}
}

func testMissing(t *testing.T, s acme.Store) {
	ctx := context.Background()
	if _, err := s.Account(ctx, "nobody"); !errors.Is(err, acme.ErrNotFound) {
		t.Errorf("Account: %v", err)
	}
	if _, err := s.AccountByThumbprint(ctx, "nobody"); !errors.Is(err, acme.ErrNotFound) {
		t.Errorf("AccountByThumbprint: %v", err)
	}
	if _, err := s.Order(ctx, "nobody"); !errors.Is(err, acme.ErrNotFound) {
		t.Errorf("Order: %v", err)
	}
}

// testCopies: what the caller passes in or gets back and then changes does
// not change what is stored.
func testCopies(t *testing.T, s acme.Store) {
	ctx := context.Background()
	a := sampleAccount("a1")
	s.CreateAccount(ctx, a)
	a.Key[0] = 'X'
	got, _ := s.Account(ctx, "a1")
	got.Key[1] = 'Y'
	again, _ := s.Account(ctx, "a1")
	if !accountsEqual(again, sampleAccount("a1")) {
		t.Error("a stored account's key changed with the caller's copy")
	}
	o := sampleOrder("o1")
	s.CreateOrder(ctx, o)
	o.AttestedKey[0], o.Certificate[0] = 0, 0
	g, _ := s.Order(ctx, "o1")
	g.AttestedKey[1], g.Certificate[1] = 0, 0
	g2, _ := s.Order(ctx, "o1")
	if !ordersEqual(g2, sampleOrder("o1")) {
		t.Error("a stored order's bytes changed with the caller's copy")
	}
}

// testConcurrentOneWinner: of writers racing from one read of an order,
// exactly one succeeds; the others get ErrConflict.
func testConcurrentOneWinner(t *testing.T, s acme.Store) {
	ctx := context.Background()
	o := sampleOrder("o1")
	o.Status = acme.StatusReady
	if err := s.CreateOrder(ctx, o); err != nil {
		t.Fatal(err)
	}
	const n = 8
	reads := make([]*acme.Order, n)
	for i := range reads {
		r, err := s.Order(ctx, "o1")
		if err != nil {
			t.Fatal(err)
		}
		reads[i] = r
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			reads[i].Error = fmt.Sprint("writer ", i)
			errs[i] = s.UpdateOrder(ctx, reads[i])
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, acme.ErrConflict):
			t.Errorf("racing update: %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d writers won, want 1", won)
	}
}
