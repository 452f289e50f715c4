package mdm

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// verifier checks identity certificates against the configured roots and
// caches what it learned per certificate, so that a device's repeated
// requests cost one signature check each.
type verifier struct {
	roots     *x509.CertPool
	rootCerts []*x509.Certificate
	inters    []*x509.Certificate
	now       func() time.Time

	mu    sync.RWMutex
	cache map[Fingerprint]*verifiedCert
}

// verifiedCert is a parsed certificate and, once verified, its chain.
type verifiedCert struct {
	cert  *x509.Certificate
	chain []*x509.Certificate // nil until verified
	fp    Fingerprint
}

// maxCachedCerts bounds the certificate cache; it is emptied when full.
const maxCachedCerts = 8192

func newVerifier(roots, inters []*x509.Certificate, now func() time.Time) *verifier {
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}
	return &verifier{roots: pool, rootCerts: roots, inters: inters, now: now, cache: make(map[Fingerprint]*verifiedCert)}
}

// parse returns the cached parse of der, parsing it on a miss.
func (v *verifier) parse(der []byte) (*verifiedCert, error) {
	fp := Fingerprint(sha256.Sum256(der))
	v.mu.RLock()
	vc := v.cache[fp]
	v.mu.RUnlock()
	if vc != nil {
		return vc, nil
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	vc = &verifiedCert{cert: c, fp: fp}
	v.mu.Lock()
	if len(v.cache) >= maxCachedCerts {
		clear(v.cache)
	}
	if old := v.cache[fp]; old != nil {
		vc = old
	} else {
		v.cache[fp] = vc
	}
	v.mu.Unlock()
	return vc, nil
}

// chain verifies vc's chain to the roots, using the certificates in bag as
// possible intermediates, and returns it (leaf first). A successful chain is
// remembered; the validity period is checked on every call.
func (v *verifier) chain(vc *verifiedCert, bag []*x509.Certificate) ([]*x509.Certificate, error) {
	now := v.now()
	v.mu.RLock()
	chain := vc.chain
	v.mu.RUnlock()
	if chain != nil {
		for _, c := range chain {
			if now.Before(c.NotBefore) || now.After(c.NotAfter) {
				return nil, fmt.Errorf("%w: certificate %q is outside its validity period", ErrUntrustedCertificate, c.Subject.CommonName)
			}
		}
		return chain, nil
	}
	chain, err := v.buildChain(vc.cert, bag, now)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	vc.chain = chain
	v.mu.Unlock()
	return chain, nil
}

func (v *verifier) buildChain(leaf *x509.Certificate, bag []*x509.Certificate, now time.Time) ([]*x509.Certificate, error) {
	inters := x509.NewCertPool()
	for _, c := range v.inters {
		inters.AddCert(c)
	}
	for _, c := range bag {
		if !bytes.Equal(c.Raw, leaf.Raw) {
			inters.AddCert(c)
		}
	}
	opts := x509.VerifyOptions{Roots: v.roots, Intermediates: inters, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	chains, err := leaf.Verify(opts)
	if err == nil {
		return chains[0], nil
	}
	if leaf.SignatureAlgorithm != x509.SHA1WithRSA && leaf.SignatureAlgorithm != x509.ECDSAWithSHA1 {
		return nil, fmt.Errorf("%w: %v", ErrUntrustedCertificate, err)
	}
	// Go refuses SHA-1 signatures in chains. Devices' identity certificates
	// may still carry one, so check the leaf against its issuer here and the
	// issuer's own chain with crypto/x509.
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("%w: certificate is outside its validity period", ErrUntrustedCertificate)
	}
	candidates := make([]*x509.Certificate, 0, len(v.rootCerts)+len(v.inters)+len(bag))
	candidates = append(append(append(candidates, v.rootCerts...), v.inters...), bag...)
	for _, iss := range candidates {
		if !bytes.Equal(iss.RawSubject, leaf.RawIssuer) || bytes.Equal(iss.Raw, leaf.Raw) || !iss.BasicConstraintsValid || !iss.IsCA {
			continue
		}
		if iss.KeyUsage != 0 && iss.KeyUsage&x509.KeyUsageCertSign == 0 {
			continue
		}
		if iss.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature) != nil {
			continue
		}
		chains, err := iss.Verify(opts)
		if err != nil {
			continue
		}
		return append([]*x509.Certificate{leaf}, chains[0]...), nil
	}
	return nil, fmt.Errorf("%w: %v", ErrUntrustedCertificate, err)
}

// identity is a verified identity certificate.
type identity struct {
	cert  *x509.Certificate
	chain []*x509.Certificate
	fp    Fingerprint
}

// pendingIdentity is what identifyHeaders learned before the body is read:
// a verified certificate from the connection or a proxy header (id), or
// an Mdm-Signature whose signer's certificate is trusted, to be checked
// over the body by verify.
type pendingIdentity struct {
	id     *identity
	sd     *signedData
	parsed []*verifiedCert
	leaf   *verifiedCert
	chain  []*x509.Certificate
}

// identifyHeaders finds the request's identity certificate and verifies
// its chain, from the headers and the connection alone: the Mdm-Signature
// header if present, else the TLS client certificate, else the configured
// proxy header. A request without a trusted identity is refused before its
// body is read.
func (v *verifier) identifyHeaders(r *http.Request, header string, maxSig int) (*pendingIdentity, error) {
	if sig := r.Header.Get("Mdm-Signature"); sig != "" {
		p, err := v.certifySignature(sig, maxSig)
		if err != nil {
			return nil, &IdentityError{Source: "Mdm-Signature", Err: err}
		}
		return p, nil
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		pcs := r.TLS.PeerCertificates
		id, err := v.fromDER(pcs[0].Raw, pcs[1:])
		if err != nil {
			return nil, &IdentityError{Source: "TLS", Err: err}
		}
		return &pendingIdentity{id: id}, nil
	}
	if header != "" {
		if val := r.Header.Get(header); val != "" {
			der, err := parseCertHeader(header, val)
			if err != nil {
				return nil, &IdentityError{Source: header, Err: err}
			}
			id, err := v.fromDER(der, nil)
			if err != nil {
				return nil, &IdentityError{Source: header, Err: err}
			}
			return &pendingIdentity{id: id}, nil
		}
	}
	return nil, &IdentityError{Err: ErrNoCertificate}
}

// verify completes the identity with the body: an Mdm-Signature must
// verify over it.
func (p *pendingIdentity) verify(body []byte) (*identity, error) {
	if p.id != nil {
		return p.id, nil
	}
	leaf, err := p.sd.verify(body, func(i int) *x509.Certificate { return p.parsed[i].cert })
	if err != nil {
		return nil, &IdentityError{Source: "Mdm-Signature", Err: err}
	}
	if leaf != p.leaf.cert { // sd.verify picks the signer as certifySignature did
		return nil, &IdentityError{Source: "Mdm-Signature", Err: fmt.Errorf("%w: signer changed", ErrBadSignature)}
	}
	return &identity{cert: leaf, chain: p.chain, fp: p.leaf.fp}, nil
}

func (v *verifier) fromDER(der []byte, bag []*x509.Certificate) (*identity, error) {
	vc, err := v.parse(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoCertificate, err)
	}
	chain, err := v.chain(vc, bag)
	if err != nil {
		return nil, err
	}
	return &identity{cert: vc.cert, chain: chain, fp: vc.fp}, nil
}

// certifySignature parses an Mdm-Signature, finds its signer's certificate
// among the ones it carries and verifies that certificate's chain, leaving
// the signature itself to be checked over the body.
func (v *verifier) certifySignature(sig string, maxSig int) (*pendingIdentity, error) {
	if base64.StdEncoding.DecodedLen(len(sig)) > maxSig {
		return nil, fmt.Errorf("%w: Mdm-Signature exceeds %d bytes", ErrBodyTooLarge, maxSig)
	}
	der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(sig))
	if err != nil {
		return nil, fmt.Errorf("%w: base64: %v", ErrBadSignature, err)
	}
	sd, err := parseSignedData(der, maxSig)
	if err != nil {
		return nil, wrapCMS(err)
	}
	if len(sd.certs) == 0 {
		return nil, fmt.Errorf("%w: the signature carries no certificate", ErrNoCertificate)
	}
	parsed := make([]*verifiedCert, len(sd.certs))
	for i, c := range sd.certs {
		if parsed[i], err = v.parse(c); err != nil {
			return nil, fmt.Errorf("%w: certificate: %v", ErrBadSignature, err)
		}
	}
	var leaf *verifiedCert
	var bag []*x509.Certificate
	for _, p := range parsed {
		if leaf == nil && sd.signers[0].signerMatches(p.cert) {
			leaf = p
		} else {
			bag = append(bag, p.cert)
		}
	}
	if leaf == nil {
		return nil, fmt.Errorf("%w: the signer's certificate is not in the signature", ErrNoCertificate)
	}
	chain, err := v.chain(leaf, bag)
	if err != nil {
		return nil, err
	}
	return &pendingIdentity{sd: sd, parsed: parsed, leaf: leaf, chain: chain}, nil
}

// parseCertHeader decodes a proxy-forwarded certificate: RFC 9440
// (":base64-DER:") for Client-Cert, and base64 DER or URL-escaped PEM for
// other header names.
func parseCertHeader(name, val string) ([]byte, error) {
	val = strings.TrimSpace(val)
	if strings.EqualFold(name, "Client-Cert") || (len(val) > 2 && val[0] == ':' && val[len(val)-1] == ':') {
		if len(val) < 3 || val[0] != ':' || val[len(val)-1] != ':' {
			return nil, fmt.Errorf("%w: %s is not an RFC 9440 byte sequence", ErrNoCertificate, name)
		}
		der, err := base64.StdEncoding.DecodeString(val[1 : len(val)-1])
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrNoCertificate, name, err)
		}
		return der, nil
	}
	if strings.Contains(val, "-----BEGIN") || strings.Contains(val, "%2D%2D") || strings.Contains(val, "%2d%2d") {
		if u, err := url.PathUnescape(val); err == nil {
			val = u
		}
		blk, _ := pem.Decode([]byte(val))
		if blk == nil || blk.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%w: %s holds no PEM certificate", ErrNoCertificate, name)
		}
		return blk.Bytes, nil
	}
	der, err := base64.StdEncoding.DecodeString(val)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrNoCertificate, name, err)
	}
	return der, nil
}
