package acme_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/acme"
	"github.com/enrollkit/enrollkit/acme/acmetest"
)

// FuzzVerifyAttestation feeds arbitrary attestation objects to the
// verifier: it never panics, and accepts only an attestation of the test
// root for the token, whose key it returns.
func FuzzVerifyAttestation(f *testing.F) {
	root, err := acmetest.NewRoot("Fuzz")
	if err != nil {
		f.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	const token = "fuzz-token"
	good, err := root.Attest(token, &key.PublicKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	other, _ := root.Attest("another-token", &key.PublicKey)
	f.Add(other)
	noX5C, _ := acmetest.AttestationObject("apple")
	f.Add(noX5C)
	f.Add([]byte{0xa1, 0x63, 'f', 'm', 't', 0x65, 'a', 'p', 'p', 'l', 'e'})
	f.Add([]byte{0x9f, 0x9f, 0x9f, 0x9f, 0x9f}) // nested indefinite arrays
	f.Add([]byte{0xbf, 0xff})
	roots := root.Pool()
	now := time.Now()
	f.Fuzz(func(t *testing.T, b []byte) {
		der, err := acme.VerifyAttestation(b, token, roots, now)
		if err == nil && len(der) == 0 {
			t.Fatal("accepted without a key")
		}
	})
}

// FuzzParseAttestationObject checks that decoding alone never panics and
// never returns an empty chain without an error.
func FuzzParseAttestationObject(f *testing.F) {
	obj, _ := acmetest.AttestationObject("apple", []byte{0x30, 0x03, 0x02, 0x01, 0x01})
	f.Add(obj)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		certs, err := acme.ParseAttestationObject(b)
		if err == nil && len(certs) == 0 {
			t.Fatal("no certificates and no error")
		}
	})
}

// BenchmarkVerifyAttestation measures the server's check of one
// attestation: CBOR decoding, two certificates parsed, the chain
// verified (P-384 signatures) and the freshness code compared.
func BenchmarkVerifyAttestation(b *testing.B) {
	root, err := acmetest.NewRoot("Bench")
	if err != nil {
		b.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	att, err := root.Attest("token", &key.PublicKey)
	if err != nil {
		b.Fatal(err)
	}
	roots, now := root.Pool(), time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := acme.VerifyAttestation(att, "token", roots, now); err != nil {
			b.Fatal(err)
		}
	}
}
