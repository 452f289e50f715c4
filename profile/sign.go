package profile

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"io"
	"sync"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/enrollkit/enrollkit/internal/ber"
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
// sign with PKCS #1 v1.5, as devices expect. (The structure is written
// here rather than by the pkcs7 package, whose signer only accepts
// *rsa.PrivateKey and *ecdsa.PrivateKey values; Parse verifies with it, and
// the tests verify with OpenSSL.)
//
// Create one Signer per key with NewSigner and reuse it: it encodes the
// certificates once. Set Now and Rand, if at all, before first use; after
// that a Signer is safe for concurrent use if its key is.
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
	digest := sha256.Sum256(content)

	// Signed attributes, encoded as a universal SET: that is what the
	// signature covers (RFC 5652 §5.4); the SignerInfo carries the same
	// contents under an implicit [0] tag.
	var attrBuf [160]byte
	toSign := appendSignedAttrs(attrBuf[:0], digest[:], now())
	h := sha256.Sum256(toSign)
	sig, err := s.key.Sign(rnd, h[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("profile: sign: %w", err)
	}
	attrBody := toSign[2:] // after the SET's tag and one-byte length

	return s.assemble(content, attrBody, sig), nil
}

// Fixed DER pieces of every signature.
var (
	derOIDSignedData = mustDER(func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidSignedData) })
	derOIDData       = mustDER(func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidData) })
	derSHA256        = mustDER(addSHA256)
	derVersion1      = mustDER(func(b *cryptobyte.Builder) { b.AddASN1Int64(1) })
)

func mustDER(f cryptobyte.BuilderContinuation) []byte {
	var b cryptobyte.Builder
	f(&b)
	return b.BytesOrPanic()
}

// DER tags written by assemble.
const (
	tagOctetString = 0x04
	tagSequence    = 0x30
	tagSet         = 0x31
	tagContext0    = 0xa0 // [0], constructed
)

// assemble writes the ContentInfo around content in one pass: lengths are
// known up front, so every byte is written once into a buffer of the
// exact size.
func (s *Signer) assemble(content, attrBody, sig []byte) []byte {
	// Sizes, innermost first.
	eContent := tlvLen(len(content))                    // OCTET STRING
	encap := tlvLen(len(derOIDData) + tlvLen(eContent)) // SEQUENCE { OID, [0] { OCTET STRING } }
	digestAlgs := tlvLen(len(derSHA256))                // SET { AlgorithmIdentifier }
	certs := tlvLen(len(s.certs))                       // [0] certificates
	signerInfoBody := len(derVersion1) + len(s.sid) + len(derSHA256) +
		tlvLen(len(attrBody)) + len(s.sigAlg) + tlvLen(len(sig))
	signerInfos := tlvLen(tlvLen(signerInfoBody)) // SET { SEQUENCE }
	signedDataBody := len(derVersion1) + digestAlgs + encap + certs + signerInfos
	contentInfoBody := len(derOIDSignedData) + tlvLen(tlvLen(signedDataBody))

	out := make([]byte, 0, tlvLen(contentInfoBody))
	out = appendHeader(out, tagSequence, contentInfoBody)
	out = append(out, derOIDSignedData...)
	out = appendHeader(out, tagContext0, tlvLen(signedDataBody))
	out = appendHeader(out, tagSequence, signedDataBody)
	out = append(out, derVersion1...)
	out = appendHeader(out, tagSet, len(derSHA256))
	out = append(out, derSHA256...)
	out = appendHeader(out, tagSequence, len(derOIDData)+tlvLen(eContent))
	out = append(out, derOIDData...)
	out = appendHeader(out, tagContext0, eContent)
	out = appendHeader(out, tagOctetString, len(content))
	out = append(out, content...)
	out = appendHeader(out, tagContext0, len(s.certs))
	out = append(out, s.certs...)
	out = appendHeader(out, tagSet, tlvLen(signerInfoBody))
	out = appendHeader(out, tagSequence, signerInfoBody)
	out = append(out, derVersion1...)
	out = append(out, s.sid...)
	out = append(out, derSHA256...)
	out = appendHeader(out, tagContext0, len(attrBody))
	out = append(out, attrBody...)
	out = append(out, s.sigAlg...)
	out = appendHeader(out, tagOctetString, len(sig))
	out = append(out, sig...)
	return out
}

// tlvLen returns the encoded size of a DER element with n content bytes.
func tlvLen(n int) int { return 1 + ber.LengthSize(n) + n }

func appendHeader(out []byte, tag byte, n int) []byte {
	return ber.AppendLength(append(out, tag), n)
}

func addSHA256(b *cryptobyte.Builder) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidSHA256) })
}

// Encoded attributes up to their varying part (RFC 5652 §11).
var (
	// SEQUENCE { contentType, SET { id-data } }: constant.
	attrContentType = mustDER(func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidContentType)
			b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidData) })
		})
	})
	// SEQUENCE { messageDigest, SET { OCTET STRING (32 bytes) } } without
	// the digest.
	attrMessageDigestPrefix = mustDER(func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidMessageDigest)
			b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { b.AddASN1OctetString(make([]byte, sha256.Size)) })
		})
	})[:2+11+2+2]
	oidSigningTimeDER = mustDER(func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidSigningTime) })
)

// appendSignedAttrs appends SET { contentType, signingTime, messageDigest }
// in DER order. A DER SET OF is sorted by the members' encodings; all three
// start with the SEQUENCE tag, so their lengths (0x18, 0x1c or 0x1e, 0x2f)
// decide the order.
func appendSignedAttrs(out, digest []byte, t time.Time) []byte {
	t = t.UTC()
	// UTCTime for 1950–2049, GeneralizedTime otherwise (RFC 5280 §4.1.2.5).
	tag, layout := byte(0x17), "060102150405Z"
	if t.Year() < 1950 || t.Year() >= 2050 {
		tag, layout = 0x18, "20060102150405Z"
	}
	var tb [16]byte
	ts := t.AppendFormat(tb[:0], layout)
	timeAttrBody := len(oidSigningTimeDER) + 2 + 2 + len(ts)
	body := len(attrContentType) + 2 + timeAttrBody + len(attrMessageDigestPrefix) + len(digest)

	out = append(out, tagSet, byte(body))
	out = append(out, attrContentType...)
	out = append(out, tagSequence, byte(timeAttrBody))
	out = append(out, oidSigningTimeDER...)
	out = append(out, tagSet, byte(2+len(ts)), tag, byte(len(ts)))
	out = append(out, ts...)
	out = append(out, attrMessageDigestPrefix...)
	out = append(out, digest...)
	return out
}
