package mdm

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"hash"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/enrollkit/enrollkit/internal/ber"
	"github.com/enrollkit/enrollkit/internal/cms"
)

// DefaultMaxSignatureBytes bounds a decoded Mdm-Signature unless configured
// otherwise. A device signature with its certificate is a few kilobytes.
const DefaultMaxSignatureBytes = 64 << 10

// maxBERDepth bounds the nesting of a BER signature; CMS SignedData with
// certificates nests about a dozen levels deep.
const maxBERDepth = 32

// signerInfo is the part of a CMS SignerInfo the verifier uses. Byte slices
// point into the parsed signature.
type signerInfo struct {
	issuer      []byte // DER Name, for issuerAndSerialNumber
	serial      *big.Int
	skid        []byte // subjectKeyIdentifier, the alternative
	digestAlg   []byte
	signedAttrs []byte // contents of [0] IMPLICIT SignedAttributes
	hasAttrs    bool
	sigAlg      []byte
	signature   []byte
}

// signedData is a parsed detached CMS SignedData.
type signedData struct {
	certs     [][]byte // DER certificates, in order
	content   []byte   // encapsulated content, nil when detached
	signers   []signerInfo
	converted bool // the input was BER and was normalised to DER
}

var errCMS = errors.New("malformed CMS SignedData")

// parseSignedData parses a CMS ContentInfo holding SignedData. BER input
// (indefinite lengths, constructed strings) is normalised to DER first, within
// size and depth bounds.
func parseSignedData(der []byte, maxBytes int) (*signedData, error) {
	if len(der) > maxBytes {
		return nil, fmt.Errorf("%w: signature of %d bytes exceeds %d", ErrBodyTooLarge, len(der), maxBytes)
	}
	sd, err := parseSignedDataDER(der)
	if err == nil {
		return sd, nil
	}
	norm, berr := berToDER(der, maxBytes)
	if berr != nil {
		return nil, berr
	}
	sd, err = parseSignedDataDER(norm)
	if err != nil {
		return nil, err
	}
	sd.converted = true
	return sd, nil
}

func parseSignedDataDER(der []byte) (*signedData, error) {
	in := cryptobyte.String(der)
	var ci, oid, explicit, sdSeq cryptobyte.String
	if !in.ReadASN1(&ci, cbasn1.SEQUENCE) || !in.Empty() ||
		!ci.ReadASN1(&oid, cbasn1.OBJECT_IDENTIFIER) || !bytes.Equal(oid, cms.OIDSignedData) ||
		!ci.ReadASN1(&explicit, cbasn1.Tag(0).Constructed().ContextSpecific()) || !ci.Empty() ||
		!explicit.ReadASN1(&sdSeq, cbasn1.SEQUENCE) || !explicit.Empty() {
		return nil, errCMS
	}
	var version int64
	var digestAlgs, encap cryptobyte.String
	if !sdSeq.ReadASN1Integer(&version) || !sdSeq.ReadASN1(&digestAlgs, cbasn1.SET) || !sdSeq.ReadASN1(&encap, cbasn1.SEQUENCE) {
		return nil, errCMS
	}
	sd := &signedData{}
	var eType cryptobyte.String
	if !encap.ReadASN1(&eType, cbasn1.OBJECT_IDENTIFIER) {
		return nil, errCMS
	}
	if !encap.Empty() {
		var eExplicit, eContent cryptobyte.String
		if !encap.ReadASN1(&eExplicit, cbasn1.Tag(0).Constructed().ContextSpecific()) ||
			!eExplicit.ReadASN1(&eContent, cbasn1.OCTET_STRING) || !eExplicit.Empty() || !encap.Empty() {
			return nil, errCMS
		}
		sd.content = eContent
	}
	var certs cryptobyte.String
	var hasCerts bool
	if !sdSeq.ReadOptionalASN1(&certs, &hasCerts, cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return nil, errCMS
	}
	for !certs.Empty() {
		var cert cryptobyte.String
		var tag cbasn1.Tag
		if !certs.ReadAnyASN1Element(&cert, &tag) {
			return nil, errCMS
		}
		if tag == cbasn1.SEQUENCE { // other certificate choices are ignored
			sd.certs = append(sd.certs, cert)
		}
	}
	var crls cryptobyte.String
	if !sdSeq.SkipOptionalASN1(cbasn1.Tag(1).Constructed().ContextSpecific()) {
		_ = crls
		return nil, errCMS
	}
	var signers cryptobyte.String
	if !sdSeq.ReadASN1(&signers, cbasn1.SET) || !sdSeq.Empty() {
		return nil, errCMS
	}
	for !signers.Empty() {
		var si cryptobyte.String
		if !signers.ReadASN1(&si, cbasn1.SEQUENCE) {
			return nil, errCMS
		}
		s, err := parseSignerInfo(si)
		if err != nil {
			return nil, err
		}
		sd.signers = append(sd.signers, s)
	}
	if len(sd.signers) == 0 {
		return nil, fmt.Errorf("%w: no SignerInfo", errCMS)
	}
	return sd, nil
}

func parseSignerInfo(si cryptobyte.String) (signerInfo, error) {
	var s signerInfo
	var version int64
	if !si.ReadASN1Integer(&version) {
		return s, errCMS
	}
	if si.PeekASN1Tag(cbasn1.SEQUENCE) {
		var ias cryptobyte.String
		var name cryptobyte.String
		var tag cbasn1.Tag
		s.serial = new(big.Int)
		if !si.ReadASN1(&ias, cbasn1.SEQUENCE) || !ias.ReadAnyASN1Element(&name, &tag) || tag != cbasn1.SEQUENCE ||
			!ias.ReadASN1Integer(s.serial) || !ias.Empty() {
			return s, errCMS
		}
		s.issuer = name
	} else {
		var skid cryptobyte.String
		if !si.ReadASN1(&skid, cbasn1.Tag(0).ContextSpecific()) {
			return s, errCMS
		}
		s.skid = skid
	}
	var alg cryptobyte.String
	if !si.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1((*cryptobyte.String)(&s.digestAlg), cbasn1.OBJECT_IDENTIFIER) {
		return s, errCMS
	}
	var attrs cryptobyte.String
	if !si.ReadOptionalASN1(&attrs, &s.hasAttrs, cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return s, errCMS
	}
	s.signedAttrs = attrs
	var salg, sig cryptobyte.String
	if !si.ReadASN1(&salg, cbasn1.SEQUENCE) || !salg.ReadASN1((*cryptobyte.String)(&s.sigAlg), cbasn1.OBJECT_IDENTIFIER) ||
		!si.ReadASN1(&sig, cbasn1.OCTET_STRING) {
		return s, errCMS
	}
	s.signature = sig
	if !si.SkipOptionalASN1(cbasn1.Tag(1).Constructed().ContextSpecific()) || !si.Empty() {
		return s, errCMS
	}
	return s, nil
}

// hashFor maps a digest algorithm OID to its hash.
func hashFor(oid []byte) (crypto.Hash, hash.Hash, error) {
	h, ok := cms.DigestHash(oid)
	if !ok {
		return 0, nil, fmt.Errorf("%w: unsupported digest algorithm", ErrBadSignature)
	}
	return h, h.New(), nil
}

// signerMatches reports whether cert is the certificate s names.
func (s *signerInfo) signerMatches(cert *x509.Certificate) bool {
	if s.skid != nil {
		return len(cert.SubjectKeyId) > 0 && bytes.Equal(cert.SubjectKeyId, s.skid)
	}
	return bytes.Equal(cert.RawIssuer, s.issuer) && cert.SerialNumber.Cmp(s.serial) == 0
}

// verify checks s's signature by cert over content (detached or
// encapsulated): directly over the content digest, or over the DER of the
// signed attributes whose messageDigest must equal the content digest.
func (s *signerInfo) verify(cert *x509.Certificate, content []byte) error {
	h, hh, err := hashFor(s.digestAlg)
	if err != nil {
		return err
	}
	hh.Write(content)
	var buf [64]byte
	digest := hh.Sum(buf[:0])
	if s.hasAttrs {
		md, err := checkSignedAttrs(s.signedAttrs)
		if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare(md, digest) != 1 {
			return fmt.Errorf("%w: messageDigest does not match the body", ErrBadSignature)
		}
		// The signature covers the attributes DER-encoded with the SET tag.
		var b cryptobyte.Builder
		b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { b.AddBytes(s.signedAttrs) })
		enc, err := b.Bytes()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadSignature, err)
		}
		hh.Reset()
		hh.Write(enc)
		digest = hh.Sum(buf[:0])
	}
	switch pub := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		if !bytes.HasPrefix(s.sigAlg, cms.OIDRSAPrefix) || len(s.sigAlg) != len(cms.OIDRSAPrefix)+1 {
			return fmt.Errorf("%w: signature algorithm does not match an RSA key", ErrBadSignature)
		}
		if err := rsa.VerifyPKCS1v15(pub, h, digest, s.signature); err != nil {
			return fmt.Errorf("%w: %v", ErrBadSignature, err)
		}
	case *ecdsa.PublicKey:
		if !bytes.HasPrefix(s.sigAlg, cms.OIDECDSAPrefix) && !bytes.Equal(s.sigAlg, cms.OIDECPublicKey) {
			return fmt.Errorf("%w: signature algorithm does not match an ECDSA key", ErrBadSignature)
		}
		if !ecdsa.VerifyASN1(pub, digest, s.signature) {
			return fmt.Errorf("%w: ECDSA signature does not verify", ErrBadSignature)
		}
	default:
		return fmt.Errorf("%w: unsupported public key type %T", ErrBadSignature, cert.PublicKey)
	}
	return nil
}

// checkSignedAttrs requires a contentType attribute of id-data and returns
// the messageDigest attribute.
func checkSignedAttrs(attrs cryptobyte.String) ([]byte, error) {
	var md []byte
	var sawType, sawDigest bool
	for !attrs.Empty() {
		var attr, oid, values cryptobyte.String
		if !attrs.ReadASN1(&attr, cbasn1.SEQUENCE) || !attr.ReadASN1(&oid, cbasn1.OBJECT_IDENTIFIER) ||
			!attr.ReadASN1(&values, cbasn1.SET) || !attr.Empty() {
			return nil, fmt.Errorf("%w: malformed signed attribute", ErrBadSignature)
		}
		switch {
		case bytes.Equal(oid, cms.OIDContentType):
			var v cryptobyte.String
			if sawType || !values.ReadASN1(&v, cbasn1.OBJECT_IDENTIFIER) || !values.Empty() || !bytes.Equal(v, cms.OIDData) {
				return nil, fmt.Errorf("%w: bad contentType attribute", ErrBadSignature)
			}
			sawType = true
		case bytes.Equal(oid, cms.OIDMessageDigest):
			var v cryptobyte.String
			if sawDigest || !values.ReadASN1(&v, cbasn1.OCTET_STRING) || !values.Empty() {
				return nil, fmt.Errorf("%w: bad messageDigest attribute", ErrBadSignature)
			}
			md, sawDigest = v, true
		}
	}
	if !sawType || !sawDigest {
		return nil, fmt.Errorf("%w: signed attributes lack contentType or messageDigest", ErrBadSignature)
	}
	return md, nil
}

// VerifySignature checks a detached CMS SignedData (DER or BER, as in a
// decoded Mdm-Signature header) over body and returns the signer's
// certificate and every certificate the signature carries. It checks the
// signature only: the caller verifies the certificate chain. SHA-1 and SHA-2
// digests, RSA PKCS #1 v1.5 and ECDSA, with or without signed attributes are
// accepted. Errors wrap ErrBadSignature, ErrNoCertificate or ErrBodyTooLarge.
func VerifySignature(sig, body []byte) (*x509.Certificate, []*x509.Certificate, error) {
	sd, err := parseSignedData(sig, DefaultMaxSignatureBytes)
	if err != nil {
		return nil, nil, wrapCMS(err)
	}
	certs := make([]*x509.Certificate, 0, len(sd.certs))
	for _, der := range sd.certs {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: certificate: %v", ErrBadSignature, err)
		}
		certs = append(certs, c)
	}
	leaf, err := sd.verify(body, func(i int) *x509.Certificate { return certs[i] })
	if err != nil {
		return nil, nil, err
	}
	return leaf, certs, nil
}

func wrapCMS(err error) error {
	if errors.Is(err, ErrBodyTooLarge) || errors.Is(err, ErrBadSignature) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrBadSignature, err)
}

// verify checks the first SignerInfo against body using the certificate the
// signer names; cert(i) returns the parsed certificate sd.certs[i].
func (sd *signedData) verify(body []byte, cert func(int) *x509.Certificate) (*x509.Certificate, error) {
	if sd.content != nil && !bytes.Equal(sd.content, body) {
		return nil, fmt.Errorf("%w: encapsulated content differs from the body", ErrBadSignature)
	}
	if len(sd.certs) == 0 {
		return nil, fmt.Errorf("%w: the signature carries no certificate", ErrNoCertificate)
	}
	s := &sd.signers[0]
	for i := range sd.certs {
		c := cert(i)
		if c == nil || !s.signerMatches(c) {
			continue
		}
		if err := s.verify(c, body); err != nil {
			return nil, err
		}
		return c, nil
	}
	return nil, fmt.Errorf("%w: the signer's certificate is not in the signature", ErrNoCertificate)
}

// berToDER converts BER to DER within maxBytes and maxBERDepth: indefinite
// lengths become definite and constructed OCTET STRINGs are joined. Input
// over maxBytes gives ErrBodyTooLarge, trailing data errCMS, and anything
// else malformed errBER.
func berToDER(in []byte, maxBytes int) ([]byte, error) {
	out, err := ber.ToDER(in, ber.Limits{MaxBytes: maxBytes, MaxDepth: maxBERDepth})
	switch {
	case err == nil:
		return out, nil
	case errors.Is(err, ber.ErrTooLarge):
		return nil, fmt.Errorf("%w: signature exceeds %d bytes", ErrBodyTooLarge, maxBytes)
	case errors.Is(err, ber.ErrTrailingData):
		return nil, fmt.Errorf("%w: %w", errCMS, err)
	}
	return nil, fmt.Errorf("%w: %w", errBER, err)
}

var errBER = errors.New("malformed BER")
