package mdm

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/enrollkit/enrollkit/internal/cms"
)

// SignOptions chooses the shape of a signature made by Sign.
type SignOptions struct {
	// Hash is the digest algorithm: crypto.SHA1 (what devices use) or a
	// SHA-2 hash. Zero means crypto.SHA256.
	Hash crypto.Hash
	// SignedAttributes adds contentType, signingTime and messageDigest
	// attributes and signs them instead of the body directly.
	SignedAttributes bool
	// Intermediates are added to the signature's certificates after cert.
	Intermediates []*x509.Certificate
}

// Sign returns an Mdm-Signature header value for body, as a device sends
// it: base64 of a detached CMS SignedData by key, carrying cert. The tests
// of this package sign with it; it is the module's one CMS writer,
// internal/cms, and key need not match cert (tests forge signatures).
func Sign(body []byte, cert *x509.Certificate, key crypto.Signer, opts *SignOptions) (string, error) {
	var o SignOptions
	if opts != nil {
		o = *opts
	}
	s, err := cms.NewSigner(key, append([]*x509.Certificate{cert}, o.Intermediates...),
		cms.Options{Hash: o.Hash, Detached: true, NoSignedAttributes: !o.SignedAttributes})
	if err != nil {
		return "", fmt.Errorf("mdm: sign: %w", err)
	}
	der, err := s.Sign(body, time.Now(), rand.Reader)
	if err != nil {
		return "", fmt.Errorf("mdm: sign: %w", err)
	}
	return base64.StdEncoding.EncodeToString(der), nil
}

// Names the external tests use that hosts never need.
var (
	Decode              = decode
	ParseEnrollmentType = parseEnrollmentType
	ReadCapture         = readCapture
)
