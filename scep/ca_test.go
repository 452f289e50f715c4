package scep_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/scep"
)

func TestParseCA(t *testing.T) {
	ca := sharedCA(t)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Certificate.Raw})
	keyDER, err := x509.MarshalPKCS8PrivateKey(ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	loaded, err := scep.ParseCA(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.Certificate.Equal(ca.Certificate) {
		t.Error("loaded another certificate")
	}

	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	leaf, err := ca.Issue(context.Background(), &x509.CertificateRequest{Subject: pkix.Name{CommonName: "leaf"}, PublicKey: &ecKey.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	for name, pair := range map[string][2][]byte{
		"no key":           {certPEM, nil},
		"mismatched key":   {certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER})},
		"not a CA (ECDSA)": {pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER})},
		"garbage":          {[]byte("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"), keyPEM},
	} {
		if _, err := scep.ParseCA(pair[0], pair[1]); !errors.Is(err, scep.ErrInvalidCA) {
			t.Errorf("%s: err %v, want ErrInvalidCA", name, err)
		}
	}
}

func TestIssue(t *testing.T) {
	ca := &scep.CA{Certificate: sharedCA(t).Certificate, Key: sharedCA(t).Key, Validity: 24 * time.Hour}
	csr := &x509.CertificateRequest{Subject: pkix.Name{CommonName: "device"}, PublicKey: &deviceKey(t).PublicKey,
		DNSNames: []string{"www.example.com"}}
	a, err := ca.Issue(context.Background(), csr)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ca.Issue(context.Background(), csr)
	if err != nil {
		t.Fatal(err)
	}
	if a.SerialNumber.Cmp(b.SerialNumber) == 0 || a.SerialNumber.Sign() <= 0 || a.SerialNumber.BitLen() > 127 {
		t.Errorf("serials %v, %v", a.SerialNumber, b.SerialNumber)
	}
	if d := a.NotAfter.Sub(a.NotBefore); d != 24*time.Hour+5*time.Minute {
		t.Errorf("validity %v", d)
	}
	if len(a.DNSNames) != 0 || a.IsCA {
		t.Error("the certificate copied names or CA rights from the request")
	}
	if a.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment {
		t.Errorf("key usage %v", a.KeyUsage)
	}
}
