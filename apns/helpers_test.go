package apns_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const testTopic = "com.apple.mgmt.External.6f1b6f7e-8a3c-4a43-9b7e-0d5c1f2a3b4c"

var oidUID = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}

// pki is a throwaway certificate authority that issues the fake APNs server
// certificate and push certificates.
type pki struct {
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	pool   *x509.CertPool
	server tls.Certificate
}

func newPKI(tb testing.TB) *pki {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Test Push CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	p := &pki{caCert: ca, caKey: key, pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.server = p.issue(tb, pkix.Name{CommonName: "api.push.test"}, func(c *x509.Certificate) {
		c.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		c.DNSNames = []string{"localhost"}
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	})
	return p
}

// issue returns a certificate for subject signed by the CA.
func (p *pki) issue(tb testing.TB, subject pkix.Name, edit func(*x509.Certificate)) tls.Certificate {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      subject,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if edit != nil {
		edit(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		tb.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// pushCert returns a push certificate whose subject UID is uid.
func (p *pki) pushCert(tb testing.TB, uid string) tls.Certificate {
	tb.Helper()
	subject := pkix.Name{CommonName: "APSP:" + uid}
	if uid != "" {
		subject.ExtraNames = []pkix.AttributeTypeAndValue{{Type: oidUID, Value: uid}}
	}
	return p.issue(tb, subject, nil)
}

// answer is what the fake APNs replies to one request.
type answer struct {
	status int
	body   string
}

// received is one request the fake APNs accepted.
type received struct {
	token  string
	header http.Header
	body   string
	client string // subject UID of the client certificate
	server *http.Server
}

// fakeAPNs is a local HTTP/2 server that behaves like APNs: it demands the
// client certificate and checks every request.
type fakeAPNs struct {
	tb     testing.TB
	srv    *httptest.Server
	reply  func(token string, attempt int) answer // nil: 200
	before func(r *http.Request, n int)           // called before replying

	mu       sync.Mutex
	reqs     []received
	attempts map[string]int
	problems []string
}

func newFakeAPNs(tb testing.TB, p *pki, reply func(token string, attempt int) answer) *fakeAPNs {
	tb.Helper()
	f := unstartedFakeAPNs(tb, p, reply)
	f.start()
	return f
}

// unstartedFakeAPNs returns a fake APNs whose server and TLS settings may
// still be changed before start.
func unstartedFakeAPNs(tb testing.TB, p *pki, reply func(token string, attempt int) answer) *fakeAPNs {
	tb.Helper()
	f := &fakeAPNs{tb: tb, reply: reply, attempts: map[string]int{}}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.EnableHTTP2 = true
	f.srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{p.server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.pool,
		MinVersion:   tls.VersionTLS12,
	}
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	return f
}

func (f *fakeAPNs) start() {
	f.srv.StartTLS()
	f.tb.Cleanup(f.srv.Close)
}

func (f *fakeAPNs) URL() string { return f.srv.URL }

func (f *fakeAPNs) problem(format string, args ...any) {
	f.mu.Lock()
	f.problems = append(f.problems, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

func (f *fakeAPNs) serve(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor != 2 {
		f.problem("protocol %s, want HTTP/2", r.Proto)
	}
	if r.Method != http.MethodPost {
		f.problem("method %s", r.Method)
	}
	token, ok := strings.CutPrefix(r.URL.Path, "/3/device/")
	if !ok {
		f.problem("path %q", r.URL.Path)
	}
	if _, err := hex.DecodeString(token); err != nil || token == "" || strings.ToLower(token) != token {
		f.problem("token %q is not lowercase hex", token)
	}
	var client string
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		f.problem("no client certificate")
	} else {
		for _, n := range r.TLS.PeerCertificates[0].Subject.Names {
			if n.Type.Equal(oidUID) {
				client, _ = n.Value.(string)
			}
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // the client went away
	}
	var decoded map[string]string
	if err := json.Unmarshal(body, &decoded); err != nil || len(decoded) != 1 || decoded["mdm"] == "" {
		f.problem("body %q is not {\"mdm\":…}", body)
	}
	f.mu.Lock()
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	f.reqs = append(f.reqs, received{token: token, header: r.Header.Clone(), body: string(body), client: client, server: srv})
	f.attempts[token]++
	attempt := f.attempts[token]
	n := len(f.reqs)
	f.mu.Unlock()
	if f.before != nil {
		f.before(r, n)
	}
	a := answer{status: http.StatusOK}
	if f.reply != nil {
		a = f.reply(token, attempt)
	}
	w.Header().Set("apns-id", fmt.Sprintf("00000000-0000-4000-8000-%012d", n))
	if a.status == 0 {
		a.status = http.StatusOK
	}
	if a.body != "" {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(a.body)))
	}
	w.WriteHeader(a.status)
	io.WriteString(w, a.body)
}

// requests returns what the server accepted so far.
func (f *fakeAPNs) requests() []received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]received(nil), f.reqs...)
}

// check fails the test if the server saw a malformed request.
func (f *fakeAPNs) check(tb testing.TB) {
	tb.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.problems {
		tb.Errorf("server: %s", p)
	}
}

// hostHTTPClient is a net/http client such as a host would pass in
// Options.HTTPClient: HTTP/2 with the push certificate.
func hostHTTPClient(tb testing.TB, p *pki) *http.Client {
	tb.Helper()
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{Certificates: []tls.Certificate{p.pushCert(tb, testTopic)}, RootCAs: p.pool},
		ForceAttemptHTTP2: true,
	}
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}
