package cms

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/enrollkit/enrollkit/internal/ber"
)

// Errors of NewSigner and Sign.
var (
	// ErrUnsupported is returned for a digest or key type the writer does
	// not implement.
	ErrUnsupported = errors.New("cms: unsupported algorithm")
	// ErrNoCertificate is returned when no signer certificate is given.
	ErrNoCertificate = errors.New("cms: no signer certificate")
)

// Options chooses the form of the SignedData a Signer writes. The zero
// value is the form RFC 5652 recommends and profiles use: a SHA-256
// digest, the content encapsulated, signed attributes (content type,
// signing time, message digest), RSA signatures named rsaEncryption, DER.
type Options struct {
	// Hash is the digest: crypto.SHA1, SHA256, SHA384 or SHA512. Zero
	// means crypto.SHA256.
	Hash crypto.Hash
	// Detached leaves the content out, as in an Mdm-Signature header.
	Detached bool
	// NoSignedAttributes signs the content's digest directly, as iOS signs
	// Mdm-Signature, instead of signed attributes that carry it.
	NoSignedAttributes bool
	// DeviceAlgorithms writes algorithm identifiers as iOS does: the
	// digest algorithm with NULL parameters and an RSA signature named
	// sha1WithRSAEncryption (or its SHA-2 sibling) instead of
	// rsaEncryption.
	DeviceAlgorithms bool
	// Indefinite writes the constructed elements of the SignedData with
	// indefinite lengths (BER), as iOS streams them; the certificates,
	// names and algorithm identifiers inside stay DER.
	Indefinite bool
}

// Object identifiers, as the contents of their DER encoding. The writer
// here and the verifier in package mdm share them.
var (
	OIDData          = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01}
	OIDSignedData    = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02}
	OIDContentType   = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03}
	OIDMessageDigest = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04}
	OIDSigningTime   = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x05}
	// 1.2.840.113549.1.1.x: rsaEncryption (1), sha*WithRSAEncryption.
	OIDRSAPrefix = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01}
	// 1.2.840.10045.2.1: id-ecPublicKey, which some signers put where the
	// signature algorithm belongs.
	OIDECPublicKey = []byte{0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01}
	// 1.2.840.10045.4.x: ecdsa-with-SHA1 (1), ecdsa-with-SHA2xx (3.x).
	OIDECDSAPrefix = []byte{0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04}
)

// algorithms of each digest: its OID, the last arcs of its RSA and ECDSA
// signature OIDs.
var algorithms = map[crypto.Hash]struct {
	digest []byte
	rsa    byte
	ecdsa  []byte
}{
	crypto.SHA1:   {[]byte{0x2b, 0x0e, 0x03, 0x02, 0x1a}, 5, []byte{1}},
	crypto.SHA256: {[]byte{0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01}, 11, []byte{3, 2}},
	crypto.SHA384: {[]byte{0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02}, 12, []byte{3, 3}},
	crypto.SHA512: {[]byte{0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03}, 13, []byte{3, 4}},
}

// DigestHash returns the hash whose digest algorithm OID (DER contents) is
// oid: SHA-1, SHA-256, SHA-384 or SHA-512.
func DigestHash(oid []byte) (crypto.Hash, bool) {
	for h, a := range algorithms {
		if bytes.Equal(a.digest, oid) {
			return h, true
		}
	}
	return 0, false
}

// Signer writes SignedData with one key and certificate list. It encodes
// the certificates and algorithm identifiers once; it is safe for
// concurrent use if its key is.
type Signer struct {
	key       crypto.Signer
	opts      Options
	certs     []byte // the certificates' DER, concatenated
	sid       []byte // DER IssuerAndSerialNumber of the signer
	digestAlg []byte // DER AlgorithmIdentifier of the digest
	sigAlg    []byte // DER AlgorithmIdentifier of the signature
}

// NewSigner returns a Signer for key. certs[0] is the signer's certificate,
// named in the SignerInfo; all of certs are carried in the signature, in
// order. NewSigner does not check that key belongs to certs[0] (tests sign
// with the wrong key on purpose); callers that must, check it.
func NewSigner(key crypto.Signer, certs []*x509.Certificate, opts Options) (*Signer, error) {
	if len(certs) == 0 || certs[0] == nil {
		return nil, ErrNoCertificate
	}
	if key == nil {
		return nil, fmt.Errorf("%w: nil key", ErrUnsupported)
	}
	if opts.Hash == 0 {
		opts.Hash = crypto.SHA256
	}
	alg, ok := algorithms[opts.Hash]
	if !ok {
		return nil, fmt.Errorf("%w: hash %v", ErrUnsupported, opts.Hash)
	}
	s := &Signer{key: key, opts: opts}
	var sigOID []byte
	var null bool
	switch key.Public().(type) {
	case *rsa.PublicKey:
		sigOID, null = append(OIDRSAPrefix[:len(OIDRSAPrefix):len(OIDRSAPrefix)], 1), true
		if opts.DeviceAlgorithms {
			sigOID[len(sigOID)-1] = alg.rsa
		}
	case *ecdsa.PublicKey:
		sigOID = append(OIDECDSAPrefix[:len(OIDECDSAPrefix):len(OIDECDSAPrefix)], alg.ecdsa...)
	default:
		return nil, fmt.Errorf("%w: key type %T (want RSA or ECDSA)", ErrUnsupported, key.Public())
	}
	s.digestAlg = algorithmID(alg.digest, opts.DeviceAlgorithms)
	s.sigAlg = algorithmID(sigOID, null)
	leaf := certs[0]
	var sid cryptobyte.Builder
	sid.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(leaf.RawIssuer)
		b.AddASN1BigInt(leaf.SerialNumber)
	})
	var err error
	if s.sid, err = sid.Bytes(); err != nil {
		return nil, fmt.Errorf("cms: signer identifier: %w", err)
	}
	for i, c := range certs {
		if c == nil {
			return nil, fmt.Errorf("%w: certificate %d is nil", ErrNoCertificate, i)
		}
		s.certs = append(s.certs, c.Raw...)
	}
	return s, nil
}

// algorithmID returns the DER AlgorithmIdentifier of oid, with NULL
// parameters if null.
func algorithmID(oid []byte, null bool) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(oid) })
		if null {
			b.AddASN1NULL()
		}
	})
	return b.BytesOrPanic()
}

// Sign returns content signed as a ContentInfo holding SignedData. at is
// the signing time (used only with signed attributes); rnd is handed to
// the key, and the key's error is returned as it is.
func (s *Signer) Sign(content []byte, at time.Time, rnd io.Reader) ([]byte, error) {
	var digestBuf, attrBuf [160]byte
	digest := appendDigest(digestBuf[:0], s.opts.Hash, content)
	var attrBody []byte
	toSign := digest
	if !s.opts.NoSignedAttributes {
		// The signature covers the attributes encoded as a universal SET
		// (RFC 5652 §5.4); the SignerInfo carries the same contents under
		// an implicit [0] tag.
		set, hdr := appendSignedAttrs(attrBuf[:0], digest, at)
		attrBody = set[hdr:]
		toSign = appendDigest(digestBuf[:0], s.opts.Hash, set)
	}
	sig, err := s.key.Sign(rnd, toSign, s.opts.Hash)
	if err != nil {
		return nil, err // the caller names what it was signing
	}
	if !s.opts.Detached {
		return s.assemble(content, attrBody, sig), nil
	}
	return s.assemble(nil, attrBody, sig), nil
}

// appendDigest appends the digest of data by h, one of the hashes in
// algorithms, without allocating.
func appendDigest(out []byte, h crypto.Hash, data []byte) []byte {
	switch h {
	case crypto.SHA1:
		d := sha1.Sum(data)
		return append(out, d[:]...)
	case crypto.SHA384:
		d := sha512.Sum384(data)
		return append(out, d[:]...)
	case crypto.SHA512:
		d := sha512.Sum512(data)
		return append(out, d[:]...)
	}
	d := sha256.Sum256(data)
	return append(out, d[:]...)
}

// DER tags the writer uses.
const (
	tagOctetString = 0x04
	tagOID         = 0x06
	tagSequence    = 0x30
	tagSet         = 0x31
	tagContext0    = 0xa0 // [0], constructed
)

// Fixed DER pieces of every signature.
var (
	derOIDSignedData = tlv(tagOID, OIDSignedData)
	derOIDData       = tlv(tagOID, OIDData)
	derVersion1      = []byte{0x02, 0x01, 0x01}
)

func tlv(tag byte, body []byte) []byte {
	return append(ber.AppendLength([]byte{tag}, len(body)), body...)
}

// tlvLen returns the encoded size of a DER element with n content bytes.
func tlvLen(n int) int { return 1 + ber.LengthSize(n) + n }

// writer opens and closes constructed elements, with definite lengths
// (DER) or indefinite ones closed by end-of-contents octets (BER).
type writer struct {
	out        []byte
	indefinite bool
}

func (w *writer) open(tag byte, n int) {
	if w.indefinite {
		w.out = append(w.out, tag, 0x80)
		return
	}
	w.out = ber.AppendLength(append(w.out, tag), n)
}

func (w *writer) close() {
	if w.indefinite {
		w.out = append(w.out, 0, 0)
	}
}

func (w *writer) add(b ...[]byte) {
	for _, p := range b {
		w.out = append(w.out, p...)
	}
}

// assemble writes the ContentInfo in one pass: lengths are known up front,
// so every byte is written once into a buffer of the exact size. content
// is nil for a detached signature; attrBody is nil without signed
// attributes.
func (s *Signer) assemble(content, attrBody, sig []byte) []byte {
	// Sizes, innermost first.
	encapBody := len(derOIDData) // SEQUENCE { OID [, [0] { OCTET STRING }] }
	eContent := tlvLen(len(content))
	if content != nil {
		encapBody += tlvLen(eContent)
	}
	signerInfoBody := len(derVersion1) + len(s.sid) + len(s.digestAlg) + len(s.sigAlg) + tlvLen(len(sig))
	if attrBody != nil {
		signerInfoBody += tlvLen(len(attrBody))
	}
	signedDataBody := len(derVersion1) + tlvLen(len(s.digestAlg)) + tlvLen(encapBody) +
		tlvLen(len(s.certs)) + tlvLen(tlvLen(signerInfoBody))
	contentInfoBody := len(derOIDSignedData) + tlvLen(tlvLen(signedDataBody))

	size := tlvLen(contentInfoBody)
	if s.opts.Indefinite {
		size += 2 * 9 // end-of-contents octets of the nine constructed elements at most
	}
	w := writer{out: make([]byte, 0, size), indefinite: s.opts.Indefinite}
	w.open(tagSequence, contentInfoBody)
	w.add(derOIDSignedData)
	w.open(tagContext0, tlvLen(signedDataBody))
	w.open(tagSequence, signedDataBody)
	w.add(derVersion1)
	w.open(tagSet, len(s.digestAlg))
	w.add(s.digestAlg)
	w.close()
	w.open(tagSequence, encapBody)
	w.add(derOIDData)
	if content != nil {
		w.open(tagContext0, eContent)
		w.out = ber.AppendLength(append(w.out, tagOctetString), len(content))
		w.add(content)
		w.close()
	}
	w.close()
	w.open(tagContext0, len(s.certs))
	w.add(s.certs)
	w.close()
	w.open(tagSet, tlvLen(signerInfoBody))
	w.open(tagSequence, signerInfoBody)
	w.add(derVersion1, s.sid, s.digestAlg)
	if attrBody != nil {
		w.out = ber.AppendLength(append(w.out, tagContext0), len(attrBody))
		w.add(attrBody)
	}
	w.add(s.sigAlg)
	w.out = ber.AppendLength(append(w.out, tagOctetString), len(sig))
	w.add(sig)
	w.close() // SignerInfo
	w.close() // SignerInfos
	w.close() // SignedData
	w.close() // [0]
	w.close() // ContentInfo
	return w.out
}

// Encoded attributes up to their varying part (RFC 5652 §11).
var (
	// SEQUENCE { contentType, SET { id-data } }: constant.
	attrContentType   = tlv(tagSequence, append(tlv(tagOID, OIDContentType), tlv(tagSet, derOIDData)...))
	oidSigningTimeDER = tlv(tagOID, OIDSigningTime)
	oidMessageDigestD = tlv(tagOID, OIDMessageDigest)
)

// appendSignedAttrs appends SET { contentType, signingTime, messageDigest }
// in DER order. A DER SET OF is sorted by the members' encodings; all three
// start with the SEQUENCE tag, so their one-byte lengths decide the order:
// 0x18, then 0x1c or 0x1e, then 0x23 (SHA-1) to 0x4f (SHA-512). It also
// returns the length of the SET's header.
func appendSignedAttrs(out, digest []byte, t time.Time) ([]byte, int) {
	t = t.UTC()
	// UTCTime for 1950–2049, GeneralizedTime otherwise (RFC 5280 §4.1.2.5).
	tag, layout := byte(0x17), "060102150405Z"
	if t.Year() < 1950 || t.Year() >= 2050 {
		tag, layout = 0x18, "20060102150405Z"
	}
	var tb [16]byte
	ts := t.AppendFormat(tb[:0], layout)
	timeAttrBody := len(oidSigningTimeDER) + 2 + 2 + len(ts)
	digestAttrBody := len(oidMessageDigestD) + 2 + 2 + len(digest)
	body := len(attrContentType) + 2 + timeAttrBody + 2 + digestAttrBody

	start := len(out)
	out = ber.AppendLength(append(out, tagSet), body)
	hdr := len(out) - start
	out = append(out, attrContentType...)
	out = append(out, tagSequence, byte(timeAttrBody))
	out = append(out, oidSigningTimeDER...)
	out = append(out, tagSet, byte(2+len(ts)), tag, byte(len(ts)))
	out = append(out, ts...)
	out = append(out, tagSequence, byte(digestAttrBody))
	out = append(out, oidMessageDigestD...)
	out = append(out, tagSet, byte(2+len(digest)), tagOctetString, byte(len(digest)))
	return append(out, digest...), hdr
}
