package acme

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	_ "embed"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// The extensions of Apple's attestation leaf certificate this package
// reads, from the DevicePropertiesAttestation documentation of the
// DeviceInformation command. Apple omits the serial number
// (1.2.840.113635.100.8.9.1) and the UDID (1.2.840.113635.100.8.9.2)
// under User Enrollment; this package never reads them, whatever the
// enrollment.
var oidAppleFreshnessCode = asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 8, 11, 1}

// AppleRootSHA256 is the SHA-256 fingerprint (hex) of Apple's Enterprise
// Attestation Root CA (CN=Apple Enterprise Attestation Root CA, O=Apple
// Inc., C=US, P-384, valid 2022-02-16 to 2047-02-20), as Apple publishes
// it at https://www.apple.com/certificateauthority/private/.
const AppleRootSHA256 = "ccf59ef8fcb3017d97f8b5fa6fa90e7a3f9283f76b55ac6cf6eda8b8b949f05b"

//go:embed apple-enterprise-attestation-root-ca.pem
var appleRootPEM []byte

// AppleEnterpriseAttestationRoot returns Apple's Enterprise Attestation
// Root CA, the root every Managed Device Attestation chains to and the
// default of Config.AttestationRoots. The embedded certificate is checked
// against AppleRootSHA256.
var AppleEnterpriseAttestationRoot = sync.OnceValue(func() *x509.Certificate {
	cert, err := parsePEMCertificate(appleRootPEM)
	if err != nil {
		panic("acme: embedded Apple root: " + err.Error())
	}
	if sum := sha256.Sum256(cert.Raw); hex.EncodeToString(sum[:]) != AppleRootSHA256 {
		panic("acme: embedded Apple root does not match its fingerprint")
	}
	return cert
})

// Limits on an attestation object: Apple's holds a leaf and one
// intermediate, about 2 KiB.
const (
	maxAttObjBytes = 32 << 10
	maxChainLen    = 4
)

// attestationObject is the WebAuthn attestation object of a
// device-attest-01 answer. authData is decoded only to be ignored: the
// draft says it has no meaning here.
type attestationObject struct {
	Fmt     string `cbor:"fmt"`
	AttStmt struct {
		X5C [][]byte `cbor:"x5c"`
	} `cbor:"attStmt"`
	AuthData []byte `cbor:"authData"`
}

// cborDecoder refuses what an attestation object never needs: nesting
// deeper than 4, more than 16 items in an array or map, indefinite
// lengths, tags and duplicate keys. With the size bound, decoding costs
// little whatever the input.
var cborDecoder = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  4,
		MaxArrayElements: 16,
		MaxMapPairs:      16,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}()

// errAttestation prefixes the reasons an attestation is refused; the
// reason is sent to the device as the problem's detail.
var errAttestation = errors.New("attestation")

// parseAttestationObject decodes a device-attest-01 attestation object
// in Apple's format and parses its certificates, leaf first.
func parseAttestationObject(b []byte) ([]*x509.Certificate, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: missing", errAttestation)
	}
	if len(b) > maxAttObjBytes {
		return nil, fmt.Errorf("%w: over %d bytes", errAttestation, maxAttObjBytes)
	}
	var obj attestationObject
	if err := cborDecoder.Unmarshal(b, &obj); err != nil {
		return nil, fmt.Errorf("%w: not an attestation object: %v", errAttestation, err)
	}
	if obj.Fmt != "apple" {
		return nil, fmt.Errorf("%w: format %q is not served (only \"apple\")", errAttestation, obj.Fmt)
	}
	x5c := obj.AttStmt.X5C
	if len(x5c) == 0 || len(x5c) > maxChainLen {
		return nil, fmt.Errorf("%w: x5c holds %d certificates, 1 to %d are needed", errAttestation, len(x5c), maxChainLen)
	}
	certs := make([]*x509.Certificate, len(x5c))
	for i, der := range x5c {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("%w: x5c[%d]: %v", errAttestation, i, err)
		}
		certs[i] = c
	}
	return certs, nil
}

// verifyAttestation checks an attestation object answering the
// device-attest-01 challenge whose token is token: its chain leads to one
// of roots at now, its leaf is a Secure Enclave key (ECDSA P-256 or
// P-384), and its freshness code is the SHA-256 of token. It returns the
// attested public key, PKIX DER.
func verifyAttestation(attObj []byte, token string, roots *x509.CertPool, now time.Time) ([]byte, error) {
	certs, err := parseAttestationObject(attObj)
	if err != nil {
		return nil, err
	}
	leaf := certs[0]
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return nil, fmt.Errorf("%w: chain: %v", errAttestation, err)
	}
	key, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || (key.Curve != elliptic.P256() && key.Curve != elliptic.P384()) {
		return nil, fmt.Errorf("%w: the attested key is not a Secure Enclave key (ECDSA P-256 or P-384)", errAttestation)
	}
	var code []byte
	for _, ext := range leaf.Extensions {
		if ext.Id.Equal(oidAppleFreshnessCode) {
			code = ext.Value
		}
	}
	if code == nil {
		return nil, fmt.Errorf("%w: no freshness code", errAttestation)
	}
	want := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(code, want[:]) != 1 {
		return nil, fmt.Errorf("%w: the freshness code is not this challenge's", errAttestation)
	}
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		return nil, fmt.Errorf("%w: attested key: %v", errAttestation, err)
	}
	return der, nil
}
