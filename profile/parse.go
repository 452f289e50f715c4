package profile

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"time"

	"go.mozilla.org/pkcs7"
)

// DefaultMaxSize is the input limit Parse applies when ParseOptions.MaxSize
// is zero. Enrollment profiles are a few kilobytes; PKCS#12 payloads add a
// few more.
const DefaultMaxSize = 1 << 20

// ParseOptions tunes Parse. The zero value accepts signed and unsigned
// profiles up to DefaultMaxSize and checks signatures but not chains.
type ParseOptions struct {
	// Roots, when not nil, are the trusted roots: the signer's certificate
	// must chain to one of them, through the certificates in the
	// signature. When nil the signature is checked but the signer is not
	// trusted or distrusted.
	Roots *x509.CertPool
	// CurrentTime is when chains are checked; zero means now.
	CurrentTime time.Time
	// MaxSize bounds the input in bytes; zero means DefaultMaxSize.
	MaxSize int64
	// RequireSignature rejects unsigned profiles with ErrUnsigned.
	RequireSignature bool
}

// Parsed is a profile read by Parse.
type Parsed struct {
	// Profile is the decoded profile.
	Profile *Profile
	// Content is the property list, as it was signed.
	Content []byte
	// Format is the encoding of Content.
	Format Format
	// Signed reports whether the input was CMS SignedData.
	Signed bool
	// Chain is the signer's certificate first, then its issuers: the
	// verified chain up to the root when ParseOptions.Roots was set,
	// otherwise as far as the certificates in the signature reach. Nil for
	// unsigned input.
	Chain []*x509.Certificate
}

// Parse reads a profile as a device receives it: either a bare XML or
// binary property list, or one wrapped in CMS SignedData (DER or BER). For
// signed input it verifies the signature, the message digest and, when
// opts.Roots is set, the signer's chain (any extended key usage). Exactly
// one signer is accepted, with RSA or ECDSA and any digest from SHA-1 to
// SHA-512, so that profiles signed by older tools still read. Errors
// wrap ErrTooLarge (as a *SizeError), ErrNotProfile, ErrUnsigned,
// ErrSignature or ErrUntrusted; decoding errors are *FieldError values.
func Parse(data []byte, opts ParseOptions) (*Parsed, error) {
	limit := opts.MaxSize
	if limit <= 0 {
		limit = DefaultMaxSize
	}
	if int64(len(data)) > limit {
		return nil, &SizeError{Size: int64(len(data)), Limit: limit}
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty input", ErrNotProfile)
	}
	res := &Parsed{Content: data}
	if data[0] == 0x30 { // ASN.1 SEQUENCE: CMS ContentInfo
		content, chain, err := verifyCMS(data, opts)
		if err != nil {
			return nil, err
		}
		res.Content, res.Chain, res.Signed = content, chain, true
	} else if opts.RequireSignature {
		return nil, ErrUnsigned
	}
	p, f, err := unmarshal(res.Content)
	if err != nil {
		return nil, err
	}
	res.Profile, res.Format = p, f
	return res, nil
}

func verifyCMS(data []byte, opts ParseOptions) (content []byte, chain []*x509.Certificate, err error) {
	// The BER converter and ASN.1 decoder see attacker-controlled input;
	// a panic in either must be an error, not a crash.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: malformed CMS: %v", ErrNotProfile, r)
		}
	}()
	der, err := normalizeBER(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: malformed CMS: %w", ErrNotProfile, err)
	}
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: malformed CMS: %w", ErrNotProfile, err)
	}
	if len(p7.Content) == 0 {
		return nil, nil, fmt.Errorf("%w: signature has no encapsulated content", ErrNotProfile)
	}
	if len(p7.Signers) != 1 {
		return nil, nil, fmt.Errorf("%w: want one signer, got %d", ErrSignature, len(p7.Signers))
	}
	if err := p7.Verify(); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrSignature, err)
	}
	leaf := p7.GetOnlySigner()
	if leaf == nil {
		return nil, nil, fmt.Errorf("%w: no certificate for the signer", ErrSignature)
	}
	if opts.Roots != nil {
		inter := x509.NewCertPool()
		for _, c := range p7.Certificates {
			if c != leaf {
				inter.AddCert(c)
			}
		}
		chains, err := leaf.Verify(x509.VerifyOptions{
			Roots:         opts.Roots,
			Intermediates: inter,
			CurrentTime:   opts.CurrentTime,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		})
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrUntrusted, err)
		}
		return p7.Content, chains[0], nil
	}
	return p7.Content, issuerChain(leaf, p7.Certificates), nil
}

// issuerChain orders certs from leaf upwards by following issuers whose
// signature checks, stopping at a self-issued certificate or a gap.
func issuerChain(leaf *x509.Certificate, certs []*x509.Certificate) []*x509.Certificate {
	chain := []*x509.Certificate{leaf}
	cur := leaf
	for len(chain) <= len(certs) {
		if bytes.Equal(cur.RawIssuer, cur.RawSubject) {
			break
		}
		var next *x509.Certificate
		for _, c := range certs {
			if c != cur && bytes.Equal(c.RawSubject, cur.RawIssuer) && cur.CheckSignatureFrom(c) == nil {
				next = c
				break
			}
		}
		if next == nil {
			break
		}
		chain = append(chain, next)
		cur = next
	}
	return chain
}
