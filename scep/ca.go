package scep

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// DefaultValidity is how long an issued identity certificate is valid when
// CA.Validity is zero.
const DefaultValidity = 365 * 24 * time.Hour

// ErrInvalidCA means a CA cannot serve SCEP: its certificate or key is
// missing, they do not match, the certificate may not sign certificates, or
// the key is not an RSA key that can decrypt (devices encrypt their requests
// to the CA certificate with RSA).
var ErrInvalidCA = errors.New("scep: invalid CA")

// CA is the certificate authority a Handler serves: devices fetch
// Certificate with GetCACert and encrypt their requests to it, and Key
// decrypts them, signs the answers and signs the issued certificates.
// A CA is safe for concurrent use once configured.
type CA struct {
	// Certificate is the CA certificate. Required.
	Certificate *x509.Certificate
	// Key is Certificate's private key; it must be RSA and also implement
	// crypto.Decrypter, as *rsa.PrivateKey and most hardware-backed RSA
	// keys do. Required.
	Key crypto.Signer
	// Validity is how long issued certificates are valid; zero means
	// DefaultValidity. They are valid from five minutes before issuance,
	// to allow for clocks that run a little behind.
	Validity time.Duration
}

// GenerateCA makes a self-signed CA with a new 2048-bit RSA key, valid for
// ten years, named commonName, and kept only in memory. It suits hosts
// without a certificate authority of their own, and tests; a host that
// restarts should keep the CA (Certificate.Raw and the key) and load it with
// ParseCA: the identities of devices enrolled before verify only against the
// CA that issued them.
func GenerateCA(commonName string) (*CA, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("scep: generate CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}, &x509.Certificate{Subject: pkix.Name{CommonName: commonName}}, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("scep: generate CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("scep: generate CA: %w", err)
	}
	return &CA{Certificate: cert, Key: key}, nil
}

// ParseCA loads a CA from a PEM certificate and a PEM private key (PKCS#1
// or PKCS#8, unencrypted) and checks that they can serve SCEP; errors match
// ErrInvalidCA. Keys kept in PKCS#12 or Ansible Vault files load with the
// credentials package; set CA's fields from its Identity.
func ParseCA(certPEM, keyPEM []byte) (*CA, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidCA, err)
	}
	key, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: key of type %T cannot sign", ErrInvalidCA, pair.PrivateKey)
	}
	ca := &CA{Certificate: pair.Leaf, Key: key}
	if err := ca.check(); err != nil {
		return nil, err
	}
	return ca, nil
}

// check reports whether ca can serve SCEP.
func (ca *CA) check() error {
	switch {
	case ca == nil || ca.Certificate == nil:
		return fmt.Errorf("%w: no certificate", ErrInvalidCA)
	case ca.Key == nil:
		return fmt.Errorf("%w: no key", ErrInvalidCA)
	case !ca.Certificate.IsCA || ca.Certificate.KeyUsage&x509.KeyUsageCertSign == 0:
		return fmt.Errorf("%w: the certificate may not sign certificates (CA:TRUE and keyCertSign are needed)", ErrInvalidCA)
	case ca.Validity < 0:
		return fmt.Errorf("%w: negative Validity", ErrInvalidCA)
	}
	pub, ok := ca.Key.Public().(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("%w: the key is %T, SCEP needs RSA", ErrInvalidCA, ca.Key.Public())
	}
	if _, ok := ca.Key.(crypto.Decrypter); !ok {
		return fmt.Errorf("%w: the key cannot decrypt (crypto.Decrypter)", ErrInvalidCA)
	}
	if !pub.Equal(ca.Certificate.PublicKey) {
		return fmt.Errorf("%w: the key does not belong to the certificate", ErrInvalidCA)
	}
	return nil
}

// Issue signs a client-authentication certificate for csr's subject and
// public key, valid for Validity, with a random 127-bit serial number. It
// copies nothing else from the request (no extensions, no alternative
// names). csr's signature must have been checked by the caller.
func (ca *CA) Issue(ctx context.Context, csr *x509.CertificateRequest) (*x509.Certificate, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	validity := ca.Validity
	if validity == 0 {
		validity = DefaultValidity
	}
	usage := x509.KeyUsageDigitalSignature
	if _, ok := csr.PublicKey.(*rsa.PublicKey); ok {
		// An RSA identity may also be asked to decrypt, as Apple's
		// payload requests by default (KeyUsage 5).
		usage |= x509.KeyUsageKeyEncipherment
	}
	now := time.Now()
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: serial,
		Subject:      csr.Subject,
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     now.Add(validity),
		KeyUsage:     usage,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca.Certificate, csr.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("scep: issue: %w", err)
	}
	return x509.ParseCertificate(der)
}

// randomSerial returns a serial number of 127 random bits, positive and
// unpredictable as RFC 5280 and the CA/Browser Forum ask.
func randomSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("scep: serial: %w", err)
	}
	return serial, nil
}

// checkKey reports whether a device's public key is one the handler issues
// for: RSA of at least 2048 bits, or ECDSA.
func checkKey(pub any) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return fmt.Errorf("RSA key of %d bits, at least %d are needed", k.N.BitLen(), minRSABits)
		}
		return nil
	case *ecdsa.PublicKey:
		return nil
	}
	return fmt.Errorf("key of type %T", pub)
}

// minRSABits is the smallest RSA key a device may request a certificate
// for. iOS defaults to 1024 when the payload names no Keysize;
// enroll's SCEPConfig asks for 2048 unless told otherwise.
const minRSABits = 2048
