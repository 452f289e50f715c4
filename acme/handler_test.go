package acme_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/acme"
	"github.com/enrollkit/enrollkit/acme/acmetest"
	"github.com/enrollkit/enrollkit/internal/challengefake"
)

const errPrefix = "urn:ietf:params:acme:error:"

// TestIssue runs the whole exchange of a user-enrolled device and checks
// what it gets: a certificate for the attested key, recorded against the
// enrollment of its identifier, that carries nothing of the device.
func TestIssue(t *testing.T) {
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384()} {
		t.Run(curve.Params().Name, func(t *testing.T) {
			e := newEnv(t, nil)
			d := newDevice(t, e)
			d.seKey, _ = ecdsa.GenerateKey(curve, rand.Reader)
			d.register(t)
			o := d.mustOrder(t, idA)
			if r := d.answer(t, o, d.attest(t, o.token)); r.status != http.StatusOK || !strings.Contains(string(r.body), `"status":"valid"`) {
				t.Fatalf("answer: %d %s", r.status, r.body)
			}
			if r := d.post(t, o.url, nil); !strings.Contains(string(r.body), `"status":"ready"`) {
				t.Fatalf("order after answer: %s", r.body)
			}
			r := d.finalize(t, o, d.csr(t, d.seKey))
			if r.status != http.StatusOK {
				t.Fatalf("finalize: %d %s", r.status, r.body)
			}
			var fin struct{ Status, Certificate string }
			mustJSON(t, r.body, &fin)
			if fin.Status != "valid" || fin.Certificate == "" {
				t.Fatalf("finalized order: %s", r.body)
			}
			c := d.post(t, fin.Certificate, nil)
			if c.status != http.StatusOK || c.header.Get("Content-Type") != "application/pem-certificate-chain" {
				t.Fatalf("certificate: %d %s", c.status, c.body)
			}
			block, rest := pem.Decode(c.body)
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if !cert.PublicKey.(*ecdsa.PublicKey).Equal(&d.seKey.PublicKey) {
				t.Error("the certificate is not for the attested key")
			}
			if next, _ := pem.Decode(rest); next == nil {
				t.Error("the chain lacks the CA certificate")
			}
			if string(e.fake.Recorded("enrollment-A")) != string(cert.Raw) {
				t.Error("the certificate was not recorded against enrollment-A")
			}
			if len(cert.DNSNames)+len(cert.URIs)+len(cert.EmailAddresses) != 0 || strings.Contains(string(cert.Raw), idA) {
				t.Error("the certificate carries names or the identifier")
			}
			ca, _ := testCA()
			if _, err := cert.Verify(x509.VerifyOptions{Roots: poolOf(ca.Certificate), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
				t.Errorf("the certificate does not verify against the CA: %v", err)
			}
		})
	}
}

func poolOf(c *x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c)
	return p
}

// TestRefusals: each way a request can be wrong is refused with its
// problem type and status, and nothing is issued or recorded.
func TestRefusals(t *testing.T) {
	otherRoot, err := acmetest.NewRoot("Another")
	if err != nil {
		t.Fatal(err)
	}
	type step func(t *testing.T, e *env, d *device) response
	// answered registers d, orders idA and answers with a good
	// attestation.
	answered := func(t *testing.T, e *env, d *device) order {
		d.register(t)
		o := d.mustOrder(t, idA)
		if r := d.answer(t, o, d.attest(t, o.token)); r.status != http.StatusOK {
			t.Fatalf("answer: %d %s", r.status, r.body)
		}
		return o
	}
	tests := []struct {
		name     string
		run      step
		status   int
		problem  string
		redeemed int // identifiers spent
	}{
		{"freshness code of another value", func(t *testing.T, e *env, d *device) response {
			d.register(t)
			o := d.mustOrder(t, idA)
			att, _ := e.root.AttestWith(o.token, &d.seKey.PublicKey, acmetest.Options{FreshnessCode: acmetest.FreshnessCode("another token")})
			return d.answer(t, o, att)
		}, 400, "badAttestationStatement", 0},
		{"no freshness code", func(t *testing.T, e *env, d *device) response {
			d.register(t)
			o := d.mustOrder(t, idA)
			att, _ := e.root.AttestWith(o.token, &d.seKey.PublicKey, acmetest.Options{NoFreshnessCode: true})
			return d.answer(t, o, att)
		}, 400, "badAttestationStatement", 0},
		{"stale freshness code: an earlier order's", func(t *testing.T, e *env, d *device) response {
			d.register(t)
			old := d.mustOrder(t, idA)
			o := d.mustOrder(t, idA)
			return d.answer(t, o, d.attest(t, old.token))
		}, 400, "badAttestationStatement", 0},
		{"stale: answered after the order expired", func(t *testing.T, e *env, d *device) response {
			d.register(t)
			o := d.mustOrder(t, idA)
			e.clock.Advance(acme.DefaultOrderTTL + time.Second)
			return d.answer(t, o, d.attest(t, o.token))
		}, 403, "unauthorized", 0},
		{"stale: finalized after the order expired", func(t *testing.T, e *env, d *device) response {
			o := answered(t, e, d)
			e.clock.Advance(acme.DefaultOrderTTL + time.Second)
			return d.finalize(t, o, d.csr(t, d.seKey))
		}, 403, "orderNotReady", 0},
		{"software key: the CSR's key is not the attested one", func(t *testing.T, e *env, d *device) response {
			o := answered(t, e, d)
			other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			return d.finalize(t, o, d.csr(t, other))
		}, 400, "badCSR", 0},
		{"software key: no attestation", func(t *testing.T, e *env, d *device) response {
			d.register(t)
			o := d.mustOrder(t, idA)
			return d.post(t, o.challenge, []byte(`{}`))
		}, 400, "badAttestationStatement", 0},
		{"software key: finalize without answering", func(t *testing.T, e *env, d *device) response {
			d.register(t)
			o := d.mustOrder(t, idA)
			return d.finalize(t, o, d.csr(t, d.seKey))
		}, 403, "orderNotReady", 0},
		{"software key: an RSA key attested", func(t *testing.T, e *env, d *device) response {
			d.register(t)
			o := d.mustOrder(t, idA)
			ca, _ := testCA()
			att, _ := e.root.Attest(o.token, ca.Certificate.PublicKey)
			return d.answer(t, o, att)
		}, 400, "badAttestationStatement", 0},
		{"attestation from another root", func(t *testing.T, e *env, d *device) response {
			d.register(t)
			o := d.mustOrder(t, idA)
			att, _ := otherRoot.Attest(o.token, &d.seKey.PublicKey)
			return d.answer(t, o, att)
		}, 400, "badAttestationStatement", 0},
		{"attestation leaf expired", func(t *testing.T, e *env, d *device) response {
			d.register(t)
			o := d.mustOrder(t, idA)
			att, _ := e.root.AttestWith(o.token, &d.seKey.PublicKey, acmetest.Options{NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
			return d.answer(t, o, att)
		}, 400, "badAttestationStatement", 0},
		{"attestation format other than apple", func(t *testing.T, e *env, d *device) response {
			d.register(t)
			o := d.mustOrder(t, idA)
			att, _ := e.root.AttestWith(o.token, &d.seKey.PublicKey, acmetest.Options{Format: "tpm"})
			return d.answer(t, o, att)
		}, 400, "badAttestationStatement", 0},
		{"leaf alone, without the intermediate", func(t *testing.T, e *env, d *device) response {
			d.register(t)
			o := d.mustOrder(t, idA)
			att, _ := acmetest.AttestationObject("apple", e.root.Intermediate.Raw)
			return d.answer(t, o, att)
		}, 400, "badAttestationStatement", 0},
		{"replayed attestation on another device's order", func(t *testing.T, e *env, d *device) response {
			o := answered(t, e, d)
			replay := d.attest(t, o.token)
			thief := newDevice(t, e)
			thief.seKey = d.seKey // even with the very key
			thief.register(t)
			o2 := thief.mustOrder(t, idB)
			return thief.answer(t, o2, replay)
		}, 400, "badAttestationStatement", 0},
		{"replayed attestation on the device's next order", func(t *testing.T, e *env, d *device) response {
			o := answered(t, e, d)
			o2 := d.mustOrder(t, idA)
			return d.answer(t, o2, d.attest(t, o.token))
		}, 400, "badAttestationStatement", 0},
		{"an order for another enrollment's identifier", func(t *testing.T, e *env, d *device) response {
			d.register(t)
			d.mustOrder(t, idA)
			_, r := d.newOrder(t, idB)
			return r
		}, 400, "rejectedIdentifier", 0},
		{"an identifier already redeemed by another device", func(t *testing.T, e *env, d *device) response {
			first := newDevice(t, e)
			o1 := answered(t, e, first)
			if r := first.finalize(t, o1, first.csr(t, first.seKey)); r.status != 200 {
				t.Fatalf("first device: %d %s", r.status, r.body)
			}
			e.fake.ForgetRecorded()
			e.issuer.n.Store(0)
			o := answered(t, e, d)
			return d.finalize(t, o, d.csr(t, d.seKey))
		}, 403, "unauthorized", 1},
		{"an identifier of no enrollment", func(t *testing.T, e *env, d *device) response {
			d.register(t)
			o := d.mustOrder(t, "not-an-enrollment")
			d.answer(t, o, d.attest(t, o.token))
			return d.finalize(t, o, d.csr(t, d.seKey))
		}, 403, "unauthorized", 0},
		{"another account's order", func(t *testing.T, e *env, d *device) response {
			o := answered(t, e, d)
			other := newDevice(t, e)
			other.seKey = d.seKey
			other.register(t)
			return other.finalize(t, o, other.csr(t, d.seKey))
		}, 403, "unauthorized", 0},
		{"bad JWS signature", func(t *testing.T, e *env, d *device) response {
			o := answered(t, e, d)
			forger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			return d.postTwisted(t, o.finalize, []byte(`{"csr":"x"}`), twist{signWith: forger})
		}, 400, "malformed", 0},
		{"wrong URL in the protected header", func(t *testing.T, e *env, d *device) response {
			o := answered(t, e, d)
			return d.postTwisted(t, o.finalize, []byte(`{"csr":"x"}`), twist{url: o.url})
		}, 401, "unauthorized", 0},
		{"reused nonce", func(t *testing.T, e *env, d *device) response {
			d.register(t)
			n := d.nonce(t)
			d.postTwisted(t, e.base+"/new-order", []byte(`{"identifiers":[{"type":"permanent-identifier","value":"`+idA+`"}]}`), twist{nonce: n})
			return d.postTwisted(t, e.base+"/new-order", []byte(`{"identifiers":[{"type":"permanent-identifier","value":"`+idA+`"}]}`), twist{nonce: n})
		}, 400, "badNonce", 0},
		{"made-up nonce", func(t *testing.T, e *env, d *device) response {
			d.register(t)
			return d.postTwisted(t, e.base+"/new-order", []byte(`{}`), twist{nonce: "AAAAAAAAAAAAAAAAAAAAAA"})
		}, 400, "badNonce", 0},
		{"jwk instead of kid", func(t *testing.T, e *env, d *device) response {
			d.register(t)
			return d.postTwisted(t, e.base+"/new-order", []byte(`{}`), twist{embedJWK: true})
		}, 400, "malformed", 0},
		{"unknown account", func(t *testing.T, e *env, d *device) response {
			d.kid = e.base + "/account/nobody"
			return d.post(t, e.base+"/new-order", []byte(`{}`))
		}, 400, "accountDoesNotExist", 0},
		{"unsupported identifier type", func(t *testing.T, e *env, d *device) response {
			d.register(t)
			return d.post(t, e.base+"/new-order", []byte(`{"identifiers":[{"type":"dns","value":"example.com"}]}`))
		}, 400, "unsupportedIdentifier", 0},
		{"malformed permanent-identifier", func(t *testing.T, e *env, d *device) response {
			d.register(t)
			return d.post(t, e.base+"/new-order", []byte(`{"identifiers":[{"type":"permanent-identifier","value":"a/b/c"}]}`))
		}, 400, "malformed", 0},
		{"two identifiers", func(t *testing.T, e *env, d *device) response {
			d.register(t)
			return d.post(t, e.base+"/new-order", []byte(`{"identifiers":[{"type":"permanent-identifier","value":"a"},{"type":"permanent-identifier","value":"b"}]}`))
		}, 400, "malformed", 0},
		{"not application/jose+json", func(t *testing.T, e *env, d *device) response {
			d.register(t)
			return d.postTwisted(t, e.base+"/new-order", []byte(`{}`), twist{contentType: "application/json"})
		}, 415, "malformed", 0},
		{"body over the limit", func(t *testing.T, e *env, d *device) response {
			return e.raw(t, e.base+"/new-account", make([]byte, acme.DefaultMaxBodyBytes+1), "")
		}, 413, "malformed", 0},
		{"not a JWS", func(t *testing.T, e *env, d *device) response {
			return e.raw(t, e.base+"/new-account", []byte(`{"protected":"e30","payload":`), "")
		}, 400, "malformed", 0},
		{"unsigned JWS (alg none)", func(t *testing.T, e *env, d *device) response {
			return e.raw(t, e.base+"/new-account", []byte(`{"protected":"eyJhbGciOiJub25lIn0","payload":"e30","signature":""}`), "")
		}, 400, "badSignatureAlgorithm", 0},
		{"unknown resource", func(t *testing.T, e *env, d *device) response {
			return e.raw(t, e.base+"/revoke-cert", []byte(`{}`), "")
		}, 404, "malformed", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			d := newDevice(t, e)
			r := tt.run(t, e, d)
			if r.status != tt.status || r.problemType() != errPrefix+tt.problem {
				t.Errorf("got %d %s, want %d %s", r.status, r.body, tt.status, tt.problem)
			}
			e.nothingIssued(t)
			if used, _ := e.fake.Counts(); used != tt.redeemed {
				t.Errorf("%d identifiers redeemed, want %d", used, tt.redeemed)
			}
		})
	}
}

// TestRefusedAttestationInvalidatesOrder: after a refused attestation the
// order cannot be answered again with a good one, nor finalized.
func TestRefusedAttestationInvalidatesOrder(t *testing.T) {
	e := newEnv(t, nil)
	d := newDevice(t, e)
	d.register(t)
	o := d.mustOrder(t, idA)
	bad, _ := e.root.AttestWith(o.token, &d.seKey.PublicKey, acmetest.Options{NoFreshnessCode: true})
	if r := d.answer(t, o, bad); r.status != 400 {
		t.Fatalf("bad answer: %d %s", r.status, r.body)
	}
	if r := d.answer(t, o, d.attest(t, o.token)); !strings.Contains(string(r.body), `"status":"invalid"`) {
		t.Errorf("second answer: %d %s", r.status, r.body)
	}
	if r := d.finalize(t, o, d.csr(t, d.seKey)); r.problemType() != errPrefix+"orderNotReady" {
		t.Errorf("finalize: %d %s", r.status, r.body)
	}
	e.nothingIssued(t)
}

// TestDeviceIdentifiersNotKept: an attestation that carries a serial
// number and a UDID (a device enrollment's) is accepted, and neither
// reaches the certificate, the order or the account.
func TestDeviceIdentifiersNotKept(t *testing.T) {
	store := acme.NewMemoryStore()
	e := newEnv(t, func(c *acme.Config) { c.Store = store })
	d := newDevice(t, e)
	d.register(t)
	o := d.mustOrder(t, idA)
	att, _ := e.root.AttestWith(o.token, &d.seKey.PublicKey, acmetest.Options{SerialNumber: "C02SERIAL123", UDID: "00008030-UDID"})
	if r := d.answer(t, o, att); r.status != 200 {
		t.Fatalf("answer: %d %s", r.status, r.body)
	}
	if r := d.finalize(t, o, d.csr(t, d.seKey)); r.status != 200 {
		t.Fatalf("finalize: %d %s", r.status, r.body)
	}
	id := o.url[strings.LastIndex(o.url, "/")+1:]
	stored, err := store.Order(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	acctID := d.kid[strings.LastIndex(d.kid, "/")+1:]
	acct, err := store.Account(t.Context(), acctID)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{stored.Certificate, stored.AttestedKey, []byte(stored.Error), acct.Key, []byte(acct.IdentifierHash)} {
		if strings.Contains(string(b), "C02SERIAL123") || strings.Contains(string(b), "00008030-UDID") {
			t.Fatal("a device identifier was kept")
		}
	}
}

// TestNewAccountIdempotent: the same key finds its account again, and
// onlyReturnExisting finds nothing for a new key.
func TestNewAccountIdempotent(t *testing.T) {
	e := newEnv(t, nil)
	d := newDevice(t, e)
	d.register(t)
	first := d.kid
	d.kid = ""
	r := d.post(t, e.base+"/new-account", []byte(`{}`))
	if r.status != 200 || r.header.Get("Location") != first {
		t.Errorf("again: %d %s %s", r.status, r.header.Get("Location"), r.body)
	}
	other := newDevice(t, e)
	r = other.post(t, e.base+"/new-account", []byte(`{"onlyReturnExisting":true}`))
	if r.problemType() != errPrefix+"accountDoesNotExist" {
		t.Errorf("onlyReturnExisting: %d %s", r.status, r.body)
	}
}

// TestNonceStoreBounded: with room for two nonces, the oldest of three
// is forgotten.
func TestNonceStoreBounded(t *testing.T) {
	e := newEnv(t, func(c *acme.Config) { c.MaxNonces = 2 })
	d := newDevice(t, e)
	oldest := d.nonce(t)
	d.nonce(t)
	d.nonce(t)
	r := d.postTwisted(t, e.base+"/new-account", []byte(`{}`), twist{nonce: oldest})
	if r.problemType() != errPrefix+"badNonce" {
		t.Errorf("oldest nonce: %d %s", r.status, r.body)
	}
}

// TestNoncesSource: the Handler takes its nonces from Config.Nonces, else
// from a Store that keeps them, else from a MemoryNonces of its own.
func TestNoncesSource(t *testing.T) {
	shared := acme.NewMemoryNonces(0)
	tests := []struct {
		name   string
		cfg    func(*acme.Config)
		shared bool // the nonce comes from shared
	}{
		{"Config.Nonces", func(c *acme.Config) { c.Nonces = shared }, true},
		{"the Store's", func(c *acme.Config) { c.Store = sharedMemory{acme.NewMemoryStore(), shared} }, true},
		{"Config.Nonces over the Store's", func(c *acme.Config) {
			c.Store = sharedMemory{acme.NewMemoryStore(), acme.NewMemoryNonces(0)}
			c.Nonces = shared
		}, true},
		{"its own", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.cfg)
			n := newDevice(t, e).nonce(t)
			if ok, _ := shared.ConsumeNonce(t.Context(), n); ok != tt.shared {
				t.Errorf("the nonce is shared's: %v, want %v", ok, tt.shared)
			}
		})
	}
}

// failingNonces fails every call.
type failingNonces struct{ issue, consume error }

func (f failingNonces) IssueNonce(context.Context) (string, error) {
	if f.issue != nil {
		return "", f.issue
	}
	return "AAAAAAAAAAAAAAAAAAAAAA", nil
}

func (f failingNonces) ConsumeNonce(context.Context, string) (bool, error) { return false, f.consume }

// TestNoncesFailure: a Nonces that fails is answered with serverInternal,
// with nothing of the failure in the answer.
func TestNoncesFailure(t *testing.T) {
	boom := errors.New("nonce database down")
	tests := []struct {
		name  string
		n     failingNonces
		nonce bool // test newNonce rather than a POST
	}{
		{"issue on newNonce", failingNonces{issue: boom}, true},
		{"issue on a POST", failingNonces{issue: boom}, false},
		{"consume", failingNonces{consume: boom}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *acme.Config) { c.Nonces = tt.n })
			var r response
			if tt.nonce {
				resp, err := e.srv.Client().Head(e.base + "/new-nonce")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				r = response{status: resp.StatusCode, header: resp.Header}
			} else {
				d := newDevice(t, e)
				r = d.postTwisted(t, e.base+"/new-account", []byte(`{}`), twist{nonce: "AAAAAAAAAAAAAAAAAAAAAA"})
				if r.problemType() != errPrefix+"serverInternal" || strings.Contains(string(r.body), boom.Error()) {
					t.Errorf("body %s", r.body)
				}
			}
			if r.status != http.StatusInternalServerError {
				t.Errorf("status %d, want 500", r.status)
			}
		})
	}
}

func TestNewHandlerConfig(t *testing.T) {
	ca, _ := testCA()
	fake := challengefake.New("acme", nil)
	for _, tt := range []struct {
		name string
		enr  acme.Enrollments
		iss  acme.Issuer
		cfg  acme.Config
	}{
		{"no Enrollments", nil, ca, acme.Config{BaseURL: "https://x/acme"}},
		{"no Issuer", fake, nil, acme.Config{BaseURL: "https://x/acme"}},
		{"no BaseURL", fake, ca, acme.Config{}},
		{"relative BaseURL", fake, ca, acme.Config{BaseURL: "/acme"}},
		{"negative OrderTTL", fake, ca, acme.Config{BaseURL: "https://x/acme", OrderTTL: -1}},
	} {
		if _, err := acme.NewHandler(tt.enr, tt.iss, tt.cfg); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

func TestDirectory(t *testing.T) {
	e := newEnv(t, nil)
	resp, err := e.srv.Client().Get(e.h.DirectoryURL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var dir map[string]string
	if err := jsonDecode(resp, &dir); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"newNonce", "newAccount", "newOrder"} {
		if !strings.HasPrefix(dir[k], e.base+"/") {
			t.Errorf("%s = %q", k, dir[k])
		}
	}
	if resp, _ := e.srv.Client().Post(e.h.DirectoryURL(), "application/json", nil); resp.StatusCode != 405 {
		t.Errorf("POST directory: %d", resp.StatusCode)
	}
}

// TestAppleRoot: the embedded root is Apple's, by its published
// fingerprint, and the default of AttestationRoots refuses the test root.
func TestAppleRoot(t *testing.T) {
	root := acme.AppleEnterpriseAttestationRoot()
	if root.Subject.CommonName != "Apple Enterprise Attestation Root CA" || !root.IsCA {
		t.Errorf("root: %s", root.Subject)
	}
	e := newEnv(t, func(c *acme.Config) { c.AttestationRoots = nil })
	d := newDevice(t, e)
	d.register(t)
	o := d.mustOrder(t, idA)
	if r := d.answer(t, o, d.attest(t, o.token)); r.problemType() != errPrefix+"badAttestationStatement" {
		t.Errorf("test root under Apple's: %d %s", r.status, r.body)
	}
}

// TestChallengePostAsGet: a POST-as-GET of the challenge shows it and does
// not answer it.
func TestChallengePostAsGet(t *testing.T) {
	e := newEnv(t, nil)
	d := newDevice(t, e)
	d.register(t)
	o := d.mustOrder(t, idA)
	if r := d.post(t, o.challenge, nil); r.status != http.StatusOK || !strings.Contains(string(r.body), `"status":"pending"`) {
		t.Fatalf("POST-as-GET: %d %s", r.status, r.body)
	}
	if r := d.answer(t, o, d.attest(t, o.token)); r.status != http.StatusOK {
		t.Fatalf("answer after POST-as-GET: %d %s", r.status, r.body)
	}
}
