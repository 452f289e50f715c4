// Package pemca writes and reads the PEM files of the test authorities the
// simulated device keeps between runs (devicesim's device CA, acmetest's
// attestation root): certificates, then ECDSA private keys, each checked
// against the certificate it belongs to when read back.
package pemca

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// Marshal returns certs and then keys as PEM blocks (CERTIFICATE, PRIVATE
// KEY in PKCS #8).
func Marshal(certs []*x509.Certificate, keys []*ecdsa.PrivateKey) ([]byte, error) {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	for _, k := range keys {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, err
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})...)
	}
	return out, nil
}

// Load reads what Marshal wrote: exactly nCerts certificates, each signed
// by the one before it, and nKeys ≤ nCerts ECDSA keys, those of the last
// nKeys certificates in their order.
func Load(data []byte, nCerts, nKeys int) ([]*x509.Certificate, []*ecdsa.PrivateKey, error) {
	var certs []*x509.Certificate
	var keys []*ecdsa.PrivateKey
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, nil, err
			}
			certs = append(certs, c)
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return nil, nil, err
			}
			ek, ok := k.(*ecdsa.PrivateKey)
			if !ok {
				return nil, nil, fmt.Errorf("key is %T, want ECDSA", k)
			}
			keys = append(keys, ek)
		}
	}
	if len(certs) != nCerts || len(keys) != nKeys || nKeys > nCerts {
		return nil, nil, fmt.Errorf("want %d certificates and %d keys, found %d and %d", nCerts, nKeys, len(certs), len(keys))
	}
	for i := 1; i < len(certs); i++ {
		if err := certs[i].CheckSignatureFrom(certs[i-1]); err != nil {
			return nil, nil, fmt.Errorf("certificate %d not issued by the one before it: %w", i+1, err)
		}
	}
	for i, k := range keys {
		c := certs[nCerts-nKeys+i]
		if pub, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(&k.PublicKey) {
			return nil, nil, errors.New("keys do not match certificates")
		}
	}
	return certs, keys, nil
}
