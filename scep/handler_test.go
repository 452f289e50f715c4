package scep_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	smallscep "github.com/smallstep/scep"
	"github.com/smallstep/scep/x509util"

	"github.com/enrollkit/enrollkit/internal/challengefake"
	"github.com/enrollkit/enrollkit/scep"
)

// fakeEnrollments keeps RedeemChallenge's contract for a fixed set of
// challenges: each is good once, for its enrollment.
type fakeEnrollments = challengefake.Enrollments

func newFake(challenges map[string]string) *fakeEnrollments {
	return challengefake.New("scep", challenges)
}

// The CA and the device key are made once for all tests (RSA key
// generation is slow under the race detector).
var (
	testCA  = sync.OnceValues(func() (*scep.CA, error) { return scep.GenerateCA("Test Device CA") })
	testKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })
)

func sharedCA(t testing.TB) *scep.CA {
	t.Helper()
	ca, err := testCA()
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func deviceKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	key, err := testKey()
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// request is what a test device sends.
type request struct {
	challenge        string
	key              crypto.Signer // the CSR's key; nil means deviceKey
	corruptSignature bool          // the CSR's signature does not verify
	msgType          smallscep.MessageType
	recipient        *x509.Certificate // nil means the CA
}

// pkcsReq builds a PKIMessage as a device does: a CSR carrying the
// challenge, signed with a self-signed certificate of the device key and
// encrypted to the CA.
func pkcsReq(t testing.TB, ca *scep.CA, r request) (*smallscep.PKIMessage, *rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	signerKey := deviceKey(t)
	csrKey := r.key
	if csrKey == nil {
		csrKey = signerKey
	}
	subject := pkix.Name{CommonName: "enrollment-1"}
	csrDER, err := x509util.CreateCertificateRequest(rand.Reader, &x509util.CertificateRequest{
		CertificateRequest: x509.CertificateRequest{Subject: subject},
		ChallengePassword:  r.challenge,
	}, csrKey)
	if err != nil {
		t.Fatal(err)
	}
	if r.corruptSignature {
		csrDER[len(csrDER)-1] ^= 0xff
	}
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		t.Fatal(err)
	}
	selfDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: subject,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}, &x509.Certificate{Subject: subject}, &signerKey.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	self, _ := x509.ParseCertificate(selfDER)
	recipient := r.recipient
	if recipient == nil {
		recipient = ca.Certificate
	}
	msgType := r.msgType
	if msgType == "" {
		msgType = smallscep.PKCSReq
	}
	msg, err := smallscep.NewCSRRequest(csr, &smallscep.PKIMessage{
		MessageType: msgType, Recipients: []*x509.Certificate{recipient}, SignerKey: signerKey, SignerCert: self,
	})
	if err != nil {
		t.Fatal(err)
	}
	return msg, signerKey, self
}

// certRep parses a CertRep and, when it is a SUCCESS, decrypts the issued
// certificate.
func certRep(t testing.TB, ca *scep.CA, body []byte, key *rsa.PrivateKey, self *x509.Certificate) *smallscep.PKIMessage {
	t.Helper()
	rep, err := smallscep.ParsePKIMessage(body, smallscep.WithCACerts([]*x509.Certificate{ca.Certificate}))
	if err != nil {
		t.Fatalf("CertRep: %v", err)
	}
	if rep.MessageType != smallscep.CertRep {
		t.Fatalf("messageType %s, want CertRep", rep.MessageType)
	}
	if rep.PKIStatus == smallscep.SUCCESS {
		if err := rep.DecryptPKIEnvelope(self, key); err != nil {
			t.Fatalf("CertRep envelope: %v", err)
		}
	}
	return rep
}

func newServer(t testing.TB, f *fakeEnrollments) (*scep.CA, *httptest.Server) {
	t.Helper()
	ca := sharedCA(t)
	h, err := scep.NewHandler(f, ca, scep.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return ca, srv
}

func post(t testing.TB, srv *httptest.Server, body []byte) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(srv.URL+"?operation=PKIOperation", "application/x-pki-message", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestPKIOperationIssuesAndRecords(t *testing.T) {
	for _, method := range []string{http.MethodPost, http.MethodGet} {
		t.Run(method, func(t *testing.T) {
			f := newFake(map[string]string{"good": "enrollment-1"})
			ca, srv := newServer(t, f)
			msg, key, self := pkcsReq(t, ca, request{challenge: "good"})
			var resp *http.Response
			var body []byte
			if method == http.MethodPost {
				resp, body = post(t, srv, msg.Raw)
			} else {
				q := url.Values{"operation": {"PKIOperation"}, "message": {base64.StdEncoding.EncodeToString(msg.Raw)}}
				r, err := http.Get(srv.URL + "?" + q.Encode())
				if err != nil {
					t.Fatal(err)
				}
				body, _ = io.ReadAll(r.Body)
				r.Body.Close()
				resp = r
			}
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-pki-message" {
				t.Fatalf("status %d, Content-Type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			rep := certRep(t, ca, body, key, self)
			if rep.PKIStatus != smallscep.SUCCESS {
				t.Fatalf("pkiStatus %s, failInfo %q", rep.PKIStatus, string(rep.FailInfo))
			}
			if rep.TransactionID != msg.TransactionID || !bytes.Equal(rep.RecipientNonce, msg.SenderNonce) {
				t.Error("CertRep does not answer the request")
			}
			cert := rep.Certificate
			if !bytes.Equal(f.Recorded("enrollment-1"), cert.Raw) {
				t.Error("the issued certificate was not recorded against its enrollment")
			}
			roots := x509.NewCertPool()
			roots.AddCert(ca.Certificate)
			if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
				t.Errorf("issued certificate does not chain to the CA: %v", err)
			}
			if !key.PublicKey.Equal(cert.PublicKey) || cert.Subject.CommonName != "enrollment-1" {
				t.Errorf("issued for %v, %q", cert.PublicKey, cert.Subject)
			}
			if d := cert.NotAfter.Sub(cert.NotBefore); d < scep.DefaultValidity || d > scep.DefaultValidity+10*time.Minute {
				t.Errorf("validity %v", d)
			}
		})
	}
}

// TestPKIOperationRefuses: every unacceptable request gets a CertRep
// FAILURE and changes nothing — no certificate recorded and, when the CSR is
// at fault, no challenge spent.
func TestPKIOperationRefuses(t *testing.T) {
	other, err := scep.GenerateCA("Other CA")
	if err != nil {
		t.Fatal(err)
	}
	smallKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		req       request
		replay    bool // redeem the challenge once before
		info      smallscep.FailInfo
		wantSpent int // challenges redeemed by the refused request
	}{
		{"unknown challenge", request{challenge: "wrong"}, false, smallscep.BadRequest, 0},
		{"no challenge", request{}, false, smallscep.BadRequest, 0},
		{"replayed challenge", request{challenge: "good"}, true, smallscep.BadRequest, 1},
		{"CSR signature does not verify", request{challenge: "good", corruptSignature: true}, false, smallscep.BadRequest, 0},
		{"CSR key too small", request{challenge: "good", key: smallKey}, false, smallscep.BadRequest, 0},
		{"encrypted to another CA", request{challenge: "good", recipient: other.Certificate}, false, smallscep.BadMessageCheck, 0},
		{"renewal", request{challenge: "good", msgType: smallscep.RenewalReq}, false, smallscep.BadRequest, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(map[string]string{"good": "enrollment-1"})
			ca, srv := newServer(t, f)
			if tc.replay {
				first, key, self := pkcsReq(t, ca, request{challenge: "good"})
				_, body := post(t, srv, first.Raw)
				if rep := certRep(t, ca, body, key, self); rep.PKIStatus != smallscep.SUCCESS {
					t.Fatalf("first request: %s", rep.PKIStatus)
				}
				f.ForgetRecorded()
			}
			msg, key, self := pkcsReq(t, ca, tc.req)
			resp, body := post(t, srv, msg.Raw)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			rep := certRep(t, ca, body, key, self)
			if rep.PKIStatus != smallscep.FAILURE || rep.FailInfo != tc.info {
				t.Errorf("pkiStatus %s failInfo %q, want FAILURE %q", rep.PKIStatus, string(rep.FailInfo), string(tc.info))
			}
			if used, recorded := f.Counts(); used != tc.wantSpent || recorded != 0 {
				t.Errorf("challenges spent %d (want %d), certificates recorded %d", used, tc.wantSpent, recorded)
			}
		})
	}
}

func TestPKIOperationECDSAKey(t *testing.T) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := newFake(map[string]string{"good": "enrollment-1"})
	ca, srv := newServer(t, f)
	msg, key, self := pkcsReq(t, ca, request{challenge: "good", key: ecKey})
	_, body := post(t, srv, msg.Raw)
	rep := certRep(t, ca, body, key, self)
	if rep.PKIStatus != smallscep.SUCCESS || !ecKey.PublicKey.Equal(rep.Certificate.PublicKey) {
		t.Fatalf("pkiStatus %s", rep.PKIStatus)
	}
	if rep.Certificate.KeyUsage&x509.KeyUsageKeyEncipherment != 0 {
		t.Error("an ECDSA certificate allows key encipherment")
	}
}

func TestHTTPErrors(t *testing.T) {
	f := newFake(map[string]string{"good": "enrollment-1"})
	ca, srv := newServer(t, f)
	msg, _, _ := pkcsReq(t, ca, request{challenge: "good"})
	tests := []struct {
		name, method, query string
		body                []byte
		status              int
	}{
		{"unknown operation", "GET", "operation=GetNextCACert", nil, http.StatusBadRequest},
		{"no operation", "GET", "", nil, http.StatusBadRequest},
		{"POST GetCACert", "POST", "operation=GetCACert", nil, http.StatusMethodNotAllowed},
		{"PUT PKIOperation", "PUT", "operation=PKIOperation", msg.Raw, http.StatusMethodNotAllowed},
		{"empty body", "POST", "operation=PKIOperation", nil, http.StatusBadRequest},
		{"garbage", "POST", "operation=PKIOperation", []byte("not a PKIMessage"), http.StatusBadRequest},
		{"truncated", "POST", "operation=PKIOperation", msg.Raw[:len(msg.Raw)/2], http.StatusBadRequest},
		{"tampered", "POST", "operation=PKIOperation", flipLast(msg.Raw), http.StatusBadRequest},
		{"oversized", "POST", "operation=PKIOperation", make([]byte, scep.DefaultMaxMessageBytes+1), http.StatusRequestEntityTooLarge},
		{"GET not base64", "GET", "operation=PKIOperation&message=%25%25%25", nil, http.StatusBadRequest},
		{"GET oversized", "GET", "operation=PKIOperation&message=" + strings.Repeat("A", 2*scep.DefaultMaxMessageBytes), nil, http.StatusRequestEntityTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+"?"+tc.query, bytes.NewReader(tc.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
	if used, recorded := f.Counts(); used != 0 || recorded != 0 {
		t.Errorf("bad requests spent %d challenges and recorded %d certificates", used, recorded)
	}
}

func TestGetCACapsAndCert(t *testing.T) {
	_, srv := newServer(t, newFake(nil))
	resp, err := http.Get(srv.URL + "?operation=GetCACaps")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, c := range []string{"POSTPKIOperation", "SHA-256", "AES", "SCEPStandard"} {
		if !strings.Contains(string(b), c+"\n") {
			t.Errorf("GetCACaps %q lacks %s", b, c)
		}
	}
	resp, err = http.Get(srv.URL + "?operation=GetCACert&message=Test")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-x509-ca-cert" || !bytes.Equal(b, sharedCA(t).Certificate.Raw) {
		t.Errorf("GetCACert: %s, %d bytes", ct, len(b))
	}
}

// TestStoreFailure: a failure of enroll's store is the server's, 500, and
// issues nothing.
func TestStoreFailure(t *testing.T) {
	f := newFake(map[string]string{"good": "enrollment-1"})
	f.StoreErr = errors.New("database is down")
	ca, srv := newServer(t, f)
	msg, _, _ := pkcsReq(t, ca, request{challenge: "good"})
	if resp, _ := post(t, srv, msg.Raw); resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", resp.StatusCode)
	}
	if _, recorded := f.Counts(); recorded != 0 {
		t.Error("a certificate was recorded")
	}
}

func TestNewHandlerRefusesBadConfiguration(t *testing.T) {
	ca := sharedCA(t)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf, err := ca.Issue(context.Background(), &x509.CertificateRequest{Subject: pkix.Name{CommonName: "leaf"}, PublicKey: &deviceKey(t).PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		e    scep.Enrollments
		ca   *scep.CA
		cfg  scep.Config
	}{
		{"no enrollments", nil, ca, scep.Config{}},
		{"no CA", newFake(nil), nil, scep.Config{}},
		{"no key", newFake(nil), &scep.CA{Certificate: ca.Certificate}, scep.Config{}},
		{"ECDSA key", newFake(nil), &scep.CA{Certificate: ca.Certificate, Key: ecKey}, scep.Config{}},
		{"key of another certificate", newFake(nil), &scep.CA{Certificate: ca.Certificate, Key: deviceKey(t)}, scep.Config{}},
		{"not a CA certificate", newFake(nil), &scep.CA{Certificate: leaf, Key: deviceKey(t)}, scep.Config{}},
		{"negative validity", newFake(nil), &scep.CA{Certificate: ca.Certificate, Key: ca.Key, Validity: -time.Hour}, scep.Config{}},
		{"negative MaxMessageBytes", newFake(nil), ca, scep.Config{MaxMessageBytes: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := scep.NewHandler(tc.e, tc.ca, tc.cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func flipLast(b []byte) []byte {
	c := bytes.Clone(b)
	c[len(c)-20] ^= 0x01
	return c
}
