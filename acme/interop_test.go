package acme_test

import (
	"crypto/x509"
	"errors"
	"net/http"
	"testing"

	xacme "golang.org/x/crypto/acme"

	"github.com/enrollkit/enrollkit/acme/acmetest"
)

// TestInteropXCryptoACME: golang.org/x/crypto/acme's Client, which this
// package did not write, drives the RFC 8555 parts (directory, nonces,
// account, order, authorization, finalize, certificate download). It
// cannot send an attestation object, so the device-attest-01 answer is
// posted with a JWS of the same account key, as the device would.
func TestInteropXCryptoACME(t *testing.T) {
	e := newEnv(t, nil)
	d := newDevice(t, e)
	ctx := t.Context()
	cl := &xacme.Client{Key: d.accountKey, DirectoryURL: e.h.DirectoryURL(), HTTPClient: e.srv.Client()}
	acct, err := cl.Register(ctx, &xacme.Account{}, xacme.AcceptTOS)
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	o, err := cl.AuthorizeOrder(ctx, []xacme.AuthzID{{Type: "permanent-identifier", Value: idA}})
	if err != nil {
		t.Fatalf("AuthorizeOrder: %v", err)
	}
	if o.Status != xacme.StatusPending || len(o.AuthzURLs) != 1 {
		t.Fatalf("order: %+v", o)
	}
	az, err := cl.GetAuthorization(ctx, o.AuthzURLs[0])
	if err != nil {
		t.Fatalf("GetAuthorization: %v", err)
	}
	if len(az.Challenges) != 1 || az.Challenges[0].Type != "device-attest-01" || az.Identifier.Value != idA {
		t.Fatalf("authorization: %+v", az)
	}
	ch := az.Challenges[0]
	d.kid = acct.URI
	if r := d.post(t, ch.URI, acmetest.Answer(d.attest(t, ch.Token))); r.status != http.StatusOK {
		t.Fatalf("answer: %d %s", r.status, r.body)
	}
	if o, err = cl.WaitOrder(ctx, o.URI); err != nil || o.Status != xacme.StatusReady {
		t.Fatalf("WaitOrder: %v %+v", err, o)
	}
	ders, certURL, err := cl.CreateOrderCert(ctx, o.FinalizeURL, d.csr(t, d.seKey), true)
	if err != nil {
		t.Fatalf("CreateOrderCert: %v", err)
	}
	if len(ders) != 2 || certURL == "" {
		t.Fatalf("got %d certificates at %q, want the leaf and the CA", len(ders), certURL)
	}
	cert, err := x509.ParseCertificate(ders[0])
	if err != nil {
		t.Fatal(err)
	}
	if !d.seKey.PublicKey.Equal(cert.PublicKey) {
		t.Error("the certificate is not for the attested key")
	}
	if _, rec := e.fake.Counts(); rec != 1 {
		t.Errorf("%d certificates recorded, want 1", rec)
	}
	// The client's own challenge answer ({}) carries no attestation: a
	// second order answered that way is refused.
	o2, err := cl.AuthorizeOrder(ctx, []xacme.AuthzID{{Type: "permanent-identifier", Value: idA}})
	if err != nil {
		t.Fatal(err)
	}
	az2, err := cl.GetAuthorization(ctx, o2.AuthzURLs[0])
	if err != nil {
		t.Fatal(err)
	}
	var ae *xacme.Error
	if _, err := cl.Accept(ctx, az2.Challenges[0]); !errors.As(err, &ae) || ae.ProblemType != errPrefix+"badAttestationStatement" {
		t.Errorf("Accept without attestation: %v", err)
	}
}
