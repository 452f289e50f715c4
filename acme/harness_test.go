package acme_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/acme"
	"github.com/enrollkit/enrollkit/acme/acmetest"
	"github.com/enrollkit/enrollkit/internal/challengefake"
	"github.com/enrollkit/enrollkit/internal/testenv"
	"github.com/enrollkit/enrollkit/scep"
)

var _ acme.Issuer = (*scep.CA)(nil)

// countingIssuer counts the certificates it issues.
type countingIssuer struct {
	ca *scep.CA
	n  atomic.Int64
}

func (c *countingIssuer) Issue(ctx context.Context, csr *x509.CertificateRequest) (*x509.Certificate, error) {
	c.n.Add(1)
	return c.ca.Issue(ctx, csr)
}

// Made once for all tests: RSA key generation is slow under the race
// detector.
var (
	testCA   = sync.OnceValues(func() (*scep.CA, error) { return scep.GenerateCA("Test Device CA") })
	testRoot = sync.OnceValues(func() (*acmetest.Root, error) { return acmetest.NewRoot("Test Attestation") })
)

// Identifiers of the fake enrollments.
const (
	idA = "client-identifier-of-enrollment-A"
	idB = "client-identifier-of-enrollment-B"
)

// env is a Handler behind an httptest server, with a clock tests move.
type env struct {
	t      testing.TB
	srv    *httptest.Server
	h      *acme.Handler
	fake   *challengefake.Enrollments
	issuer *countingIssuer
	root   *acmetest.Root
	base   string
	clock  *testenv.Clock
}

func newEnv(t testing.TB, mod func(*acme.Config)) *env {
	t.Helper()
	return newEnvIDs(t, map[string]string{idA: "enrollment-A", idB: "enrollment-B"}, mod)
}

// newEnvIDs is newEnv with the identifiers ids (identifier → enrollment).
func newEnvIDs(t testing.TB, ids map[string]string, mod func(*acme.Config)) *env {
	t.Helper()
	ca, err := testCA()
	if err != nil {
		t.Fatal(err)
	}
	root, err := testRoot()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, fake: challengefake.New("acme", ids), issuer: &countingIssuer{ca: ca}, root: root, clock: testenv.NewClock(time.Now())}
	mux := http.NewServeMux()
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	e.base = e.srv.URL + "/acme"
	cfg := acme.Config{
		BaseURL:          e.base,
		AttestationRoots: root.Pool(),
		Chain:            []*x509.Certificate{ca.Certificate},
		Now:              e.clock.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	e.h, err = acme.NewHandler(e.fake, e.issuer, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/acme/", e.h)
	return e
}

// nothingIssued fails t if a certificate was issued or recorded.
func (e *env) nothingIssued(t testing.TB) {
	t.Helper()
	if _, rec := e.fake.Counts(); rec != 0 || e.issuer.n.Load() != 0 {
		t.Errorf("issued %d, recorded %d certificates; want none", e.issuer.n.Load(), rec)
	}
}

// device is an ACME client as an Apple device is one: an account key and
// a Secure Enclave key, simulated.
type device struct {
	e          *env
	accountKey *ecdsa.PrivateKey
	seKey      *ecdsa.PrivateKey
	kid        string
}

func newDevice(t testing.TB, e *env) *device {
	t.Helper()
	ak, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &device{e: e, accountKey: ak, seKey: sk}
}

func (d *device) nonce(t testing.TB) string {
	t.Helper()
	resp, err := d.e.srv.Client().Head(d.e.base + "/new-nonce")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	n := resp.Header.Get("Replay-Nonce")
	if n == "" {
		t.Fatal("no Replay-Nonce")
	}
	return n
}

// twist varies a request away from what a well-behaved client sends.
type twist struct {
	nonce       string            // the nonce to send instead of a fresh one
	url         string            // the url header instead of the URL posted to
	signWith    *ecdsa.PrivateKey // sign with this key instead (same kid)
	embedJWK    bool              // name the key by jwk instead of kid
	contentType string
}

// response is a decoded answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// problemType returns the problem type of r, or "" if r is no problem.
func (r response) problemType() string {
	var p struct{ Type string }
	if r.header.Get("Content-Type") != "application/problem+json" || json.Unmarshal(r.body, &p) != nil {
		return ""
	}
	return p.Type
}

func (d *device) post(t testing.TB, url string, payload []byte) response {
	t.Helper()
	return d.postTwisted(t, url, payload, twist{})
}

func (d *device) postTwisted(t testing.TB, url string, payload []byte, tw twist) response {
	t.Helper()
	return d.e.raw(t, url, d.sign(t, url, payload, tw), tw.contentType)
}

// sign returns the flattened JWS a client POSTs to url.
func (d *device) sign(t testing.TB, url string, payload []byte, tw twist) []byte {
	t.Helper()
	nonce := tw.nonce
	if nonce == "" {
		nonce = d.nonce(t)
	}
	hdrURL := url
	if tw.url != "" {
		hdrURL = tw.url
	}
	key := d.accountKey
	if tw.signWith != nil {
		key = tw.signWith
	}
	kid := d.kid
	if tw.embedJWK {
		kid = ""
	}
	body, err := acmetest.Request(key, kid, hdrURL, nonce, payload)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// raw POSTs body as it is.
func (e *env) raw(t testing.TB, url string, body []byte, contentType string) response {
	t.Helper()
	if contentType == "" {
		contentType = "application/jose+json"
	}
	resp, err := e.srv.Client().Post(url, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (d *device) register(t testing.TB) {
	t.Helper()
	r := d.post(t, d.e.base+"/new-account", []byte(`{"termsOfServiceAgreed":true}`))
	if r.status != http.StatusCreated {
		t.Fatalf("new-account: %d %s", r.status, r.body)
	}
	d.kid = r.header.Get("Location")
}

// order is what a device learns from newOrder and the authorization.
type order struct {
	url, authz, challenge, finalize, token string
}

func (d *device) newOrder(t testing.TB, identifier string) (order, response) {
	t.Helper()
	r := d.post(t, d.e.base+"/new-order", []byte(`{"identifiers":[{"type":"permanent-identifier","value":`+quote(identifier)+`}]}`))
	if r.status != http.StatusCreated {
		return order{}, r
	}
	var o struct {
		Authorizations []string
		Finalize       string
	}
	mustJSON(t, r.body, &o)
	a := d.post(t, o.Authorizations[0], nil)
	if a.status != http.StatusOK {
		t.Fatalf("authz: %d %s", a.status, a.body)
	}
	var az struct {
		Challenges []struct{ Type, URL, Token string }
	}
	mustJSON(t, a.body, &az)
	if len(az.Challenges) != 1 || az.Challenges[0].Type != "device-attest-01" {
		t.Fatalf("challenges: %s", a.body)
	}
	return order{url: r.header.Get("Location"), authz: o.Authorizations[0], challenge: az.Challenges[0].URL, finalize: o.Finalize, token: az.Challenges[0].Token}, r
}

func (d *device) mustOrder(t testing.TB, identifier string) order {
	t.Helper()
	o, r := d.newOrder(t, identifier)
	if o.url == "" {
		t.Fatalf("new-order: %d %s", r.status, r.body)
	}
	return o
}

func (d *device) attest(t testing.TB, token string) []byte {
	t.Helper()
	att, err := d.e.root.Attest(token, &d.seKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return att
}

func (d *device) answer(t testing.TB, o order, attObj []byte) response {
	t.Helper()
	return d.post(t, o.challenge, acmetest.Answer(attObj))
}

func (d *device) csr(t testing.TB, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "device"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func (d *device) finalize(t testing.TB, o order, csr []byte) response {
	t.Helper()
	return d.post(t, o.finalize, []byte(`{"csr":"`+base64.RawURLEncoding.EncodeToString(csr)+`"}`))
}

func mustJSON(t testing.TB, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func jsonDecode(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }

// nextAccountKey returns a new P-256 account key: each device has its own
// account.
func nextAccountKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// firstPEM returns the DER of the first PEM block of b.
func firstPEM(t testing.TB, b []byte) []byte {
	t.Helper()
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("no PEM in %q", b)
	}
	return block.Bytes
}
