package profile_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// pki is a three-level test PKI: root → intermediate → signer.
type pki struct {
	rootKey, interKey, leafKey crypto.Signer
	root, inter, leaf          *x509.Certificate
}

// chain returns the signer's certificate followed by its intermediate.
func (p *pki) chain() []*x509.Certificate { return []*x509.Certificate{p.leaf, p.inter} }

func (p *pki) roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.root)
	return pool
}

var (
	pkiOnce  sync.Map // kind → *pkiEntry
	serialNo = big.NewInt(100)
	serialMu sync.Mutex
)

type pkiEntry struct {
	once sync.Once
	p    *pki
	err  error
}

// testPKI returns a PKI whose keys are "rsa" (RSA-2048) or "ecdsa"
// (P-256), generated once per test binary. name distinguishes unrelated
// PKIs of the same kind (a foreign CA).
func testPKI(tb testing.TB, kind, name string) *pki {
	tb.Helper()
	v, _ := pkiOnce.LoadOrStore(kind+"/"+name, new(pkiEntry))
	e := v.(*pkiEntry)
	e.once.Do(func() { e.p, e.err = newPKI(kind, name) })
	if e.err != nil {
		tb.Fatalf("test PKI: %v", e.err)
	}
	return e.p
}

func newKey(kind string) (crypto.Signer, error) {
	if kind == "rsa" {
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func nextSerial() *big.Int {
	serialMu.Lock()
	defer serialMu.Unlock()
	serialNo.Add(serialNo, big.NewInt(1))
	return new(big.Int).Set(serialNo)
}

func newPKI(kind, name string) (*pki, error) {
	p := &pki{}
	var err error
	if p.rootKey, err = newKey(kind); err != nil {
		return nil, err
	}
	if p.interKey, err = newKey(kind); err != nil {
		return nil, err
	}
	if p.leafKey, err = newKey(kind); err != nil {
		return nil, err
	}
	now := time.Now()
	ca := func(cn string) *x509.Certificate {
		return &x509.Certificate{
			SerialNumber:          nextSerial(),
			Subject:               pkix.Name{CommonName: cn, Organization: []string{"Example " + name}},
			NotBefore:             now.Add(-time.Hour),
			NotAfter:              now.Add(24 * time.Hour),
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
			BasicConstraintsValid: true,
			IsCA:                  true,
		}
	}
	rootT := ca(name + " Root CA")
	der, err := x509.CreateCertificate(rand.Reader, rootT, rootT, p.rootKey.Public(), p.rootKey)
	if err != nil {
		return nil, err
	}
	if p.root, err = x509.ParseCertificate(der); err != nil {
		return nil, err
	}
	interT := ca(name + " Intermediate CA")
	if der, err = x509.CreateCertificate(rand.Reader, interT, p.root, p.interKey.Public(), p.rootKey); err != nil {
		return nil, err
	}
	if p.inter, err = x509.ParseCertificate(der); err != nil {
		return nil, err
	}
	leafT := &x509.Certificate{
		SerialNumber: nextSerial(),
		Subject:      pkix.Name{CommonName: name + " Profile Signing"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	if der, err = x509.CreateCertificate(rand.Reader, leafT, p.inter, p.leafKey.Public(), p.interKey); err != nil {
		return nil, err
	}
	if p.leaf, err = x509.ParseCertificate(der); err != nil {
		return nil, err
	}
	return p, nil
}

// writePEM writes certificates (and optionally a key) as PEM into dir and
// returns the file name.
func writePEM(tb testing.TB, dir, name string, certs []*x509.Certificate, key crypto.Signer) string {
	tb.Helper()
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	if key != nil {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})...)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, out, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// opaqueSigner hides the concrete key type, as an HSM or KMS key does.
type opaqueSigner struct{ crypto.Signer }
