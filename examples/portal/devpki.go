package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/enrollkit/enrollkit/credentials"
)

// devPKI is the development public-key infrastructure the example server
// creates on first start: one certificate authority, and under it the
// profile-signing certificate and the TLS server certificate. The CA key is
// RSA because SCEP clients encrypt their certificate requests to it.
type devPKI struct {
	dir string

	CA     *x509.Certificate
	CAKey  *rsa.PrivateKey
	Signer *x509.Certificate
	// SignerKey signs enrollment profiles.
	SignerKey crypto.Signer
	TLS       tls.Certificate
}

const (
	caCertFile     = "ca.pem"
	caKeyFile      = "ca.key"
	signerCertFile = "profile-signer.pem"
	signerKeyFile  = "profile-signer.key"
	tlsCertFile    = "tls.pem"
	tlsKeyFile     = "tls.key"
)

// loadOrCreatePKI loads the development PKI from dir, creating whatever is
// missing. hosts are the names and addresses the TLS certificate must cover.
// created reports whether anything was generated.
func loadOrCreatePKI(dir string, hosts []string) (pki *devPKI, created bool, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("pki: %w", err)
	}
	pki = &devPKI{dir: dir}
	now := time.Now()

	caKey, caCert, made, err := ensurePair(dir, caCertFile, caKeyFile, nil,
		func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) },
		&x509.Certificate{
			Subject:               pkix.Name{CommonName: "enrollkit development CA", Organization: []string{"enrollkit example"}},
			NotBefore:             now.Add(-time.Hour),
			NotAfter:              now.AddDate(10, 0, 0),
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
			BasicConstraintsValid: true,
			IsCA:                  true,
		}, nil, nil)
	if err != nil {
		return nil, false, err
	}
	rk, ok := caKey.(*rsa.PrivateKey)
	if !ok {
		return nil, false, errors.New("pki: the CA key must be RSA (SCEP needs it)")
	}
	pki.CA, pki.CAKey, created = caCert, rk, made

	pki.SignerKey, pki.Signer, made, err = ensurePair(dir, signerCertFile, signerKeyFile, nil, newP256,
		&x509.Certificate{
			Subject:     pkix.Name{CommonName: "enrollkit profile signing", Organization: []string{"enrollkit example"}},
			NotBefore:   now.Add(-time.Hour),
			NotAfter:    now.AddDate(2, 0, 0),
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		}, caCert, rk)
	if err != nil {
		return nil, false, err
	}
	created = created || made

	tlsTmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0], Organization: []string{"enrollkit example"}},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.AddDate(1, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tlsTmpl.IPAddresses = append(tlsTmpl.IPAddresses, ip)
		} else {
			tlsTmpl.DNSNames = append(tlsTmpl.DNSNames, h)
		}
	}
	// A TLS certificate that expired or does not name the public URL's host
	// (the URL changed) is replaced.
	stale := func(c *x509.Certificate) bool { return !coversHosts(c, hosts) }
	tlsKey, tlsCert, made, err := ensurePair(dir, tlsCertFile, tlsKeyFile, stale, newP256, tlsTmpl, caCert, rk)
	if err != nil {
		return nil, false, err
	}
	created = created || made
	pki.TLS = tls.Certificate{
		Certificate: [][]byte{tlsCert.Raw, caCert.Raw},
		PrivateKey:  tlsKey,
		Leaf:        tlsCert,
	}
	return pki, created, nil
}

func newP256() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }

// ensurePair loads the certificate and key stored under certName and
// keyName in dir or, when they are missing (or stale says the certificate
// must be replaced; a nil stale keeps any valid one), makes a new key with
// newKey, issues tmpl for it by parent (self-signed when parent is nil) and
// saves both. made reports whether it created them.
func ensurePair(dir, certName, keyName string, stale func(*x509.Certificate) bool,
	newKey func() (crypto.Signer, error), tmpl, parent *x509.Certificate, parentKey crypto.Signer,
) (key crypto.Signer, cert *x509.Certificate, made bool, err error) {
	key, cert, err = loadPair(dir, certName, keyName)
	var invalid *credentials.ValidityError
	switch {
	case err == nil && (stale == nil || !stale(cert)):
		return key, cert, false, nil
	case err != nil && !errors.Is(err, fs.ErrNotExist) && !(stale != nil && errors.As(err, &invalid)):
		return nil, nil, false, err
	}
	if key, err = newKey(); err != nil {
		return nil, nil, false, fmt.Errorf("pki: %s: %w", keyName, err)
	}
	if parent == nil {
		parentKey = key
	}
	if cert, err = issue(tmpl, key.Public(), parent, parentKey); err != nil {
		return nil, nil, false, err
	}
	if err := savePair(dir, certName, keyName, cert, key); err != nil {
		return nil, nil, false, err
	}
	return key, cert, true, nil
}

// Path returns the location of one of the PKI's files.
func (p *devPKI) Path(name string) string { return filepath.Join(p.dir, name) }

// Roots returns a pool holding only the development CA.
func (p *devPKI) Roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.CA)
	return pool
}

func coversHosts(c *x509.Certificate, hosts []string) bool {
	for _, h := range hosts {
		if c.VerifyHostname(h) != nil {
			return false
		}
	}
	return time.Now().Before(c.NotAfter)
}

func issue(tmpl *x509.Certificate, pub crypto.PublicKey, parent *x509.Certificate, parentKey crypto.Signer) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("pki: serial: %w", err)
	}
	tmpl.SerialNumber = serial
	if parent == nil {
		parent = tmpl
	}
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	ski := sha256.Sum256(spki)
	tmpl.SubjectKeyId = ski[:20]
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		return nil, fmt.Errorf("pki: issue %q: %w", tmpl.Subject.CommonName, err)
	}
	return x509.ParseCertificate(der)
}

func savePair(dir, certName, keyName string, c *x509.Certificate, key crypto.Signer) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, keyName), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, certName), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o644); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	return nil
}

func loadPair(dir, certName, keyName string) (crypto.Signer, *x509.Certificate, error) {
	certPath, keyPath := filepath.Join(dir, certName), filepath.Join(dir, keyName)
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Stat(p); err != nil {
			return nil, nil, err
		}
	}
	id, err := credentials.LoadIdentity(context.Background(), certPath, keyPath)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: %w", err)
	}
	return id.Signer, id.Leaf(), nil
}

// Files of the development MDM server identity that signs GetToken's
// com.apple.maid tokens when no -abm-key is given.
const (
	abmCertFile = "abm-server.pem"
	abmKeyFile  = "abm-server.key"
	abmUUIDFile = "abm-server-uuid"
)

// loadOrCreateABM returns the development MDM server key in dir, creating
// it with a self-signed certificate (what Apple Business Manager takes as
// the MDM server's public key) on first use. The key is RSA, as that
// registration needs: Apple encrypts the server token to it.
func loadOrCreateABM(dir string) (crypto.Signer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	now := time.Now()
	key, _, _, err := ensurePair(dir, abmCertFile, abmKeyFile, nil,
		func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) },
		&x509.Certificate{
			Subject:   pkix.Name{CommonName: "enrollkit development MDM server", Organization: []string{"enrollkit example"}},
			NotBefore: now.Add(-time.Hour),
			NotAfter:  now.AddDate(10, 0, 0),
			KeyUsage:  x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		}, nil, nil)
	return key, err
}
