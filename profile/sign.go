package profile

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"
	"slices"
	"time"
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
	key      crypto.Signer
	certs    asn1.RawValue // [0] IMPLICIT SET OF Certificate
	sid      issuerAndSerial
	sigAlg   pkix.AlgorithmIdentifier
	chainLen int

	// Now returns the signing time; nil means time.Now.
	Now func() time.Time
	// Rand is the randomness handed to the key; nil means crypto/rand.
	Rand io.Reader
}

type issuerAndSerial struct {
	Issuer asn1.RawValue
	Serial *big.Int
}

type signerInfo struct {
	Version            int
	SID                issuerAndSerial
	DigestAlgorithm    pkix.AlgorithmIdentifier
	SignedAttrs        asn1.RawValue
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          []byte
}

type signedData struct {
	Version          int
	DigestAlgorithms []pkix.AlgorithmIdentifier `asn1:"set"`
	EncapContentInfo encapContentInfo
	Certificates     asn1.RawValue
	SignerInfos      []signerInfo `asn1:"set"`
}

type encapContentInfo struct {
	EContentType asn1.ObjectIdentifier
	EContent     asn1.RawValue
}

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue
}

type attribute struct {
	Type   asn1.ObjectIdentifier
	Values asn1.RawValue // SET OF value
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
	s := &Signer{
		key:      key,
		sid:      issuerAndSerial{Issuer: asn1.RawValue{FullBytes: leaf.RawIssuer}, Serial: leaf.SerialNumber},
		chainLen: len(chain),
	}
	switch key.Public().(type) {
	case *rsa.PublicKey:
		s.sigAlg = pkix.AlgorithmIdentifier{Algorithm: oidRSAEncryption, Parameters: asn1.NullRawValue}
	case *ecdsa.PublicKey:
		s.sigAlg = pkix.AlgorithmIdentifier{Algorithm: oidECDSAWithSHA2}
	default:
		return nil, fmt.Errorf("%w: unsupported key type %T (want RSA or ECDSA)", ErrSigner, key.Public())
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
	s.certs = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: raw}
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

	// Signed attributes, DER-sorted as a SET OF requires.
	attrs := make([][]byte, 0, 3)
	for _, a := range []struct {
		oid asn1.ObjectIdentifier
		val any
	}{
		{oidContentType, oidData},
		{oidMessageDigest, digest[:]},
		{oidSigningTime, now().UTC()},
	} {
		v, err := asn1.Marshal(a.val)
		if err != nil {
			return nil, fmt.Errorf("profile: sign: %w", err)
		}
		b, err := asn1.Marshal(attribute{Type: a.oid, Values: asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: v}})
		if err != nil {
			return nil, fmt.Errorf("profile: sign: %w", err)
		}
		attrs = append(attrs, b)
	}
	slices.SortFunc(attrs, bytes.Compare)
	attrBytes := bytes.Join(attrs, nil)

	// The signature covers the attributes encoded as a universal SET.
	toSign, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: attrBytes})
	if err != nil {
		return nil, fmt.Errorf("profile: sign: %w", err)
	}
	h := sha256.Sum256(toSign)
	sig, err := s.key.Sign(rnd, h[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("profile: sign: %w", err)
	}

	octets, err := asn1.Marshal(content)
	if err != nil {
		return nil, fmt.Errorf("profile: sign: %w", err)
	}
	digestAlg := pkix.AlgorithmIdentifier{Algorithm: oidSHA256}
	sd := signedData{
		Version:          1,
		DigestAlgorithms: []pkix.AlgorithmIdentifier{digestAlg},
		EncapContentInfo: encapContentInfo{
			EContentType: oidData,
			EContent:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: octets},
		},
		Certificates: s.certs,
		SignerInfos: []signerInfo{{
			Version:            1,
			SID:                s.sid,
			DigestAlgorithm:    digestAlg,
			SignedAttrs:        asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: attrBytes},
			SignatureAlgorithm: s.sigAlg,
			Signature:          sig,
		}},
	}
	inner, err := asn1.Marshal(sd)
	if err != nil {
		return nil, fmt.Errorf("profile: sign: %w", err)
	}
	out, err := asn1.Marshal(contentInfo{
		ContentType: oidSignedData,
		Content:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner},
	})
	if err != nil {
		return nil, fmt.Errorf("profile: sign: %w", err)
	}
	return out, nil
}
