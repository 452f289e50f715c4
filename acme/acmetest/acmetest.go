// Package acmetest attests keys as a user-enrolled Apple device does, under
// a test root instead of Apple's Enterprise Attestation Root CA, so that
// tests and the simulated device can answer package acme's
// device-attest-01 challenge.
//
// A Root is a root CA and an intermediate, as Apple's attestation service
// has; Attest makes the attestation object a device sends for a challenge
// token: the leaf certifies the attested key (the Secure Enclave key,
// simulated by an ECDSA P-256 or P-384 key), carries the freshness code
// (the SHA-256 of the token) and an OS version, and, as under User
// Enrollment, no serial number and no UDID. Options makes the variations
// negative tests need. Give acme.Config.AttestationRoots the Root's Pool.
//
// RunStore is the conformance suite every acme.Store implementation runs
// in one line, and RunNonces the one of acme.Nonces. RunReplicas runs two
// Handlers, as replicas behind a load balancer, on two stores that share a
// database, with a device whose requests alternate between them (Request
// signs them); BenchmarkIssuance measures an attested issuance so.
package acmetest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"fmt"
	"math/big"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/go-jose/go-jose/v4"
)

// Apple's attestation extensions (see the DevicePropertiesAttestation key
// of the DeviceInformation command).
var (
	OIDSerialNumber  = asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 8, 9, 1}
	OIDUDID          = asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 8, 9, 2}
	OIDOSVersion     = asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 8, 10, 1}
	OIDSEPOSVersion  = asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 8, 10, 2}
	OIDFreshnessCode = asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 8, 11, 1}
)

// Root is a test attestation authority: a P-384 root and an intermediate,
// valid from an hour ago for ten years. It is safe for concurrent use.
type Root struct {
	// Certificate is the root certificate.
	Certificate *x509.Certificate
	// Intermediate is the certificate that signs attestations; it is
	// sent in x5c after the leaf.
	Intermediate *x509.Certificate
	interKey     *ecdsa.PrivateKey
}

// NewRoot makes a Root named name.
func NewRoot(name string) (*Root, error) {
	rootKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return nil, err
	}
	interKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: name + " Root CA", Organization: []string{"enrollkit test"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	root, err := sign(tmpl, tmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		return nil, err
	}
	itmpl := *tmpl
	itmpl.Subject = pkix.Name{CommonName: name + " Sub CA 1", Organization: []string{"enrollkit test"}}
	itmpl.MaxPathLenZero = true
	inter, err := sign(&itmpl, root, &interKey.PublicKey, rootKey)
	if err != nil {
		return nil, err
	}
	return &Root{Certificate: root, Intermediate: inter, interKey: interKey}, nil
}

// Pool returns a pool holding only r's root certificate, for
// acme.Config.AttestationRoots.
func (r *Root) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(r.Certificate)
	return p
}

// Options varies an attestation. The zero value is what a user-enrolled
// device sends.
type Options struct {
	// FreshnessCode replaces the SHA-256 of the token.
	FreshnessCode []byte
	// NoFreshnessCode leaves the freshness code out.
	NoFreshnessCode bool
	// SerialNumber and UDID, when set, are attested as for a device
	// enrollment; a user-enrolled device sends neither.
	SerialNumber, UDID string
	// OSVersion is the attested OS version; empty means "18.1".
	OSVersion string
	// Format replaces "apple" as the attestation format.
	Format string
	// NotBefore and NotAfter replace the leaf's validity (from a minute
	// ago for a day).
	NotBefore, NotAfter time.Time
}

// Attest returns the attestation object, CBOR, a user-enrolled device
// sends for the challenge token to attest key.
func (r *Root) Attest(token string, key crypto.PublicKey) ([]byte, error) {
	return r.AttestWith(token, key, Options{})
}

// AttestWith is Attest varied by o.
func (r *Root) AttestWith(token string, key crypto.PublicKey, o Options) ([]byte, error) {
	code := FreshnessCode(token)
	if o.FreshnessCode != nil {
		code = o.FreshnessCode
	}
	version := o.OSVersion
	if version == "" {
		version = "18.1"
	}
	exts := []pkix.Extension{
		{Id: OIDOSVersion, Value: []byte(version)},
		{Id: OIDSEPOSVersion, Value: []byte(version)},
	}
	if !o.NoFreshnessCode {
		exts = append(exts, pkix.Extension{Id: OIDFreshnessCode, Value: code})
	}
	if o.SerialNumber != "" {
		exts = append(exts, pkix.Extension{Id: OIDSerialNumber, Value: []byte(o.SerialNumber)})
	}
	if o.UDID != "" {
		exts = append(exts, pkix.Extension{Id: OIDUDID, Value: []byte(o.UDID)})
	}
	now := time.Now()
	nb, na := o.NotBefore, o.NotAfter
	if nb.IsZero() {
		nb = now.Add(-time.Minute)
	}
	if na.IsZero() {
		na = now.Add(24 * time.Hour)
	}
	// The leaf is named by a random value, as Apple's are: nothing in
	// it identifies the device.
	leaf, err := sign(&x509.Certificate{
		Subject:         pkix.Name{CommonName: randomName()},
		NotBefore:       nb,
		NotAfter:        na,
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtraExtensions: exts,
	}, r.Intermediate, key, r.interKey)
	if err != nil {
		return nil, err
	}
	format := o.Format
	if format == "" {
		format = "apple"
	}
	return AttestationObject(format, leaf.Raw, r.Intermediate.Raw)
}

// AttestationObject encodes a WebAuthn attestation object of format fmt
// whose statement's x5c holds certs, leaf first.
func AttestationObject(format string, certs ...[]byte) ([]byte, error) {
	return cbor.Marshal(map[string]any{
		"fmt":     format,
		"attStmt": map[string]any{"x5c": certs},
	})
}

// FreshnessCode returns the freshness code an attestation for token
// carries: its SHA-256.
func FreshnessCode(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// Answer returns the device-attest-01 answer payload carrying attObj:
// {"attObj": base64url(attObj)}.
func Answer(attObj []byte) []byte {
	return []byte(`{"attObj":"` + base64.RawURLEncoding.EncodeToString(attObj) + `"}`)
}

// Request returns the body of an ACME POST to url: the flattened JWS of
// payload signed by key with ES256 and nonce, naming the account kid, or
// carrying key's JWK when kid is empty (newAccount). An empty payload is
// sent as "", a POST-as-GET.
func Request(key *ecdsa.PrivateKey, kid, url, nonce string, payload []byte) ([]byte, error) {
	opts := (&jose.SignerOptions{}).WithHeader("nonce", nonce).WithHeader("url", url)
	if kid == "" {
		opts.EmbedJWK = true
	} else {
		opts = opts.WithHeader("kid", kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, opts)
	if err != nil {
		return nil, fmt.Errorf("acmetest: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return nil, fmt.Errorf("acmetest: %w", err)
	}
	body := []byte(jws.FullSerialize())
	if len(payload) == 0 {
		// go-jose leaves an empty payload out; RFC 8555's POST-as-GET
		// sends it as "".
		body = append([]byte(`{"payload":"",`), body[1:]...)
	}
	return body, nil
}

func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		return nil, fmt.Errorf("acmetest: %w", err)
	}
	return x509.ParseCertificate(der)
}

func randomName() string {
	var b [16]byte
	rand.Read(b[:])
	return fmt.Sprintf("%x", b)
}
