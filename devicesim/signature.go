package devicesim

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/enrollkit/enrollkit/internal/cms"
)

// SignatureOptions chooses how the device signs its MDM requests.
// The zero value signs the way iOS devices do: SHA-1 digest,
// sha1WithRSAEncryption, no signed attributes, BER indefinite-length
// encoding.
type SignatureOptions struct {
	// SHA256 selects a SHA-256 digest and sha256WithRSAEncryption instead
	// of SHA-1.
	SHA256 bool
	// DER selects definite-length DER encoding instead of BER
	// indefinite-length encoding.
	DER bool
}

// signDetached returns a detached CMS SignedData over body, signed by key
// with the certificate cert included and identified by issuer and serial
// number, with no signed attributes. It is the value (before base64) of the
// Mdm-Signature header a device sends. key is an RSA key (SCEP) or an
// ECDSA key (ACME).
func signDetached(body []byte, cert *x509.Certificate, key crypto.Signer, opts SignatureOptions) ([]byte, error) {
	if cert == nil || key == nil {
		return nil, fmt.Errorf("devicesim: sign: %w", ErrNoIdentity)
	}
	switch key.Public().(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey:
	default:
		return nil, fmt.Errorf("devicesim: sign: key is %T, want an RSA or ECDSA key", key.Public())
	}
	o := cms.Options{Hash: crypto.SHA1, Detached: true, NoSignedAttributes: true, DeviceAlgorithms: true, Indefinite: !opts.DER}
	if opts.SHA256 {
		o.Hash = crypto.SHA256
	}
	s, err := cms.NewSigner(key, []*x509.Certificate{cert}, o)
	if err == nil {
		var sig []byte
		if sig, err = s.Sign(body, time.Now(), rand.Reader); err == nil {
			return sig, nil
		}
	}
	return nil, fmt.Errorf("devicesim: sign: %w", err)
}

// MdmSignature returns the Mdm-Signature header value for body: the base64
// of a detached CMS signature of body (see SignatureOptions).
func MdmSignature(body []byte, cert *x509.Certificate, key crypto.Signer, opts SignatureOptions) (string, error) {
	der, err := signDetached(body, cert, key, opts)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(der), nil
}
