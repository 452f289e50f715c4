package acmetest

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
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/acme"
	"github.com/enrollkit/enrollkit/internal/challengefake"
)

// NewReplicas returns, for one subtest, the stores of two replicas that
// share one database. Each must keep nonces too (implement acme.Nonces):
// a Handler whose Config.Nonces is nil takes its store's. It may register
// cleanup with t.Cleanup.
type NewReplicas func(t *testing.T) (a, b acme.Store)

// RunReplicas is the suite for an acme.Store that replicas behind a load
// balancer share. It runs two Handlers, one on each store newPair
// returns, with the same BaseURL, and a device whose requests go to one
// replica after the other: its account, order, attested challenge
// answer, finalize and certificate download all succeed, each request
// spending the nonce the other replica answered with; a nonce is
// accepted once across both replicas; two replicas making the account of
// one key at once make one account; and of finalizes of one order racing
// on both replicas exactly one issues a certificate.
func RunReplicas(t *testing.T, newPair NewReplicas) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, c *cluster)
	}{
		{"AlternatingIssuance", testAlternatingIssuance},
		{"NonceOnceAcrossReplicas", testNonceAcrossReplicas},
		{"ConcurrentNewAccount", testConcurrentNewAccount},
		{"ConcurrentFinalizeOneCertificate", testConcurrentFinalize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := newPair(t)
			tt.fn(t, newCluster(t, replicaIDs, a, b))
		})
	}
}

// replicaBase is the BaseURL both replicas serve, as behind one load
// balancer.
const replicaBase = "https://acme.test/acme"

// The identifiers the suite's fake enrollments accept, each once.
var replicaIDs = identifiers(16)

// identifiers returns n identifiers for a cluster's fake enrollments:
// "replica-identifier-i" of enrollment i.
func identifiers(n int) map[string]string {
	m := make(map[string]string, n)
	for i := range n {
		m[fmt.Sprint("replica-identifier-", i)] = fmt.Sprint("enrollment-", i)
	}
	return m
}

// cluster is two replicas, the enrollments they redeem identifiers with
// (one service, as replicas share their enroll database) and the CA they
// issue with.
type cluster struct {
	replicas [2]*acme.Handler
	fake     *challengefake.Enrollments
	issuer   *countingIssuer
	root     *Root
}

var replicaRoot = sync.OnceValues(func() (*Root, error) { return NewRoot("Replica Attestation") })

func newCluster(t testing.TB, ids map[string]string, stores ...acme.Store) *cluster {
	t.Helper()
	root, err := replicaRoot()
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{fake: challengefake.New("acme", ids), issuer: &countingIssuer{root: root}, root: root}
	for i, s := range stores {
		if _, ok := s.(acme.Nonces); !ok {
			t.Fatalf("the store %T keeps no nonces: replicas would refuse each other's", s)
		}
		h, err := acme.NewHandler(c.fake, c.issuer, acme.Config{BaseURL: replicaBase, AttestationRoots: root.Pool(), Store: s})
		if err != nil {
			t.Fatal(err)
		}
		c.replicas[i] = h
	}
	return c
}

// countingIssuer issues with the root's intermediate and counts.
type countingIssuer struct {
	root *Root
	n    atomic.Int64
}

func (i *countingIssuer) Issue(_ context.Context, csr *x509.CertificateRequest) (*x509.Certificate, error) {
	i.n.Add(1)
	now := time.Now()
	return sign(&x509.Certificate{
		Subject:     csr.Subject,
		NotBefore:   now.Add(-time.Minute),
		NotAfter:    now.Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, i.root.Intermediate, csr.PublicKey, i.root.interKey)
}

// device is an ACME client with an account key and a Secure Enclave key.
// It spends the nonce of each answer on its next request, as clients do.
type device struct {
	c          *cluster
	accountKey *ecdsa.PrivateKey
	seKey      *ecdsa.PrivateKey
	kid        string
	nonce      string
}

func (c *cluster) newDevice(t testing.TB) *device {
	t.Helper()
	ak, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &device{c: c, accountKey: ak, seKey: sk}
}

// serve sends a request to replica i and keeps the nonce of its answer.
func (d *device) serve(i int, method, url string, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, url, bytes.NewReader(body))
	if body != nil {
		r.Header.Set("Content-Type", "application/jose+json")
	}
	w := httptest.NewRecorder()
	d.c.replicas[i].ServeHTTP(w, r)
	if n := w.Header().Get("Replay-Nonce"); n != "" {
		d.nonce = n
	}
	return w
}

// freshNonce returns a nonce from replica i's newNonce.
func (d *device) freshNonce(t testing.TB, i int) string {
	t.Helper()
	w := d.serve(i, http.MethodHead, replicaBase+"/new-nonce", nil)
	if w.Code != http.StatusOK || d.nonce == "" {
		t.Fatalf("replica %d: new-nonce: %d", i, w.Code)
	}
	n := d.nonce
	d.nonce = ""
	return n
}

// signed returns the JWS of payload for url with nonce.
func (d *device) signed(t testing.TB, url, nonce string, payload []byte) []byte {
	t.Helper()
	body, err := Request(d.accountKey, d.kid, url, nonce, payload)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// race posts bodies[i] to url on replica i, at once.
func (c *cluster) race(url string, bodies [2][]byte) [2]*httptest.ResponseRecorder {
	var wg sync.WaitGroup
	var ws [2]*httptest.ResponseRecorder
	for i := range 2 {
		wg.Go(func() {
			r := httptest.NewRequest(http.MethodPost, url, bytes.NewReader(bodies[i]))
			r.Header.Set("Content-Type", "application/jose+json")
			ws[i] = httptest.NewRecorder()
			c.replicas[i].ServeHTTP(ws[i], r)
		})
	}
	wg.Wait()
	return ws
}

// post signs payload with the nonce the device holds (a fresh one from
// replica i if none) and posts it to replica i.
func (d *device) post(t testing.TB, i int, url string, payload []byte) *httptest.ResponseRecorder {
	t.Helper()
	nonce := d.nonce
	if nonce == "" {
		nonce = d.freshNonce(t, i)
	}
	return d.serve(i, http.MethodPost, url, d.signed(t, url, nonce, payload))
}

// want fails t unless w has status code.
func want(t testing.TB, step string, w *httptest.ResponseRecorder, code int) {
	t.Helper()
	if w.Code != code {
		t.Fatalf("%s: %d %s, want %d", step, w.Code, w.Body, code)
	}
}

func decode(t testing.TB, w *httptest.ResponseRecorder, v any) {
	t.Helper()
	if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
		t.Fatalf("%v: %s", err, w.Body)
	}
}

// register makes the device's account on replica i.
func (d *device) register(t testing.TB, i int) {
	t.Helper()
	w := d.post(t, i, replicaBase+"/new-account", []byte(`{"termsOfServiceAgreed":true}`))
	want(t, "new-account", w, http.StatusCreated)
	d.kid = w.Header().Get("Location")
}

// orderURLs are what a device learns of an order.
type orderURLs struct{ order, authz, challenge, finalize, token string }

// ready orders identifier and answers its challenge with an attestation,
// request n going to replica (first+n)%2.
func (d *device) ready(t testing.TB, first int, identifier string) orderURLs {
	t.Helper()
	w := d.post(t, first%2, replicaBase+"/new-order",
		[]byte(`{"identifiers":[{"type":"permanent-identifier","value":"`+identifier+`"}]}`))
	want(t, "new-order", w, http.StatusCreated)
	var o struct {
		Authorizations []string
		Finalize       string
	}
	decode(t, w, &o)
	u := orderURLs{order: w.Header().Get("Location"), authz: o.Authorizations[0], finalize: o.Finalize}
	w = d.post(t, (first+1)%2, u.authz, nil)
	want(t, "authorization", w, http.StatusOK)
	var az struct{ Challenges []struct{ URL, Token string } }
	decode(t, w, &az)
	u.challenge, u.token = az.Challenges[0].URL, az.Challenges[0].Token
	att, err := d.c.root.Attest(u.token, &d.seKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	want(t, "challenge answer", d.post(t, (first+2)%2, u.challenge, Answer(att)), http.StatusOK)
	w = d.post(t, (first+3)%2, u.order, nil)
	want(t, "order", w, http.StatusOK)
	var st struct{ Status string }
	if decode(t, w, &st); st.Status != acme.StatusReady {
		t.Fatalf("order after the answer: %s, want ready", w.Body)
	}
	return u
}

// finalizeBody returns the finalize payload with a CSR of the attested key.
func (d *device) finalizeBody(t testing.TB) []byte {
	t.Helper()
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "device"}}, d.seKey)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(`{"csr":"` + base64.RawURLEncoding.EncodeToString(csr) + `"}`)
}

func testAlternatingIssuance(t *testing.T, c *cluster) {
	d := c.newDevice(t)
	cert := d.issue(t, 0)
	if !d.seKey.PublicKey.Equal(cert.PublicKey) {
		t.Error("the certificate is not for the attested key")
	}
	if used, rec := c.fake.Counts(); used != 1 || rec != 1 || c.issuer.n.Load() != 1 {
		t.Errorf("%d redeemed, %d recorded, %d issued; want 1 each", used, rec, c.issuer.n.Load())
	}
}

// issue takes the device from its first nonce to its certificate for
// identifier k, its requests going to one replica after the other.
func (d *device) issue(t testing.TB, k int) *x509.Certificate {
	t.Helper()
	d.nonce = d.freshNonce(t, 1)
	d.register(t, 0)
	u := d.ready(t, 1, fmt.Sprint("replica-identifier-", k))
	w := d.post(t, 1, u.finalize, d.finalizeBody(t))
	want(t, "finalize", w, http.StatusOK)
	var fin struct{ Status, Certificate string }
	if decode(t, w, &fin); fin.Status != acme.StatusValid || fin.Certificate == "" {
		t.Fatalf("finalize: %s", w.Body)
	}
	w = d.post(t, 0, fin.Certificate, nil)
	want(t, "certificate", w, http.StatusOK)
	block, _ := pem.Decode(w.Body.Bytes())
	if block == nil {
		t.Fatalf("certificate: no PEM in %q", w.Body)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("certificate: %v", err)
	}
	return cert
}

// BenchmarkIssuance measures one attested issuance through two Handlers,
// one on each store, as replicas behind a load balancer: a new device's
// account, order, authorization, attested challenge answer (the
// attestation made during the run), order, finalize and certificate
// download, its requests going to one replica after the other, each
// spending the nonce of the answer before it. Give the same store twice
// for one server.
func BenchmarkIssuance(b *testing.B, x, y acme.Store) {
	c := newCluster(b, identifiers(b.N), x, y)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		c.newDevice(b).issue(b, i)
	}
}

func testNonceAcrossReplicas(t *testing.T, c *cluster) {
	d := c.newDevice(t)
	d.register(t, 0)
	n := d.freshNonce(t, 0)
	url := d.kid
	want(t, "a nonce of replica 0 on replica 1", d.serve(1, http.MethodPost, url, d.signed(t, url, n, nil)), http.StatusOK)
	for i := range 2 {
		w := d.serve(i, http.MethodPost, url, d.signed(t, url, n, nil))
		var p struct{ Type string }
		if decode(t, w, &p); w.Code != http.StatusBadRequest || p.Type != "urn:ietf:params:acme:error:badNonce" {
			t.Errorf("the spent nonce again on replica %d: %d %s, want badNonce", i, w.Code, w.Body)
		}
	}
}

func testConcurrentNewAccount(t *testing.T, c *cluster) {
	d := c.newDevice(t)
	nonces := [2]string{d.freshNonce(t, 0), d.freshNonce(t, 1)}
	url := replicaBase + "/new-account"
	var bodies [2][]byte
	for i := range 2 {
		bodies[i] = d.signed(t, url, nonces[i], []byte(`{"termsOfServiceAgreed":true}`))
	}
	ws := c.race(url, bodies)
	created := 0
	for i, w := range ws {
		switch w.Code {
		case http.StatusCreated:
			created++
		case http.StatusOK:
		default:
			t.Fatalf("replica %d: new-account %d %s", i, w.Code, w.Body)
		}
	}
	if created != 1 || ws[0].Header().Get("Location") != ws[1].Header().Get("Location") {
		t.Errorf("%d accounts created, at %q and %q; want one account", created,
			ws[0].Header().Get("Location"), ws[1].Header().Get("Location"))
	}
}

func testConcurrentFinalize(t *testing.T, c *cluster) {
	const rounds = 4
	for k := range rounds {
		d := c.newDevice(t)
		d.register(t, k%2)
		u := d.ready(t, k, fmt.Sprint("replica-identifier-", k))
		var bodies [2][]byte
		for i := range 2 {
			bodies[i] = d.signed(t, u.finalize, d.freshNonce(t, i), d.finalizeBody(t))
		}
		before := c.issuer.n.Load()
		ws := c.race(u.finalize, bodies)
		ok := 0
		for i, w := range ws {
			switch w.Code {
			case http.StatusOK:
				ok++
			case http.StatusForbidden:
			default:
				t.Errorf("round %d, replica %d: finalize %d %s", k, i, w.Code, w.Body)
			}
		}
		if issued := c.issuer.n.Load() - before; ok != 1 || issued != 1 {
			t.Errorf("round %d: %d finalizes succeeded, %d certificates issued; want 1 and 1", k, ok, issued)
		}
	}
	if _, rec := c.fake.Counts(); rec != rounds {
		t.Errorf("%d certificates recorded, want %d", rec, rounds)
	}
}
