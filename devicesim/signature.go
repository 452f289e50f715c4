package devicesim

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"fmt"
	"math/big"
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

// Object identifiers used in the CMS structures this package writes.
var (
	oidSignedData      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidData            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSHA1            = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256          = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA1WithRSA     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}
	oidSHA256WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	asn1NULL           = []byte{0x05, 0x00}
	tagSequence        = byte(0x30)
	tagSet             = byte(0x31)
	tagContextExplicit = byte(0xa0) // [0] constructed
)

// SignDetached returns a detached CMS SignedData over body, signed by key
// with the certificate cert included and identified by issuer and serial
// number, with no signed attributes. It is the value (before base64) of the
// Mdm-Signature header a device sends. key must be an RSA key.
func SignDetached(body []byte, cert *x509.Certificate, key crypto.Signer, opts SignatureOptions) ([]byte, error) {
	if cert == nil || key == nil {
		return nil, fmt.Errorf("devicesim: sign: %w", ErrNoIdentity)
	}
	if _, ok := key.Public().(*rsa.PublicKey); !ok {
		return nil, fmt.Errorf("devicesim: sign: key is %T, want an RSA key", key.Public())
	}
	hash, digestOID, sigOID := crypto.SHA1, oidSHA1, oidSHA1WithRSA
	if opts.SHA256 {
		hash, digestOID, sigOID = crypto.SHA256, oidSHA256, oidSHA256WithRSA
	}
	h := hash.New()
	h.Write(body)
	sig, err := key.Sign(rand.Reader, h.Sum(nil), hash)
	if err != nil {
		return nil, fmt.Errorf("devicesim: sign: %w", err)
	}

	e := berEncoder{der: opts.DER}
	algID := func(oid asn1.ObjectIdentifier) []byte {
		return e.constructed(tagSequence, mustOID(oid), asn1NULL)
	}
	serial := mustMarshal(new(big.Int).Set(cert.SerialNumber))
	signerInfo := e.constructed(tagSequence,
		mustMarshal(1), // version: issuerAndSerialNumber
		e.constructed(tagSequence, cert.RawIssuer, serial),
		algID(digestOID),
		algID(sigOID),
		primitive(0x04, sig),
	)
	signedData := e.constructed(tagSequence,
		mustMarshal(1),
		e.constructed(tagSet, algID(digestOID)),
		e.constructed(tagSequence, mustOID(oidData)), // detached: no eContent
		e.constructed(tagContextExplicit, cert.Raw),  // certificates [0] IMPLICIT
		e.constructed(tagSet, signerInfo),
	)
	return e.constructed(tagSequence,
		mustOID(oidSignedData),
		e.constructed(tagContextExplicit, signedData),
	), nil
}

// MdmSignature returns the Mdm-Signature header value for body: the base64
// of SignDetached.
func MdmSignature(body []byte, cert *x509.Certificate, key crypto.Signer, opts SignatureOptions) (string, error) {
	der, err := SignDetached(body, cert, key, opts)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(der), nil
}

// berEncoder writes constructed ASN.1 values either with indefinite lengths
// (BER, as iOS does) or with definite lengths (DER). Primitive values always
// use definite lengths, as BER requires.
type berEncoder struct{ der bool }

func (e berEncoder) constructed(tag byte, children ...[]byte) []byte {
	n := 0
	for _, c := range children {
		n += len(c)
	}
	if e.der {
		out := appendHeader(make([]byte, 0, n+6), tag, n)
		for _, c := range children {
			out = append(out, c...)
		}
		return out
	}
	out := make([]byte, 0, n+4)
	out = append(out, tag, 0x80) // indefinite length
	for _, c := range children {
		out = append(out, c...)
	}
	return append(out, 0x00, 0x00) // end-of-contents
}

func primitive(tag byte, content []byte) []byte {
	out := appendHeader(make([]byte, 0, len(content)+6), tag, len(content))
	return append(out, content...)
}

func appendHeader(out []byte, tag byte, n int) []byte {
	out = append(out, tag)
	switch {
	case n < 0x80:
		return append(out, byte(n))
	case n <= 0xff:
		return append(out, 0x81, byte(n))
	case n <= 0xffff:
		return append(out, 0x82, byte(n>>8), byte(n))
	case n <= 0xffffff:
		return append(out, 0x83, byte(n>>16), byte(n>>8), byte(n))
	default:
		return append(out, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

func mustOID(oid asn1.ObjectIdentifier) []byte { return mustMarshal(oid) }

// mustMarshal encodes values that cannot fail to encode (integers, object
// identifiers made of constants).
func mustMarshal(v any) []byte {
	b, err := asn1.Marshal(v)
	if err != nil {
		panic("devicesim: asn1: " + err.Error())
	}
	return b
}
