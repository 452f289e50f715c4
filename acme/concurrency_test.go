package acme_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/enrollkit/enrollkit/acme"
	"github.com/enrollkit/enrollkit/acme/acmetest"
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

// TestMemoryStoreConformance runs the Store suite on MemoryStore.
func TestMemoryStoreConformance(t *testing.T) {
	acmetest.RunStore(t, func(*testing.T) acme.Store { return acme.NewMemoryStore() })
}

func TestMemoryNoncesConformance(t *testing.T) {
	acmetest.RunNonces(t, func(*testing.T) acme.Nonces { return acme.NewMemoryNonces(0) })
}

// TestReplicasOneMemoryStore runs the replica suite on two Handlers
// sharing one MemoryStore and one MemoryNonces.
func TestReplicasOneMemoryStore(t *testing.T) {
	acmetest.RunReplicas(t, func(t *testing.T) (acme.Store, acme.Store) {
		s := sharedMemory{acme.NewMemoryStore(), acme.NewMemoryNonces(0)}
		return s, s
	})
}

// sharedMemory is a MemoryStore that keeps nonces too.
type sharedMemory struct {
	*acme.MemoryStore
	*acme.MemoryNonces
}
