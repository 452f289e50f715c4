package mdm

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// SignOptions chooses the shape of a signature made by Sign.
type SignOptions struct {
	// Hash is the digest algorithm: crypto.SHA1 (what devices use) or a
	// SHA-2 hash. Zero means crypto.SHA256.
	Hash crypto.Hash
	// SignedAttributes adds contentType and messageDigest attributes and
	// signs them instead of the body directly.
	SignedAttributes bool
	// Intermediates are added to the signature's certificates after cert.
	Intermediates []*x509.Certificate
}

// Sign returns an Mdm-Signature header value for body: base64 of a detached
// CMS SignedData by key, carrying cert. It is what a device does; simulated
// devices and tests use it. key must be an *rsa.PrivateKey (PKCS #1 v1.5) or
// an *ecdsa.PrivateKey.
func Sign(body []byte, cert *x509.Certificate, key crypto.Signer, opts *SignOptions) (string, error) {
	var o SignOptions
	if opts != nil {
		o = *opts
	}
	if o.Hash == 0 {
		o.Hash = crypto.SHA256
	}
	var digestOID []byte
	switch o.Hash {
	case crypto.SHA1:
		digestOID = oidSHA1
	case crypto.SHA256:
		digestOID = oidSHA256
	case crypto.SHA384:
		digestOID = oidSHA384
	case crypto.SHA512:
		digestOID = oidSHA512
	default:
		return "", fmt.Errorf("mdm: sign: unsupported hash %v", o.Hash)
	}
	var sigOID []byte
	switch key.(type) {
	case *rsa.PrivateKey:
		sigOID = append(append([]byte(nil), oidRSAPrefix...), 1) // rsaEncryption
	case *ecdsa.PrivateKey:
		// ecdsa-with-SHA1 is 1.2.840.10045.4.1, ecdsa-with-SHA2xx 1.2.840.10045.4.3.x.
		sigOID = append([]byte(nil), oidECDSAPrefix...)
		switch o.Hash {
		case crypto.SHA1:
			sigOID = append(sigOID, 1)
		case crypto.SHA256:
			sigOID = append(sigOID, 3, 2)
		case crypto.SHA384:
			sigOID = append(sigOID, 3, 3)
		default:
			sigOID = append(sigOID, 3, 4)
		}
	default:
		return "", fmt.Errorf("mdm: sign: unsupported key type %T", key)
	}
	h := o.Hash.New()
	h.Write(body)
	digest := h.Sum(nil)

	var attrs []byte
	if o.SignedAttributes {
		var b cryptobyte.Builder
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(oidContentType) })
			b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(oidData) })
			})
		})
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(oidMessageDigest) })
			b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { b.AddASN1OctetString(digest) })
		})
		attrs = b.BytesOrPanic()
		var set cryptobyte.Builder
		set.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { b.AddBytes(attrs) })
		h.Reset()
		h.Write(set.BytesOrPanic())
		digest = h.Sum(nil)
	}
	sig, err := key.Sign(rand.Reader, digest, o.Hash)
	if err != nil {
		return "", fmt.Errorf("mdm: sign: %w", err)
	}

	algID := func(b *cryptobyte.Builder, oid []byte, null bool) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(oid) })
			if null {
				b.AddASN1NULL()
			}
		})
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(oidSignedData) })
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1Int64(1)
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { algID(b, digestOID, false) })
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(oidData) })
				})
				b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
					b.AddBytes(cert.Raw)
					for _, c := range o.Intermediates {
						b.AddBytes(c.Raw)
					}
				})
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1Int64(1)
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddBytes(cert.RawIssuer)
							b.AddASN1BigInt(cert.SerialNumber)
						})
						algID(b, digestOID, false)
						if attrs != nil {
							b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(attrs) })
						}
						_, isRSA := key.(*rsa.PrivateKey)
						algID(b, sigOID, isRSA)
						b.AddASN1OctetString(sig)
					})
				})
			})
		})
	})
	der, err := b.Bytes()
	if err != nil {
		return "", fmt.Errorf("mdm: sign: %w", err)
	}
	return base64.StdEncoding.EncodeToString(der), nil
}
