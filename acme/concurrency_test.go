package acme_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/enrollkit/enrollkit/acme"
)

// TestConcurrentFinalize: finalize requests racing on one ready order
// issue one certificate; the others are told the order is not ready.
func TestConcurrentFinalize(t *testing.T) {
	e := newEnv(t, nil)
	d := newDevice(t, e)
	d.register(t)
	o := d.mustOrder(t, idA)
	if r := d.answer(t, o, d.attest(t, o.token)); r.status != http.StatusOK {
		t.Fatalf("answer: %d %s", r.status, r.body)
	}
	csr := d.csr(t, d.seKey)
	const n = 8
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = d.sign(t, o.finalize, []byte(`{"csr":"`+b64(csr)+`"}`), twist{})
	}
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { statuses[i] = e.raw(t, o.finalize, bodies[i], "").status })
	}
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		switch s {
		case http.StatusOK:
			ok++
		case http.StatusForbidden:
		default:
			t.Errorf("status %d", s)
		}
	}
	if ok != 1 || e.issuer.n.Load() != 1 {
		t.Errorf("%d finalized, %d issued; want 1 and 1", ok, e.issuer.n.Load())
	}
}

// TestMemoryStoreVersions: an update from a stale read is refused with
// ErrConflict, and so is a second account for the same key.
func TestMemoryStoreVersions(t *testing.T) {
	ctx := t.Context()
	s := acme.NewMemoryStore()
	a := &acme.Account{ID: "a", Key: []byte("{}"), Thumbprint: "t"}
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAccount(ctx, &acme.Account{ID: "b", Thumbprint: "t"}); err != acme.ErrConflict {
		t.Errorf("second account for the key: %v", err)
	}
	r1, _ := s.Account(ctx, "a")
	r2, _ := s.Account(ctx, "a")
	r1.IdentifierHash = "x"
	if err := s.UpdateAccount(ctx, r1); err != nil {
		t.Fatal(err)
	}
	r2.IdentifierHash = "y"
	if err := s.UpdateAccount(ctx, r2); err != acme.ErrConflict {
		t.Errorf("stale account update: %v", err)
	}
	if got, _ := s.AccountByThumbprint(ctx, "t"); got.IdentifierHash != "x" {
		t.Errorf("IdentifierHash = %q", got.IdentifierHash)
	}
	o := &acme.Order{ID: "o", Status: acme.StatusPending}
	if err := s.CreateOrder(ctx, o); err != nil {
		t.Fatal(err)
	}
	o1, _ := s.Order(ctx, "o")
	o2, _ := s.Order(ctx, "o")
	o1.Status = acme.StatusReady
	if err := s.UpdateOrder(ctx, o1); err != nil {
		t.Fatal(err)
	}
	o2.Status = acme.StatusInvalid
	if err := s.UpdateOrder(ctx, o2); err != acme.ErrConflict {
		t.Errorf("stale order update: %v", err)
	}
	if _, err := s.Order(ctx, "nope"); err != acme.ErrNotFound {
		t.Errorf("unknown order: %v", err)
	}
}
