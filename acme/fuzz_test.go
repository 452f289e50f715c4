package acme_test

import (
	"net/http"
	"testing"
)

// FuzzRequest POSTs arbitrary bodies, as they are, to every kind of
// resource: whatever arrives is refused with a problem document (the
// nonce of a recorded request is spent by the time it is replayed), and
// nothing is created or issued.
func FuzzRequest(f *testing.F) {
	e := newEnv(f, nil)
	d := newDevice(f, e)
	d.register(f)
	o := d.mustOrder(f, idB)
	paths := []string{e.base + "/new-account", e.base + "/new-order", o.challenge, o.finalize, o.url}
	// Requests a client signed, sent once so that their nonces are spent.
	var signed [][]byte
	for i, payload := range [][]byte{
		[]byte(`{"termsOfServiceAgreed":true}`),
		[]byte(`{"identifiers":[{"type":"permanent-identifier","value":"` + idA + `"}]}`),
		[]byte(`{"attObj":"oWNmbXRlYXBwbGU"}`),
		[]byte(`{"csr":"MIIB"}`),
		nil,
	} {
		b := d.sign(f, paths[i], payload, twist{})
		e.raw(f, paths[i], b, "")
		signed = append(signed, b)
	}
	seeds := [][]byte{
		[]byte(`{"protected":"eyJhbGciOiJFUzI1NiJ9","payload":"","signature":"AA"}`),
		[]byte(`{"protected":"eyJhbGciOiJub25lIn0","payload":"e30","signature":""}`),
		[]byte(`{"payload":"e30","signatures":[{"protected":"e30","signature":""},{"protected":"e30","signature":""}]}`),
		[]byte(`eyJhbGciOiJFUzI1NiJ9.e30.AA`),
		[]byte(`{}`),
	}
	for i, s := range append(seeds, signed...) {
		f.Add(uint8(i), s)
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		r := e.raw(t, paths[int(which)%len(paths)], body, "")
		if r.status < 400 || r.problemType() == "" {
			t.Fatalf("accepted: %d %s", r.status, r.body)
		}
		if r.status == http.StatusInternalServerError {
			t.Fatalf("server error: %s", r.body)
		}
	})
	e.nothingIssued(f)
}
