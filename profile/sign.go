package profile

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"io"
	"slices"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Object identifiers of the CMS structures Sign writes (RFC 5652, 5754,
// 8017, 5758).
var (
	oidData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidContentType   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSigningTime   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidSHA256        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidECDSAWithSHA2 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
)

// Signer signs profiles as CMS SignedData (RFC 5652): the profile is the
// encapsulated content, the digest is SHA-256, the signed attributes are
// content type, message digest and signing time, and the certificates are
// the signer's certificate and its intermediates.
//
// The key is any crypto.Signer with an RSA or ECDSA public key, so keys
// held in an HSM or a cloud KMS work as well as in-memory keys. RSA keys
// sign with PKCS #1 v1.5, as devices expect.
//
// A Signer is immutable after NewSigner and safe for concurrent use if its
// key is.
type Signer struct {
	key    crypto.Signer
	certs  []byte // the certificates' DER, concatenated
	sid    []byte // DER IssuerAndSerialNumber of the signer
	sigAlg []byte // DER AlgorithmIdentifier of the signature

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
	s := &Signer{key: key}
	var alg cryptobyte.Builder
	switch key.Public().(type) {
	case *rsa.PublicKey:
		alg.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidRSAEncryption)
			b.AddASN1NULL()
		})
	case *ecdsa.PublicKey:
		alg.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidECDSAWithSHA2) })
	default:
		return nil, fmt.Errorf("%w: unsupported key type %T (want RSA or ECDSA)", ErrSigner, key.Public())
	}
	var sid cryptobyte.Builder
	sid.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(leaf.RawIssuer)
		b.AddASN1BigInt(leaf.SerialNumber)
	})
	var err error
	if s.sigAlg, err = alg.Bytes(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSigner, err)
	}
	if s.sid, err = sid.Bytes(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSigner, err)
	}
	var raw []byte
	for i, c := range chain {
		if c == nil {
			return nil, fmt.Errorf("%w: chain[%d] is nil", ErrSigner, i)
		}
		if i > 0 {
			if err := chain[i-1].CheckSignatureFrom(c); err != nil {
				return nil, fmt.Errorf("%w: chain[%d] did not issue chain[%d]: %w", ErrSigner, i, i-1, err)
			}
		}
		raw = append(raw, c.Raw...)
	}
	s.certs = raw
	return s, nil
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
	b, err := Marshal(p)
	if err != nil {
		return nil, err
	}
	return s.Sign(b)
}

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
	digest := sha256.Sum256(content)

	// Signed attributes. DER sorts a SET OF by the members' encodings, so
	// encode each, sort, then wrap them in a SET.
	var buf [3][]byte
	members := buf[:0]
	for _, a := range [...]struct {
		oid   asn1.ObjectIdentifier
		value cryptobyte.BuilderContinuation
	}{
		{oidContentType, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidData) }},
		{oidMessageDigest, func(b *cryptobyte.Builder) { b.AddASN1OctetString(digest[:]) }},
		{oidSigningTime, func(b *cryptobyte.Builder) { b.AddASN1UTCTime(now().UTC()) }},
	} {
		b := cryptobyte.NewBuilder(make([]byte, 0, 64))
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(a.oid)
			b.AddASN1(cbasn1.SET, a.value)
		})
		m, err := b.Bytes()
		if err != nil {
			return nil, fmt.Errorf("profile: sign: %w", err)
		}
		members = append(members, m)
	}
	slices.SortFunc(members, bytes.Compare)
	attrs := cryptobyte.NewBuilder(make([]byte, 0, 128))
	attrs.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
		for _, m := range members {
			b.AddBytes(m)
		}
	})
	// The signature covers the attributes encoded as a universal SET; the
	// SignerInfo carries the same contents under an implicit [0] tag.
	toSign, err := attrs.Bytes()
	if err != nil {
		return nil, fmt.Errorf("profile: sign: %w", err)
	}
	h := sha256.Sum256(toSign)
	sig, err := s.key.Sign(rnd, h[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("profile: sign: %w", err)
	}
	attrBody := toSign[len(toSign)-attrContentLen(toSign):]

	out := cryptobyte.NewBuilder(make([]byte, 0, len(content)+len(s.certs)+len(sig)+512))
	out.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // ContentInfo
		b.AddASN1ObjectIdentifier(oidSignedData)
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // SignedData
				b.AddASN1Int64(1)
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { addSHA256(b) })
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // EncapsulatedContentInfo
					b.AddASN1ObjectIdentifier(oidData)
					b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
						b.AddASN1OctetString(content)
					})
				})
				b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
					b.AddBytes(s.certs)
				})
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // SignerInfo
						b.AddASN1Int64(1)
						b.AddBytes(s.sid)
						addSHA256(b)
						b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
							b.AddBytes(attrBody)
						})
						b.AddBytes(s.sigAlg)
						b.AddASN1OctetString(sig)
					})
				})
			})
		})
	})
	der, err := out.Bytes()
	if err != nil {
		return nil, fmt.Errorf("profile: sign: %w", err)
	}
	return der, nil
}

func addSHA256(b *cryptobyte.Builder) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidSHA256) })
}

// attrContentLen returns the length of the contents of the DER element
// that makes up all of der.
func attrContentLen(der []byte) int {
	var body cryptobyte.String
	s := cryptobyte.String(der)
	var tag cbasn1.Tag
	if !s.ReadAnyASN1(&body, &tag) {
		return 0
	}
	return len(body)
}
