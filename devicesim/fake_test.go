package devicesim_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	smallscep "github.com/smallstep/scep"
	"go.mozilla.org/pkcs7"
	"howett.net/plist"

	"github.com/enrollkit/enrollkit/devicesim"
	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/profile"
	"github.com/enrollkit/enrollkit/scep"
)

// The fake server below is a small, strict stand-in for an enrollment
// server: a portal that follows the devicesim form contract, the
// account-driven endpoints, the scep package's SCEP server with a
// fixed challenge, and MDM endpoints that decode with howett.net/plist and
// verify every Mdm-Signature (and, when openssl is set, with openssl too).

const (
	testChallenge = "s3cret-challenge"
	testUser      = "alice"
	testPassword  = "correct horse"
	testPasscode  = "482913"
	testTopic     = "com.apple.mgmt.External.5c7e2f0a-0000-4000-8000-000000000001"
)

// pki is the server side's certificates: an RSA SCEP CA (SCEP needs RSA
// for the envelope) and a profile signer issued by it.
type pki struct {
	ca       *x509.Certificate
	caKey    *rsa.PrivateKey
	signer   *x509.Certificate
	signerKy *rsa.PrivateKey
}

var (
	pkiOnce sync.Once
	testPKI pki
)

func sharedPKI(t testing.TB) pki {
	t.Helper()
	pkiOnce.Do(func() {
		caKey, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test MDM CA"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		}
		der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &caKey.PublicKey, caKey)
		ca, _ := x509.ParseCertificate(der)
		sKey, _ := rsa.GenerateKey(rand.Reader, 2048)
		sder, _ := x509.CreateCertificate(rand.Reader, &x509.Certificate{
			SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "Test Profile Signer"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature,
		}, ca, &sKey.PublicKey, caKey)
		signer, _ := x509.ParseCertificate(sder)
		testPKI = pki{ca: ca, caKey: caKey, signer: signer, signerKy: sKey}
	})
	return testPKI
}

// mdmRequest is one request the fake MDM endpoints accepted.
type mdmRequest struct {
	Path   string
	Header http.Header
	Body   []byte
	Msg    map[string]any
	Cert   *x509.Certificate
}

type fakeServer struct {
	t       testing.TB
	srv     *httptest.Server
	pki     pki
	openssl string // when set, every Mdm-Signature is also checked with openssl

	deviceRoots *x509.CertPool // the DeviceCA root for account-driven requests

	// Knobs a test may set before the device starts.
	profileMutator func(*profile.Profile)
	signMessage    bool
	spaceSeparated bool // WWW-Authenticate parameters without a comma
	scepPending    int  // how many PKIOperations to answer PENDING
	// getToken answers GetToken check-ins with a status and a body.
	getToken func(serviceType string) (int, []byte)
	// ddm, when set, answers DeclarativeManagement check-ins.
	ddm func(endpoint string, data []byte) []byte

	mu          sync.Mutex
	sessions    map[string]*portalSession
	downloads   map[string]bool
	tokens      map[string]bool
	wellKnownQ  []url.Values
	enrollPosts []*http.Request
	requests    []mdmRequest
	queue       [][]byte
	scepIssued  []*x509.Certificate
	portalUAs   []string
}

type portalSession struct {
	step          string
	accountDriven bool
	userID        string
}

func newFakeServer(t testing.TB) *fakeServer {
	t.Helper()
	f := &fakeServer{t: t, pki: sharedPKI(t), signMessage: true,
		sessions: map[string]*portalSession{}, downloads: map[string]bool{}, tokens: map[string]bool{}}
	mux := http.NewServeMux()

	scepHandler, err := scep.NewHandler(fakeChallenge{f}, &scep.CA{Certificate: f.pki.ca, Key: f.pki.caKey, Validity: time.Hour}, scep.Config{})
	if err != nil {
		t.Fatal(err)
	}
	mux.HandleFunc("/scep", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		pending := f.scepPending > 0 && r.URL.Query().Get("operation") == "PKIOperation"
		if pending {
			f.scepPending--
		}
		f.mu.Unlock()
		if pending {
			f.answerPending(w, r)
			return
		}
		scepHandler.ServeHTTP(w, r)
	})

	mux.HandleFunc("GET /invite/{id}", f.invite)
	mux.HandleFunc("/portal/{step}", f.portal)
	mux.HandleFunc("GET /download/{tok}", f.download)
	mux.HandleFunc("GET /.well-known/com.apple.remotemanagement", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.wellKnownQ = append(f.wellKnownQ, r.URL.Query())
		f.mu.Unlock()
		if r.URL.Query().Get("user-identifier") == "nobody@example.com" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"code":"com.apple.well-known.failed","description":"unknown user","message":"Not here"}`)
			return
		}
		http.Redirect(w, r, "/well-known-moved", http.StatusFound)
	})
	mux.HandleFunc("GET /well-known-moved", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.wellKnownQ = append(f.wellKnownQ, r.URL.Query())
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"Servers":[{"Version":"mdm-adde","BaseURL":"%[1]s/adde"},{"Version":"mdm-byod","BaseURL":"%[1]s/enroll"}]}`, f.srv.URL)
	})
	mux.HandleFunc("POST /enroll", f.enroll)
	mux.HandleFunc("GET /auth", func(w http.ResponseWriter, r *http.Request) {
		uid := r.URL.Query().Get("user-identifier")
		if uid == "" {
			http.Error(w, "no user-identifier", http.StatusBadRequest)
			return
		}
		f.startSession(w, &portalSession{step: "signin", accountDriven: true, userID: uid})
		http.Redirect(w, r, "/portal/signin", http.StatusSeeOther)
	})
	mux.HandleFunc("PUT /checkin", f.mdm)
	mux.HandleFunc("PUT /mdm", f.mdm)
	f.srv = httptest.NewTLSServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeServer) client() *http.Client { return f.srv.Client() }

func (f *fakeServer) startSession(w http.ResponseWriter, s *portalSession) {
	id := randomHex(16)
	f.mu.Lock()
	f.sessions[id] = s
	f.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: "sid", Value: id, Path: "/", HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return fmt.Sprintf("%x", b)
}

func (f *fakeServer) invite(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("id") != "good" {
		f.page(w, http.StatusNotFound, `<p role="alert">This invitation has expired.</p>`)
		return
	}
	f.startSession(w, &portalSession{step: "welcome"})
	f.page(w, http.StatusOK, `<h1>Welcome</h1><form method="post" action="/portal/welcome"><input type="hidden" name="csrf" value="tok-welcome"><button>Continue</button></form>`)
}

func (f *fakeServer) page(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<!doctype html><html lang="en"><head><meta name="viewport" content="width=device-width"><title>Enroll</title></head><body><main>%s</main></body></html>`, body)
}

// portal serves the steps welcome → signin → passcode → terms → done.
func (f *fakeServer) portal(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie("sid")
	f.mu.Lock()
	f.portalUAs = append(f.portalUAs, r.UserAgent())
	var s *portalSession
	if err == nil {
		s = f.sessions[c.Value]
	}
	f.mu.Unlock()
	if s == nil {
		f.page(w, http.StatusForbidden, `<div role="alert">Your session has ended.</div>`)
		return
	}
	step := r.PathValue("step")
	if step != s.step {
		http.Redirect(w, r, "/portal/"+s.step, http.StatusSeeOther)
		return
	}
	if r.Method == http.MethodPost {
		if r.Header.Get("Origin") != f.srv.URL || r.Header.Get("Sec-Fetch-Site") != "same-origin" {
			f.page(w, http.StatusForbidden, `<div role="alert">Cross-origin request refused.</div>`)
			return
		}
		if err := r.ParseForm(); err != nil {
			f.page(w, http.StatusBadRequest, `<div role="alert">Bad form.</div>`)
			return
		}
		if r.PostForm.Get("csrf") != "tok-"+step {
			f.page(w, http.StatusForbidden, `<div role="alert">Missing CSRF token.</div>`)
			return
		}
	}
	csrf := `<input type="hidden" name="csrf" value="tok-` + step + `">`
	advance := func(next string) {
		f.mu.Lock()
		s.step = next
		f.mu.Unlock()
		http.Redirect(w, r, "/portal/"+next, http.StatusSeeOther)
	}
	switch {
	case step == "welcome" && r.Method == http.MethodPost:
		advance("signin")
	case step == "signin" && r.Method == http.MethodGet:
		user := ""
		if s.accountDriven {
			user = html.EscapeString(strings.SplitN(s.userID, "@", 2)[0])
		}
		f.page(w, http.StatusOK, `<form method="post">`+csrf+`
<label>User <input name="username" value="`+user+`" required autocomplete="username"></label>
<label>Password <input type="password" name="password" required></label>
<fieldset><legend>Who owns this device?</legend>
<label><input type="radio" name="ownership" value="employee"> Me</label>
<label><input type="radio" name="ownership" value="corporate"> My company</label></fieldset>
<input type="submit" name="action" value="Sign in"></form>`)
	case step == "signin":
		if r.PostForm.Get("username") != testUser || r.PostForm.Get("password") != testPassword {
			f.page(w, http.StatusUnauthorized, `<p role="alert">  The user name or
			password is wrong. </p>`)
			return
		}
		if r.PostForm.Get("ownership") != "employee" {
			f.page(w, http.StatusForbidden, `<p role="alert">Company devices enroll differently.</p>`)
			return
		}
		advance("passcode")
	case step == "passcode" && r.Method == http.MethodGet:
		f.page(w, http.StatusOK, `<form method="post" action="/portal/passcode">`+csrf+`<input name="passcode" inputmode="numeric" required><button type="submit">Next</button></form>`)
	case step == "passcode":
		if r.PostForm.Get("passcode") != testPasscode {
			f.page(w, http.StatusUnprocessableEntity, `<div role="alert">Wrong passcode.</div>`)
			return
		}
		advance("terms")
	case step == "terms" && r.Method == http.MethodGet:
		f.page(w, http.StatusOK, `<form method="post">`+csrf+`<textarea name="comment"></textarea><select name="lang"><option value="en" selected>English</option><option value="de">Deutsch</option></select><label><input type="checkbox" name="accept" value="yes" required> I accept</label><button type="submit">Accept</button></form>`)
	case step == "terms":
		if r.PostForm.Get("accept") != "yes" || r.PostForm.Get("lang") != "en" {
			f.page(w, http.StatusBadRequest, `<div role="alert">You must accept the terms.</div>`)
			return
		}
		if s.accountDriven {
			tok := randomHex(16)
			f.mu.Lock()
			f.tokens[tok] = true
			f.mu.Unlock()
			w.Header().Set("Location", "apple-remotemanagement-user-login://authentication-results?access-token="+tok)
			w.WriteHeader(http.StatusPermanentRedirect)
			return
		}
		advance("done")
	case step == "done":
		tok := randomHex(16)
		f.mu.Lock()
		f.downloads[tok] = true
		f.mu.Unlock()
		f.page(w, http.StatusOK, `<p>Almost there.</p><a id="download-profile" href="../download/`+tok+`">Download</a>`)
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// fakeChallenge accepts testChallenge any number of times, as a static
// challenge does, and keeps the certificates issued for it.
type fakeChallenge struct{ f *fakeServer }

func (c fakeChallenge) RedeemChallenge(_ context.Context, _ enroll.Meta, challenge string) (*enroll.Enrollment, error) {
	if challenge != testChallenge {
		return nil, enroll.ErrChallengeInvalid
	}
	return &enroll.Enrollment{ID: "enrollment"}, nil
}

func (c fakeChallenge) RecordCertificate(_ context.Context, _ enroll.Meta, id string, der []byte) (*enroll.Enrollment, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	c.f.mu.Lock()
	c.f.scepIssued = append(c.f.scepIssued, cert)
	c.f.mu.Unlock()
	return &enroll.Enrollment{ID: id}, nil
}

// answerPending answers a PKCSReq with a CertRep of pkiStatus PENDING.
func (f *fakeServer) answerPending(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req, err := smallscep.ParsePKIMessage(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	oid := func(n int) asn1.ObjectIdentifier { return asn1.ObjectIdentifier{2, 16, 840, 1, 113733, 1, 9, n} }
	sd, err := pkcs7.NewSignedData(nil)
	if err == nil {
		err = sd.AddSigner(f.pki.ca, f.pki.caKey, pkcs7.SignerInfoConfig{ExtraSignedAttributes: []pkcs7.Attribute{
			{Type: oid(7), Value: string(req.TransactionID)},
			{Type: oid(2), Value: "3"}, // CertRep
			{Type: oid(3), Value: "3"}, // PENDING
			{Type: oid(6), Value: []byte(req.SenderNonce)},
			{Type: oid(5), Value: []byte(randomHex(8))},
		}})
	}
	var out []byte
	if err == nil {
		out, err = sd.Finish()
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-pki-message")
	w.Write(out)
}

// buildProfile returns a signed enrollment profile.
func (f *fakeServer) buildProfile(accountDriven bool) ([]byte, error) {
	e := profile.EnrollmentSpec{
		Identifier: "com.example.enroll", Seed: randomHex(8), DisplayName: "Example MDM", Organization: "Example",
		Topic: testTopic, ServerURL: f.srv.URL + "/mdm", CheckInURL: f.srv.URL + "/checkin",
		SignMessage: f.signMessage, CheckOutWhenRemoved: true,
		Identity: &profile.SCEP{URL: f.srv.URL + "/scep", Name: "Test MDM CA", Challenge: testChallenge,
			Subject: profile.Subject{{{Type: "O", Value: "Example"}}, {{Type: "CN", Value: "enrollment"}}}, Keysize: 2048,
			CAFingerprint: func() []byte { s := sha1.Sum(f.pki.ca.Raw); return s[:] }()},
	}
	var p *profile.Profile
	var err error
	if accountDriven {
		p, err = profile.NewAccountDrivenUserEnrollment(e, "alice@example.com")
	} else {
		p, err = profile.NewUserEnrollment(e, "alice@example.com")
	}
	if err != nil {
		return nil, err
	}
	if f.profileMutator != nil {
		f.profileMutator(p)
	}
	return profile.SignProfile(p, f.pki.signerKy, []*x509.Certificate{f.pki.signer, f.pki.ca})
}

func (f *fakeServer) download(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("tok")
	f.mu.Lock()
	ok := f.downloads[tok]
	delete(f.downloads, tok)
	f.mu.Unlock()
	if !ok {
		f.page(w, http.StatusGone, `<div role="alert">This link was already used.</div>`)
		return
	}
	b, err := f.buildProfile(false)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-apple-aspen-config")
	w.Write(b)
}

// enroll is the account-driven BaseURL.
func (f *fakeServer) enroll(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.enrollPosts = append(f.enrollPosts, r)
	f.mu.Unlock()
	if r.Header.Get("Content-Type") != "application/pkcs7-signature" {
		http.Error(w, "bad content type", http.StatusUnsupportedMediaType)
		return
	}
	body, _ := io.ReadAll(r.Body)
	p7, err := pkcs7.Parse(body)
	if err != nil || p7.VerifyWithChain(f.deviceRoots) != nil {
		http.Error(w, "bad device signature", http.StatusBadRequest)
		return
	}
	var info map[string]any
	if _, err := plist.Unmarshal(p7.Content, &info); err != nil || info["PRODUCT"] == nil || info["LANGUAGE"] == nil || info["VERSION"] == nil {
		http.Error(w, "bad machine info", http.StatusBadRequest)
		return
	}
	for _, k := range []string{"SERIAL", "UDID", "IMEI", "MEID"} {
		if _, ok := info[k]; ok {
			http.Error(w, "device identifier sent", http.StatusBadRequest)
			return
		}
	}
	auth := r.Header.Get("Authorization")
	f.mu.Lock()
	ok := strings.HasPrefix(auth, "Bearer ") && f.tokens[strings.TrimPrefix(auth, "Bearer ")]
	f.mu.Unlock()
	if !ok {
		sep := ", "
		if f.spaceSeparated {
			sep = " "
		}
		w.Header().Set("WWW-Authenticate", `Bearer method="apple-as-web"`+sep+`url="`+f.srv.URL+`/auth"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	b, err := f.buildProfile(true)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-apple-aspen-config")
	w.Write(b)
}

// mdm serves /checkin and /mdm: it verifies the request's identity and
// records it; /mdm answers the next queued command.
func (f *fakeServer) mdm(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		// The device gave up mid-request (its context ended as a test
		// stopped it): there is no whole body to verify.
		return
	}
	var cert *x509.Certificate
	if f.signMessage {
		c, err := f.verifySignature(r.Header.Get("Mdm-Signature"), body)
		if err != nil {
			f.t.Errorf("%s: Mdm-Signature: %v", r.URL.Path, err)
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		cert = c
	} else {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			http.Error(w, "no client certificate", http.StatusUnauthorized)
			return
		}
		cert = r.TLS.PeerCertificates[0]
		if err := cert.CheckSignatureFrom(f.pki.ca); err != nil {
			http.Error(w, "client certificate not from our CA", http.StatusUnauthorized)
			return
		}
	}
	var msg map[string]any
	if _, err := plist.Unmarshal(body, &msg); err != nil {
		f.t.Errorf("%s: body is not a plist: %v", r.URL.Path, err)
		http.Error(w, "bad plist", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, mdmRequest{Path: r.URL.Path, Header: r.Header.Clone(), Body: body, Msg: msg, Cert: cert})
	if msg["MessageType"] == "GetToken" && f.getToken != nil {
		code, out := f.getToken(fmt.Sprint(msg["TokenServiceType"]))
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(code)
		w.Write(out)
		return
	}
	if msg["MessageType"] == "DeclarativeManagement" && f.ddm != nil {
		data, _ := msg["Data"].([]byte)
		endpoint, _ := msg["Endpoint"].(string)
		w.Write(f.ddm(endpoint, data))
		return
	}
	if r.URL.Path == "/checkin" || len(f.queue) == 0 {
		return
	}
	next := f.queue[0]
	f.queue = f.queue[1:]
	w.Header().Set("Content-Type", "application/xml")
	w.Write(next)
}

// verifySignature checks a detached Mdm-Signature over body: the signer
// certificate must be one our SCEP CA issued, the signature must verify
// in Go and (when f.openssl is set) with openssl cms -verify.
func (f *fakeServer) verifySignature(hdr string, body []byte) (*x509.Certificate, error) {
	sig, err := base64.StdEncoding.DecodeString(hdr)
	if err != nil || len(sig) == 0 {
		return nil, fmt.Errorf("header missing or not base64: %v", err)
	}
	p7, err := pkcs7.Parse(sig)
	if err != nil {
		return nil, err
	}
	if len(p7.Content) != 0 {
		return nil, fmt.Errorf("signature is not detached")
	}
	p7.Content = body
	if err := p7.Verify(); err != nil {
		return nil, err
	}
	cert := p7.GetOnlySigner()
	if err := cert.CheckSignatureFrom(f.pki.ca); err != nil {
		return nil, fmt.Errorf("signer not issued by the SCEP CA: %w", err)
	}
	if f.openssl != "" {
		if err := opensslVerify(f.openssl, f.t.TempDir(), sig, body); err != nil {
			return nil, err
		}
	}
	return cert, nil
}

func opensslVerify(openssl, dir string, sig, body []byte) error {
	sp, bp := filepath.Join(dir, "sig.der"), filepath.Join(dir, "body")
	if err := os.WriteFile(sp, sig, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(bp, body, 0o600); err != nil {
		return err
	}
	out, err := exec.Command(openssl, "cms", "-verify", "-binary", "-inform", "DER", "-in", sp,
		"-content", bp, "-noverify", "-out", os.DevNull).CombinedOutput()
	if err != nil {
		return fmt.Errorf("openssl cms -verify: %v: %s", err, out)
	}
	return nil
}

// enqueue queues a command for the device.
func (f *fakeServer) enqueue(t testing.TB, uuid string, cmd map[string]any) {
	t.Helper()
	b, err := plist.Marshal(map[string]any{"CommandUUID": uuid, "Command": cmd}, plist.XMLFormat)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.queue = append(f.queue, b)
	f.mu.Unlock()
}

func (f *fakeServer) enqueueRaw(b []byte) {
	f.mu.Lock()
	f.queue = append(f.queue, b)
	f.mu.Unlock()
}

// mdmRequests returns the accepted MDM requests to path.
func (f *fakeServer) mdmRequests(path string) []mdmRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []mdmRequest
	for _, r := range f.requests {
		if r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// newDevice returns a device that trusts the fake server.
func (f *fakeServer) newDevice(t testing.TB, opts devicesim.Options) *devicesim.Device {
	t.Helper()
	if opts.HTTPClient == nil {
		opts.HTTPClient = f.client()
	}
	if opts.ProfileRoots == nil {
		opts.ProfileRoots = x509.NewCertPool()
		opts.ProfileRoots.AddCert(f.pki.ca)
	}
	d, err := devicesim.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	f.deviceRoots = d.DeviceCA().Pool()
	return d
}

var goodCreds = devicesim.Credentials{Username: testUser, Password: testPassword, Passcode: testPasscode}
