package enroll

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"go.mozilla.org/pkcs7"
)

// Certificates and CMS signatures for the tests. They live in the package
// under test so that its internal tests and, exported for the test binary
// only, its external tests (package enroll_test) share one copy.

// CertKey is a test certificate with its private key.
type CertKey struct {
	// Cert is the certificate.
	Cert *x509.Certificate
	// Key is its private key.
	Key *ecdsa.PrivateKey
}

// NewCert issues a P-256 certificate named cn, signed by parent (self-signed
// when parent is nil), valid from notBefore to notAfter, for signing and, if
// isCA, as a CA.
func NewCert(cn string, parent *CertKey, isCA bool, notBefore, notAfter time.Time) (*CertKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  isCA,
	}
	signerCert, signerKey := tmpl, key
	if parent != nil {
		signerCert, signerKey = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, &key.PublicKey, signerKey)
	if err != nil {
		return nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CertKey{Cert: c, Key: key}, nil
}

// IssueCert is NewCert valid from an hour ago for two days, failing t on an
// error.
func IssueCert(t testing.TB, cn string, parent *CertKey, isCA bool) *CertKey {
	t.Helper()
	now := time.Now()
	c, err := NewCert(cn, parent, isCA, now.Add(-time.Hour), now.Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// SignCMS returns content in CMS SignedData (SHA-256) signed by signer with
// chain included; detached leaves the content out, as a Mdm-Signature does.
func SignCMS(t testing.TB, content []byte, detached bool, signer *CertKey, chain ...*x509.Certificate) []byte {
	t.Helper()
	sd, err := pkcs7.NewSignedData(content)
	if err != nil {
		t.Fatal(err)
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	if err := sd.AddSignerChain(signer.Cert, signer.Key, chain, pkcs7.SignerInfoConfig{}); err != nil {
		t.Fatal(err)
	}
	if detached {
		sd.Detach()
	}
	out, err := sd.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return out
}
