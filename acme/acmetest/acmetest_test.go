package acmetest_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/enrollkit/enrollkit/acme/acmetest"
)

// TestAttestUserEnrollment: the attestation is what a user-enrolled device
// sends: format apple, leaf then intermediate, chaining to the root, for
// the key, with the token's freshness code and no serial number or UDID.
func TestAttestUserEnrollment(t *testing.T) {
	root, err := acmetest.NewRoot("Test")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	b, err := root.Attest("tok", &key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		Fmt     string `cbor:"fmt"`
		AttStmt struct {
			X5C [][]byte `cbor:"x5c"`
		} `cbor:"attStmt"`
	}
	if err := cbor.Unmarshal(b, &obj); err != nil {
		t.Fatal(err)
	}
	if obj.Fmt != "apple" || len(obj.AttStmt.X5C) != 2 {
		t.Fatalf("fmt %q, %d certificates", obj.Fmt, len(obj.AttStmt.X5C))
	}
	leaf, err := x509.ParseCertificate(obj.AttStmt.X5C[0])
	if err != nil {
		t.Fatal(err)
	}
	inter := x509.NewCertPool()
	inter.AddCert(root.Intermediate)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: root.Pool(), Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("chain: %v", err)
	}
	if !key.PublicKey.Equal(leaf.PublicKey) {
		t.Error("the leaf does not certify the key")
	}
	var code []byte
	for _, ext := range leaf.Extensions {
		switch {
		case ext.Id.Equal(acmetest.OIDFreshnessCode):
			code = ext.Value
		case ext.Id.Equal(acmetest.OIDSerialNumber), ext.Id.Equal(acmetest.OIDUDID):
			t.Errorf("device identifier %v under User Enrollment", ext.Id)
		}
	}
	if !bytes.Equal(code, acmetest.FreshnessCode("tok")) {
		t.Errorf("freshness code %x", code)
	}
}
