package enroll_test

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/passcode"
	"github.com/enrollkit/enrollkit/profile"
	"github.com/enrollkit/enrollkit/store/memory"
)

// Test fixtures: one invited user with corporate credentials and a Managed
// Apple ID.
const (
	testUsername = "jane"
	testPassword = "correct horse"
	testUserID   = "u-1001"
	testMAID     = "jane@example.com"
	testTermsVer = "2026-01"
	testTopic    = "com.apple.mgmt.External.11111111-2222-3333-4444-555555555555"
	safariUA     = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)

const testTermsText = "Work data on this device is managed by Example Corp.\n\nPersonal data stays private."

// harness is a Service and Portal behind one httptest server: the portal
// at /portal/, discovery at the well-known path, and extra handlers (the
// MDM server) a test may add to mux.
type harness struct {
	t       testing.TB
	srv     *httptest.Server
	mux     *http.ServeMux
	clock   *testClock
	store   *flakyStore
	svc     *enroll.Service
	portal  *enroll.Portal
	mdm     *mdm.Service    // the MDM server at /mdm/
	signer  *enroll.CertKey // profile signer
	roots   *x509.CertPool
	idCA    *enroll.CertKey // CA of device identity certificates (the SCEP CA)
	mu      sync.Mutex
	invites []*enroll.Invitation
	cfg     enroll.Config // the Service's configuration
}

// serviceAt returns a Service on the harness's store whose portal is at
// portalURL, for a Portal mounted elsewhere.
func (h *harness) serviceAt(portalURL string) *enroll.Service {
	h.t.Helper()
	cfg := h.cfg
	cfg.PortalURL = portalURL
	svc, err := enroll.New(h.store, cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	return svc
}

// harnessOptions vary the harness.
type harnessOptions struct {
	corporate   enroll.CorporatePolicy
	noTerms     bool
	portalCfg   func(*enroll.PortalConfig)
	deviceRoots *x509.CertPool
	// logger, if set, receives the logs of the Service, the Portal and
	// the MDM server.
	logger *slog.Logger
	// authenticator, if set, replaces the corporate credentials check.
	authenticator enroll.Authenticator
}

func newHarness(t testing.TB, o harnessOptions) *harness {
	t.Helper()
	h := &harness{t: t, mux: http.NewServeMux(), clock: &testClock{t: time.Now().Truncate(time.Second)}}
	h.srv = httptest.NewServer(h.mux)
	t.Cleanup(h.srv.Close)
	h.store = &flakyStore{EnrollStore: memory.NewEnrollStore()}

	ca := enroll.IssueCert(t, "Profile Signing CA", nil, true)
	h.signer = enroll.IssueCert(t, "Profile Signer", ca, false)
	h.roots = x509.NewCertPool()
	h.roots.AddCert(ca.Cert)
	ps, err := profile.NewSigner(h.signer.Key, []*x509.Certificate{h.signer.Cert, ca.Cert})
	if err != nil {
		t.Fatal(err)
	}
	cfg := enroll.Config{
		Authenticator: enroll.AuthenticatorFunc(func(ctx context.Context, username, password string) (enroll.User, error) {
			if username == testUsername && password == testPassword {
				return enroll.User{ID: testUserID, Name: "Jane"}, nil
			}
			if username == "bob" && password == "bobpw" {
				return enroll.User{ID: "u-2002", Name: "Bob"}, nil
			}
			return enroll.User{}, enroll.ErrBadCredentials
		}),
		Directory: portalDirectory{},
		Notifier: enroll.NotifierFunc(func(ctx context.Context, inv *enroll.Invitation) error {
			h.mu.Lock()
			h.invites = append(h.invites, inv)
			h.mu.Unlock()
			return nil
		}),
		PortalURL: h.srv.URL + "/portal",
		Terms:     enroll.Terms{Version: testTermsVer, Text: testTermsText},
		// Cheap argon2id parameters keep the tests fast; the hashing
		// itself is package passcode's to test.
		PasscodeParams: passcode.Params{Memory: 64, Iterations: 1},
		Corporate:      o.corporate,
		Profile: enroll.ProfileConfig{
			ServerURL:         h.srv.URL + "/mdm/server",
			CheckInURL:        h.srv.URL + "/mdm/checkin",
			Topic:             testTopic,
			Organization:      "Example Corp",
			AllowInsecureURLs: true,
		},
		Signer: ps,
		SCEP:   enroll.SCEPConfig{URL: h.srv.URL + "/scep"},
		Now:    h.clock.Now,
	}
	if o.noTerms {
		cfg.Terms = enroll.Terms{}
	}
	if o.authenticator != nil {
		cfg.Authenticator = o.authenticator
	}
	cfg.Logger = o.logger
	h.svc, err = enroll.New(h.store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.cfg = cfg
	pcfg := enroll.PortalConfig{
		SessionKey:   []byte("test session key, 32 bytes long!"),
		Organization: "Example Corp",
		DeviceRoots:  o.deviceRoots,
		// Tests that do not post a MachineInfo name no device CA.
		InsecureSkipDeviceChainCheck: o.deviceRoots == nil,
		Logger:                       o.logger,
	}
	if o.portalCfg != nil {
		o.portalCfg(&pcfg)
	}
	h.portal, err = enroll.NewPortal(h.svc, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	h.mux.Handle("/portal/", h.portal)

	// The MDM server, wired with the enrollment Service's hooks.
	h.idCA = enroll.IssueCert(t, "Device Identity CA", nil, true)
	mdmSvc, err := mdm.NewService(memory.NewMDMStore(), mdm.Config{
		Roots:      []*x509.Certificate{h.idCA.Cert},
		Prechecker: h.svc,
		Observer:   h.svc,
		Now:        h.clock.Now,
		Logger:     o.logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.mdm = mdmSvc
	h.mux.Handle("/mdm/", mdmSvc)
	h.mux.Handle(enroll.WellKnownPath, h.portal.WellKnownHandler())
	return h
}

// flakyStore is the in-memory store with a switch that makes every call
// fail, as a database that went away would.
type flakyStore struct {
	*memory.EnrollStore
	down atomic.Bool
	// beforeUpdate, if set, runs once before the next Update reaches the
	// store: another request overtaking the one writing.
	beforeUpdate atomic.Pointer[func()]
}

var errStoreDown = errors.New("test store is down")

func (s *flakyStore) Get(ctx context.Context, id string) (*enroll.Enrollment, error) {
	if s.down.Load() {
		return nil, errStoreDown
	}
	return s.EnrollStore.Get(ctx, id)
}

func (s *flakyStore) Find(ctx context.Context, i enroll.Index, key string) (*enroll.Enrollment, error) {
	if s.down.Load() {
		return nil, errStoreDown
	}
	return s.EnrollStore.Find(ctx, i, key)
}

func (s *flakyStore) Update(ctx context.Context, e *enroll.Enrollment, v int64, ev ...enroll.AuditEvent) error {
	if s.down.Load() {
		return errStoreDown
	}
	if f := s.beforeUpdate.Swap(nil); f != nil {
		(*f)()
	}
	return s.EnrollStore.Update(ctx, e, v, ev...)
}

func (s *flakyStore) List(ctx context.Context, o enroll.ListOptions) ([]*enroll.Enrollment, error) {
	if s.down.Load() {
		return nil, errStoreDown
	}
	return s.EnrollStore.List(ctx, o)
}

// portalDirectory knows jane and bob.
type portalDirectory struct{}

func (portalDirectory) ManagedAppleID(ctx context.Context, userID string) (string, error) {
	switch userID {
	case testUserID:
		return testMAID, nil
	case "u-2002":
		return "bob@example.com", nil
	}
	return "", enroll.ErrUnknownUser
}

func (portalDirectory) UserID(ctx context.Context, maid string) (string, error) {
	switch strings.ToLower(maid) {
	case testMAID:
		return testUserID, nil
	case "bob@example.com":
		return "u-2002", nil
	}
	return "", enroll.ErrUnknownUser
}

// janeEmployee fills the profile flow's sign-in form as jane, declaring
// the device her own; janeCredentials fills a sign-in form without the
// ownership question. b.submit copies them, so tests share them.
var (
	janeEmployee    = map[string]string{"username": testUsername, "password": testPassword, "ownership": "employee"}
	janeCredentials = map[string]string{"username": testUsername, "password": testPassword}
)

// invite creates an invitation for jane and returns it.
func (h *harness) invite() *enroll.Invitation {
	h.t.Helper()
	inv, err := h.svc.CreateInvitation(context.Background(), enroll.Meta{Actor: "admin"}, enroll.User{ID: testUserID, Name: "Jane"})
	if err != nil {
		h.t.Fatal(err)
	}
	return inv
}

// browser is a cookie-keeping client that behaves like Safari towards the
// portal: it follows http(s) redirects and stops at any other scheme.
type browser struct {
	t      testing.TB
	c      *http.Client
	ua     string
	origin string // sent as Origin on POSTs when set
	site   string // sent as Sec-Fetch-Site on POSTs when set
}

func (h *harness) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: h.t, ua: safariUA, c: &http.Client{
		Jar: jar,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}}
}

// page is a fetched response with its body and parsed form.
type page struct {
	status int
	header http.Header
	url    *url.URL
	body   string
	forms  []form
	alert  string
	link   string // href of #download-profile
}

type form struct {
	method string
	action string
	fields url.Values // every named input with its value (checkbox/radio only when checked)
	names  []string   // every named control
}

func (b *browser) do(req *http.Request) *page {
	b.t.Helper()
	req.Header.Set("User-Agent", b.ua)
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	p := &page{status: resp.StatusCode, header: resp.Header, url: resp.Request.URL, body: string(body)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		portalParsePage(b.t, p)
		portalCheckPage(b.t, p)
	}
	return p
}

func (b *browser) get(u string) *page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

func (b *browser) post(u string, v url.Values) *page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(v.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if b.origin != "" {
		req.Header.Set("Origin", b.origin)
	}
	if b.site != "" {
		req.Header.Set("Sec-Fetch-Site", b.site)
	}
	return b.do(req)
}

// submit fills the page's only form with values (on top of its hidden and
// preset fields) and posts it.
func (b *browser) submit(p *page, values map[string]string) *page {
	b.t.Helper()
	if len(p.forms) != 1 {
		b.t.Fatalf("page %s has %d forms, want exactly 1:\n%s", p.url, len(p.forms), p.body)
	}
	f := p.forms[0]
	if f.method != "post" {
		b.t.Fatalf("form method %q, want post", f.method)
	}
	v := url.Values{}
	for k, vs := range f.fields {
		v[k] = append([]string(nil), vs...)
	}
	for k, val := range values {
		v.Set(k, val)
	}
	action, err := p.url.Parse(f.action)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.post(action.String(), v)
}

// parsePage extracts forms, the alert and the download link.
func portalParsePage(t testing.TB, p *page) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(p.body))
	if err != nil {
		t.Fatal(err)
	}
	var cur *form
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "form":
				p.forms = append(p.forms, form{method: strings.ToLower(nodeAttr(n, "method")), action: nodeAttr(n, "action"), fields: url.Values{}})
				cur = &p.forms[len(p.forms)-1]
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c)
				}
				cur = nil
				return
			case "input":
				if cur != nil && nodeAttr(n, "name") != "" {
					name := nodeAttr(n, "name")
					cur.names = append(cur.names, name)
					typ := nodeAttr(n, "type")
					if (typ != "checkbox" && typ != "radio") || nodeHasAttr(n, "checked") {
						cur.fields.Add(name, nodeAttr(n, "value"))
					}
				}
			case "a":
				if nodeAttr(n, "id") == "download-profile" {
					p.link = nodeAttr(n, "href")
				}
			}
			if nodeAttr(n, "role") == "alert" && p.alert == "" {
				p.alert = strings.Join(strings.Fields(nodeText(n)), " ")
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
}

// portalCheckPage holds every page the tests see to the portal contract
// for scripted clients and to basic accessibility: at most one form, and it
// posts; every visible control has a label; one h1; a lang attribute; a
// viewport; and an element with role="alert" on every error status.
func portalCheckPage(t testing.TB, p *page) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(p.body))
	if err != nil {
		t.Fatal(err)
	}
	var (
		h1, viewport int
		lang         string
		labelFor     = map[string]bool{}
		controls     []*html.Node
		wrapped      = map[*html.Node]bool{}
	)
	var walk func(n *html.Node, inLabel bool)
	walk = func(n *html.Node, inLabel bool) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "html":
				lang = nodeAttr(n, "lang")
			case "h1":
				h1++
			case "meta":
				if nodeAttr(n, "name") == "viewport" {
					viewport++
				}
			case "label":
				labelFor[nodeAttr(n, "for")] = true
				inLabel = true
			case "input", "select", "textarea":
				if nodeAttr(n, "type") != "hidden" {
					controls = append(controls, n)
					wrapped[n] = inLabel
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, inLabel)
		}
	}
	walk(doc, false)
	if len(p.forms) > 1 {
		t.Errorf("%s: %d forms, want at most 1", p.url, len(p.forms))
	}
	for _, f := range p.forms {
		if f.method != "post" {
			t.Errorf("%s: form method %q, want post", p.url, f.method)
		}
	}
	for _, c := range controls {
		if id := nodeAttr(c, "id"); !wrapped[c] && (id == "" || !labelFor[id]) {
			t.Errorf("%s: control %q has no label", p.url, nodeAttr(c, "name"))
		}
	}
	if h1 != 1 || lang == "" || viewport != 1 {
		t.Errorf("%s: %d h1, lang %q, %d viewport metas", p.url, h1, lang, viewport)
	}
	if p.status >= 400 && p.alert == "" {
		t.Errorf("%s: status %d without a role=alert message", p.url, p.status)
	}
}

func nodeAttr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func nodeHasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}

func nodeText(n *html.Node) string {
	if n.Type == html.TextNode {
		return n.Data
	}
	var b strings.Builder
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		b.WriteString(nodeText(c))
	}
	return b.String()
}

// wantStatus fails the test unless p has status want.
func portalWantStatus(t *testing.T, p *page, want int) {
	t.Helper()
	if p.status != want {
		t.Fatalf("%s: status %d, want %d; alert %q\n%s", p.url, p.status, want, p.alert, p.body)
	}
}

// wantPath fails the test unless p was served from the portal path want.
func portalWantPath(t *testing.T, p *page, want string) {
	t.Helper()
	if got := strings.TrimPrefix(p.url.Path, "/portal/"); got != want {
		t.Fatalf("landed on %q, want %q (status %d, alert %q)", got, want, p.status, p.alert)
	}
}
