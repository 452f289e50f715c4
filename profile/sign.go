package profile

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/enrollkit/enrollkit/internal/cms"
)

// Signer signs profiles as CMS SignedData (RFC 5652): the profile is the
// encapsulated content, the digest is SHA-256, the signed attributes are
// content type, message digest and signing time, and the certificates are
// the signer's certificate and its intermediates.
//
// The key is any crypto.Signer with an RSA or ECDSA public key, so keys
// held in an HSM or a cloud KMS work as well as in-memory keys. RSA keys
// sign with PKCS #1 v1.5, as devices expect. (The structure is written by
// the module's one CMS writer, internal/cms, which says why no pkcs7
// package does it; Parse verifies with the pkcs7 package, and the tests
// verify with OpenSSL.)
//
// Create one Signer per key with NewSigner and reuse it: it encodes the
// certificates once. Set Now and Rand, if at all, before first use; after
// that a Signer is safe for concurrent use if its key is.
type Signer struct {
	cms *cms.Signer

	// Now returns the signing time; nil means time.Now.
	Now func() time.Time
	// Rand is the randomness handed to the key; nil means crypto/rand.
	Rand io.Reader
}

// NewSigner returns a Signer for key. chain[0] is the certificate of key;
// the rest are intermediates, included in every signature so that a device
// can build the path to its trusted root (include the root too if devices
// do not already have it).
func NewSigner(key crypto.Signer, chain []*x509.Certificate) (*Signer, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: nil key", ErrSigner)
	}
	if len(chain) == 0 || chain[0] == nil {
		return nil, fmt.Errorf("%w: no signer certificate", ErrSigner)
	}
	leaf := chain[0]
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return nil, fmt.Errorf("%w: key does not match the certificate %q", ErrSigner, leaf.Subject)
	}
	for i, c := range chain {
		if c == nil {
			return nil, fmt.Errorf("%w: chain[%d] is nil", ErrSigner, i)
		}
		if i > 0 {
			if err := chain[i-1].CheckSignatureFrom(c); err != nil {
				return nil, fmt.Errorf("%w: chain[%d] did not issue chain[%d]: %w", ErrSigner, i, i-1, err)
			}
		}
	}
	cs, err := cms.NewSigner(key, chain, cms.Options{})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSigner, err)
	}
	return &Signer{cms: cs}, nil
}

// Sign returns content wrapped in a DER-encoded CMS SignedData.
func Sign(content []byte, key crypto.Signer, chain []*x509.Certificate) ([]byte, error) {
	s, err := NewSigner(key, chain)
	if err != nil {
		return nil, err
	}
	return s.Sign(content)
}

// SignProfile encodes p as XML and signs it; see Sign. It does not
// validate p: the builders already have.
func SignProfile(p *Profile, key crypto.Signer, chain []*x509.Certificate) ([]byte, error) {
	s, err := NewSigner(key, chain)
	if err != nil {
		return nil, err
	}
	return s.SignProfile(p)
}

// SignProfile encodes p as XML and signs it.
func (s *Signer) SignProfile(p *Profile) ([]byte, error) {
	// The XML is copied into the signature, so its buffer is reused.
	bp := xmlBuffers.Get().(*[]byte)
	defer xmlBuffers.Put(bp)
	b, err := appendMarshal((*bp)[:0], p, XML)
	if err != nil {
		return nil, err
	}
	if cap(b) <= 1<<16 {
		*bp = b
	}
	return s.Sign(b)
}

var xmlBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 8192); return &b }}

// Sign returns content wrapped in a DER-encoded CMS SignedData.
func (s *Signer) Sign(content []byte) ([]byte, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	rnd := s.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	out, err := s.cms.Sign(content, now(), rnd)
	if err != nil {
		return nil, fmt.Errorf("profile: sign: %w", err)
	}
	return out, nil
}
