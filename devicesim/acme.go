package devicesim

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/enrollkit/enrollkit/profile"
)

// ErrACME is matched by ACMEError: the ACME server refused a request or
// answered something the device could not use.
var ErrACME = errors.New("devicesim: ACME enrollment failed")

// ErrNoAttestationRoot means an ACME payload asks for an attestation and
// Options.AttestationRoot is nil: the simulated device has no Apple to
// attest its key.
var ErrNoAttestationRoot = errors.New("devicesim: ACME payload asks for attestation and Options.AttestationRoot is nil")

// ACMEError is a refusal by the ACME server: its RFC 8555 problem document.
type ACMEError struct {
	// Op names the request ("newOrder", "device-attest-01", "finalize", …).
	Op string
	// StatusCode is the HTTP status.
	StatusCode int
	// Type is the problem type, such as
	// "urn:ietf:params:acme:error:badAttestationStatement"; Detail its
	// explanation.
	Type   string
	Detail string
}

// Error describes the refusal.
func (e *ACMEError) Error() string {
	return fmt.Sprintf("devicesim: ACME %s: %d %s: %s", e.Op, e.StatusCode, e.Type, e.Detail)
}

// Unwrap returns ErrACME.
func (e *ACMEError) Unwrap() error { return ErrACME }

// Attester attests a Secure Enclave key for an ACME device-attest-01
// challenge, as Apple's attestation service does for a real device:
// *acmetest.Root is one.
type Attester interface {
	// Attest returns the WebAuthn attestation object (CBOR) for the
	// challenge token and key.
	Attest(token string, key crypto.PublicKey) ([]byte, error)
}

// maxACMEBody bounds an ACME server's answer; a certificate chain is a few
// KiB.
const maxACMEBody = 256 << 10

// maxACMEPolls bounds how often the device polls an order that is
// processing.
const maxACMEPolls = 10

// supportsACME reports whether the device's release knows the ACME payload
// (iOS and iPadOS 16, macOS 13.1), and whether it can put the key in the
// Secure Enclave and attest it (iOS and iPadOS 16, macOS 14).
func (d *Device) supportsACME() (payload, attest bool) {
	v, ok := versionAfterDot(d.opts.OSVersion)
	if !ok {
		return true, true
	}
	if d.IsMac() {
		return v[0] > 13 || v[0] == 13 && v[1] >= 1, v[0] >= 14
	}
	return v[0] >= 16, v[0] >= 16
}

// versionAfterDot parses "major.minor[.patch]".
func versionAfterDot(s string) ([2]int, bool) {
	var v [2]int
	major, rest, _ := strings.Cut(s, ".")
	minor, _, _ := strings.Cut(rest, ".")
	if _, err := fmt.Sscanf(major, "%d", &v[0]); err != nil {
		return v, false
	}
	if minor != "" {
		fmt.Sscanf(minor, "%d", &v[1])
	}
	return v, true
}

// checkACME refuses an ACME payload as the device's release would.
func (d *Device) checkACME(p *profile.ACME) error {
	payload, attest := d.supportsACME()
	switch {
	case !payload:
		return &ProfileError{Reason: fmt.Sprintf("this release (%s) does not know the %s payload (iOS 16, macOS 13.1)", d.opts.OSVersion, profile.TypeACME)}
	case (p.HardwareBound || p.Attest) && !attest:
		return &ProfileError{Reason: fmt.Sprintf("HardwareBound and Attest must be false before macOS 14 (this is %s)", d.opts.OSVersion)}
	case p.HardwareBound && (p.KeyType != profile.KeyTypeEC || (p.KeySize != 256 && p.KeySize != 384)):
		return &ProfileError{Reason: "a hardware-bound key is ECSECPrimeRandom 256 or 384"}
	case p.Attest && !p.HardwareBound:
		return &ProfileError{Reason: "Attest requires HardwareBound"}
	case !p.Attest:
		return &ProfileError{Reason: "ACME without Attest is not simulated (the device answers device-attest-01 only)"}
	}
	return nil
}

// acmeAccountKey is the ACME account key of the profile last installed,
// made on first use or anew when fresh is set: Install starts every
// profile with a new account, and EnrollACME called afterwards orders
// with it.
func (d *Device) acmeAccountKey(fresh bool) (*ecdsa.PrivateKey, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.acmeKey == nil || fresh {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		d.acmeKey = key
	}
	return d.acmeKey, nil
}

// EnrollACME obtains an identity from the ACME payload p as an attesting
// device does, and returns the certificate and its Secure Enclave key
// (simulated: an ECDSA key of p's KeySize). It fetches the directory and
// a nonce, creates (or finds) the device's account, orders a certificate
// for the permanent-identifier p.ClientIdentifier, reads the
// authorization, answers its device-attest-01 challenge with an
// attestation of the key for the challenge token made by
// Options.AttestationRoot, finalizes with a CSR of the key for p.Subject,
// polls the order and downloads the certificate chain, whose leaf must
// certify the key. Install calls it for a profile whose identity is ACME,
// with a new account for every profile; called on its own, it orders with
// the account of the profile last installed, which is how tests replay a
// payload or order another enrollment's identifier. Refusals by the server
// are *ACMEError.
func (d *Device) EnrollACME(ctx context.Context, p *profile.ACME) (*x509.Certificate, crypto.Signer, error) {
	return d.enrollACME(ctx, p, false)
}

// enrollACME is EnrollACME, with a new account if newAccount is set.
func (d *Device) enrollACME(ctx context.Context, p *profile.ACME, newAccount bool) (*x509.Certificate, crypto.Signer, error) {
	return d.orderACME(ctx, p, func() (*ecdsa.PrivateKey, error) { return d.acmeAccountKey(newAccount) })
}

// orderACME obtains a certificate for an attested Secure Enclave key as p
// asks, with the ACME account whose key account returns: the one client
// of the identity payload and of declarative management's ACME
// credentials.
func (d *Device) orderACME(ctx context.Context, p *profile.ACME, account func() (*ecdsa.PrivateKey, error)) (*x509.Certificate, crypto.Signer, error) {
	if err := d.checkACME(p); err != nil {
		return nil, nil, err
	}
	if d.opts.AttestationRoot == nil {
		return nil, nil, ErrNoAttestationRoot
	}
	curve := elliptic.P256()
	if p.KeySize == 384 {
		curve = elliptic.P384()
	}
	key, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("devicesim: Secure Enclave key: %w", err)
	}
	accountKey, err := account()
	if err != nil {
		return nil, nil, fmt.Errorf("devicesim: ACME account key: %w", err)
	}
	c := &acmeClient{d: d, key: accountKey}
	var dir struct {
		NewNonce   string `json:"newNonce"`
		NewAccount string `json:"newAccount"`
		NewOrder   string `json:"newOrder"`
	}
	if _, err := c.do(ctx, "directory", http.MethodGet, p.DirectoryURL, nil, &dir); err != nil {
		return nil, nil, err
	}
	if dir.NewNonce == "" || dir.NewAccount == "" || dir.NewOrder == "" {
		return nil, nil, fmt.Errorf("devicesim: ACME directory lacks newNonce, newAccount or newOrder")
	}
	c.newNonce = dir.NewNonce
	resp, err := c.post(ctx, "newAccount", dir.NewAccount, map[string]any{"termsOfServiceAgreed": true}, nil)
	if err != nil {
		return nil, nil, err
	}
	if c.kid = resp.Header.Get("Location"); c.kid == "" {
		return nil, nil, fmt.Errorf("devicesim: ACME newAccount: no Location")
	}
	var order acmeOrder
	resp, err = c.post(ctx, "newOrder", dir.NewOrder, map[string]any{
		"identifiers": []map[string]string{{"type": "permanent-identifier", "value": p.ClientIdentifier}},
	}, &order)
	if err != nil {
		return nil, nil, err
	}
	orderURL := resp.Header.Get("Location")
	if orderURL == "" || len(order.Authorizations) != 1 || order.Finalize == "" {
		return nil, nil, fmt.Errorf("devicesim: ACME newOrder: want a Location, one authorization and a finalize URL")
	}
	var authz struct {
		Status     string `json:"status"`
		Challenges []struct {
			Type  string `json:"type"`
			URL   string `json:"url"`
			Token string `json:"token"`
		} `json:"challenges"`
	}
	if _, err := c.post(ctx, "authorization", order.Authorizations[0], nil, &authz); err != nil {
		return nil, nil, err
	}
	var challURL, token string
	for _, ch := range authz.Challenges {
		if ch.Type == "device-attest-01" {
			challURL, token = ch.URL, ch.Token
		}
	}
	if challURL == "" || token == "" {
		return nil, nil, fmt.Errorf("devicesim: ACME authorization offers no device-attest-01 challenge")
	}
	attObj, err := d.opts.AttestationRoot.Attest(token, key.Public())
	if err != nil {
		return nil, nil, fmt.Errorf("devicesim: attestation: %w", err)
	}
	if _, err := c.post(ctx, "device-attest-01", challURL, map[string]string{"attObj": base64.RawURLEncoding.EncodeToString(attObj)}, nil); err != nil {
		return nil, nil, err
	}
	subject, err := subjectName(subjectPairs(p.Subject))
	if err != nil {
		return nil, nil, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: subject}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("devicesim: ACME CSR: %w", err)
	}
	if _, err := c.post(ctx, "finalize", order.Finalize, map[string]string{"csr": base64.RawURLEncoding.EncodeToString(csr)}, &order); err != nil {
		return nil, nil, err
	}
	for i := 0; order.Status == "processing" || order.Status == "ready" || order.Status == "pending"; i++ {
		if i >= maxACMEPolls {
			return nil, nil, fmt.Errorf("devicesim: ACME order still %s after %d polls", order.Status, i)
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(time.Duration(i) * 100 * time.Millisecond):
		}
		if _, err := c.post(ctx, "order", orderURL, nil, &order); err != nil {
			return nil, nil, err
		}
	}
	if order.Status != "valid" || order.Certificate == "" {
		return nil, nil, fmt.Errorf("devicesim: ACME order is %s, not valid", order.Status)
	}
	resp, err = c.post(ctx, "certificate", order.Certificate, nil, nil)
	if err != nil {
		return nil, nil, err
	}
	cert, err := leafOf(c.body)
	if err != nil {
		return nil, nil, fmt.Errorf("devicesim: ACME certificate: %w", err)
	}
	if pub, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return nil, nil, fmt.Errorf("devicesim: ACME issued a certificate for another key")
	}
	d.log.InfoContext(ctx, "devicesim: ACME identity issued", "subject", cert.Subject.String(), "issuer", cert.Issuer.String())
	return cert, key, nil
}

// acmeOrder is the part of an RFC 8555 order the device reads.
type acmeOrder struct {
	Status         string   `json:"status"`
	Authorizations []string `json:"authorizations"`
	Finalize       string   `json:"finalize"`
	Certificate    string   `json:"certificate"`
}

// leafOf parses the first certificate of a PEM chain.
func leafOf(chain []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(chain)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM certificate chain")
	}
	return x509.ParseCertificate(block.Bytes)
}

// acmeClient signs the device's ACME requests with its account key.
type acmeClient struct {
	d        *Device
	key      *ecdsa.PrivateKey
	kid      string // the account URL, once known
	newNonce string
	nonce    string // the last Replay-Nonce received
	body     []byte // the last response body
}

// post sends payload (nil: POST-as-GET) to u as a flattened JWS signed
// with the account key (the jwk for newAccount, the kid afterwards) and
// decodes the JSON answer into out, if not nil. A badNonce refusal is
// retried once with the nonce it carries, as RFC 8555 asks.
func (c *acmeClient) post(ctx context.Context, op, u string, payload, out any) (*http.Response, error) {
	body := []byte{} // POST-as-GET: an empty payload, which must be present
	if payload != nil {
		var err error
		if body, err = json.Marshal(payload); err != nil {
			return nil, err
		}
	}
	for attempt := 0; ; attempt++ {
		if c.nonce == "" {
			resp, err := c.do(ctx, "newNonce", http.MethodHead, c.newNonce, nil, nil)
			if err != nil {
				return nil, err
			}
			if c.nonce == "" {
				return nil, fmt.Errorf("devicesim: ACME newNonce: no Replay-Nonce (status %d)", resp.StatusCode)
			}
		}
		jws, err := c.sign(u, body)
		if err != nil {
			return nil, fmt.Errorf("devicesim: ACME %s: signing: %w", op, err)
		}
		resp, err := c.do(ctx, op, http.MethodPost, u, jws, out)
		var ae *ACMEError
		if attempt == 0 && errors.As(err, &ae) && ae.Type == "urn:ietf:params:acme:error:badNonce" {
			continue
		}
		return resp, err
	}
}

// sign makes the flattened JWS of a request to u.
func (c *acmeClient) sign(u string, payload []byte) ([]byte, error) {
	alg := jose.ES256
	jwk := jose.JSONWebKey{Key: c.key, KeyID: c.kid}
	opts := (&jose.SignerOptions{EmbedJWK: c.kid == ""}).WithHeader("url", u).WithHeader("nonce", c.nonce)
	c.nonce = ""
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jwk}, opts)
	if err != nil {
		return nil, err
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return nil, err
	}
	return []byte(obj.FullSerialize()), nil
}

// do sends one request, keeps its Replay-Nonce and body, turns a problem
// document into an *ACMEError, and decodes a JSON answer into out.
func (c *acmeClient) do(ctx context.Context, op, method, u string, body []byte, out any) (*http.Response, error) {
	resp, err := c.d.systemDo(ctx, method, u, "application/jose+json", body)
	if err != nil {
		return nil, fmt.Errorf("devicesim: ACME %s: %w", op, err)
	}
	defer resp.Body.Close()
	if n := resp.Header.Get("Replay-Nonce"); n != "" {
		c.nonce = n
	}
	if c.body, err = readLimited(resp.Body, maxACMEBody); err != nil {
		return nil, fmt.Errorf("devicesim: ACME %s: %w", op, err)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode >= 400 {
		e := &ACMEError{Op: op, StatusCode: resp.StatusCode}
		if mt == "application/problem+json" {
			var prob struct {
				Type   string `json:"type"`
				Detail string `json:"detail"`
			}
			if json.Unmarshal(c.body, &prob) == nil {
				e.Type, e.Detail = prob.Type, prob.Detail
			}
		}
		return nil, e
	}
	if out != nil {
		if mt != "application/json" {
			return nil, fmt.Errorf("devicesim: ACME %s: answer is %q, not JSON", op, mt)
		}
		if err := json.Unmarshal(c.body, out); err != nil {
			return nil, fmt.Errorf("devicesim: ACME %s: %w", op, err)
		}
	}
	return resp, nil
}
