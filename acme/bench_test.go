package acme_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/enrollkit/enrollkit/acme"
	"github.com/enrollkit/enrollkit/acme/acmetest"
)

// BenchmarkAttestedIssuance measures one attested issuance end to end over
// HTTP, as a device makes it: new account, new order, authorization, the
// device-attest-01 answer (the attestation is made by the test root
// during the run, as Apple's service would make it), finalize with the
// attested key and certificate download, with a fresh nonce for each of
// the seven POSTs. The Secure Enclave and account keys are made once.
func BenchmarkAttestedIssuance(b *testing.B) {
	ids := make(map[string]string, b.N)
	for i := range b.N {
		ids[fmt.Sprint("identifier-", i)] = fmt.Sprint("enrollment-", i)
	}
	e := newEnvIDs(b, ids, nil)
	d := newDevice(b, e)
	csr := d.csr(b, d.seKey)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		d.kid = ""
		d.accountKey = nextAccountKey(b)
		d.register(b)
		o := d.mustOrder(b, fmt.Sprint("identifier-", i))
		if r := d.answer(b, o, d.attest(b, o.token)); r.status != http.StatusOK {
			b.Fatalf("answer: %d %s", r.status, r.body)
		}
		r := d.finalize(b, o, csr)
		if r.status != http.StatusOK {
			b.Fatalf("finalize: %d %s", r.status, r.body)
		}
		var fin struct{ Certificate string }
		mustJSON(b, r.body, &fin)
		if c := d.post(b, fin.Certificate, nil); c.status != http.StatusOK {
			b.Fatalf("certificate: %d", c.status)
		}
	}
}

// BenchmarkIssuanceMemory is acmetest.BenchmarkIssuance on one
// MemoryStore and MemoryNonces, to compare with the SQL stores'.
func BenchmarkIssuanceMemory(b *testing.B) {
	s := sharedMemory{acme.NewMemoryStore(), acme.NewMemoryNonces(0)}
	acmetest.BenchmarkIssuance(b, s, s)
}
