package enroll_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"image/png"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/internal/testenv"
)

func TestPortalSecurityHeaders(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	inv := h.invite()
	b := h.browser()
	p := b.get(inv.URL)
	portalWantStatus(t, p, http.StatusOK)
	csp := p.header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "style-src 'nonce-", "frame-ancestors 'none'", "form-action 'self' apple-remotemanagement-user-login:"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	for k, want := range map[string]string{
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
		"X-Frame-Options":        "DENY",
		"Cache-Control":          "no-store",
		"Content-Type":           "text/html; charset=utf-8",
	} {
		if got := p.header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	// The nonce in the header is the one on the page's only style element,
	// and it changes per response.
	nonce := strings.TrimSuffix(strings.SplitN(strings.SplitN(csp, "'nonce-", 2)[1], "'", 2)[0], "'")
	if !strings.Contains(p.body, `<style nonce="`+nonce+`">`) {
		t.Error("page style does not carry the CSP nonce")
	}
	if q := b.get(h.srv.URL + "/portal/signin"); strings.Contains(q.header.Get("Content-Security-Policy"), nonce) {
		t.Error("nonce reused across responses")
	}
	// Accessibility and mobile basics.
	for _, want := range []string{`<html lang="en">`, `name="viewport"`, `<label for="username">`, `<label for="password">`, "<h1>", "<legend>"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("sign-in page lacks %s", want)
		}
	}
	for _, bad := range []string{"<script", "src=\"http", "href=\"http://", "<link"} {
		if strings.Contains(p.body, bad) {
			t.Errorf("page loads an external asset or script: %s", bad)
		}
	}
	ck := p.header.Values("Set-Cookie")
	if len(ck) == 0 {
		// The cookie was set on the invitation redirect; check it in the jar.
		u, _ := url.Parse(h.srv.URL + "/portal/")
		if len(b.c.Jar.Cookies(u)) != 1 {
			t.Fatal("no session cookie")
		}
	}
}

func TestPortalSessionCookie(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	inv := h.invite()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(inv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != h.srv.URL+"/portal/signin" {
		t.Fatalf("invitation: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	cs := resp.Cookies()
	if len(cs) != 1 {
		t.Fatalf("%d cookies", len(cs))
	}
	ck := cs[0]
	if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/portal/" || ck.Secure || ck.MaxAge <= 0 {
		t.Fatalf("cookie %+v", ck)
	}
	if strings.Contains(ck.Value, inv.Token) || strings.Contains(ck.Value, strings.ReplaceAll(inv.Passcode, "-", "")) {
		t.Fatal("cookie carries a secret")
	}
}

func TestPortalPagesRender(t *testing.T) {
	h := newHarness(t, harnessOptions{noTerms: true})
	inv := h.invite()
	b := h.browser()
	b.ua = "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X)"
	p := portalWalkToTerms(t, b, inv)
	if !strings.Contains(p.body, "Version "+enroll.DefaultTermsVersion) || !strings.Contains(p.body, "separate work area") {
		t.Fatal("default terms not shown when the Service has none")
	}
	if !strings.Contains(p.body, "iPad") && !strings.Contains(b.get(h.srv.URL+"/portal/signin").body, "iPad") {
		t.Log("device name not mentioned on terms page")
	}
	p = b.submit(p, map[string]string{"accept": "yes"})
	portalWantPath(t, p, "download")
	if !strings.Contains(p.body, "8 minutes") {
		t.Errorf("download page does not say how long the link lasts:\n%s", p.body)
	}
	trail, _ := h.svc.Audit(context.Background(), inv.EnrollmentID)
	last := trail[len(trail)-1]
	for _, ev := range trail {
		if ev.Event == enroll.EventConsent {
			last = ev
		}
	}
	if last.TermsVersion != enroll.DefaultTermsVersion || last.TermsDigest != enroll.TermsDigest(enroll.DefaultTermsText) {
		t.Fatalf("consent %q %q", last.TermsVersion, last.TermsDigest)
	}
	// Continue and the portal root send the browser to its step.
	for _, path := range []string{"/portal/continue", "/portal/", "/portal"} {
		q := b.get(h.srv.URL + path)
		portalWantPath(t, q, "download")
	}
	portalWantStatus(t, b.get(h.srv.URL+"/portal/no-such-page"), http.StatusNotFound)
}

func TestPortalFinalStates(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	inv := h.invite()
	b := h.browser()
	b.submit(portalWalkToTerms(t, b, inv), map[string]string{"accept": "yes"})
	ctx := context.Background()
	for _, tt := range []struct {
		state  enroll.State
		status int
	}{
		{enroll.StateEnrolled, http.StatusOK},
		{enroll.StateRemoved, http.StatusGone},
		{enroll.StateTokenIssued, http.StatusConflict},
		{enroll.StateLocked, http.StatusLocked},
		{enroll.StateExpired, http.StatusGone},
		{enroll.StateRevoked, http.StatusForbidden},
	} {
		t.Run(string(tt.state), func(t *testing.T) {
			e, err := h.store.Get(ctx, inv.EnrollmentID)
			if err != nil {
				t.Fatal(err)
			}
			v := e.Version
			e.State = tt.state
			if err := h.store.Update(ctx, e, v); err != nil {
				t.Fatal(err)
			}
			p := b.get(h.srv.URL + "/portal/continue")
			portalWantStatus(t, p, tt.status)
			if len(p.forms) != 0 {
				t.Fatal("a final page offers a form")
			}
			p = b.post(h.srv.URL+"/portal/passcode", url.Values{"passcode": {"1"}})
			portalWantStatus(t, p, tt.status)
		})
	}
}

func TestPortalAccountHandoff(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	inv := h.invite()
	b, p, _ := portalAccountSignIn(t, h)
	p = b.submit(p, nil)
	p = b.submit(p, map[string]string{"passcode": inv.Passcode})
	p = b.submit(p, nil)
	portalWantPath(t, p, "terms")
	// Consent given through the Service directly (as if the hand-off
	// response was lost): the web view shows one button to finish.
	if _, err := h.svc.AcceptTerms(context.Background(), enroll.Meta{}, inv.EnrollmentID,
		enroll.Consent{Version: testTermsVer, Digest: enroll.TermsDigest(testTermsText)}); err != nil {
		t.Fatal(err)
	}
	p = b.get(h.srv.URL + "/portal/continue")
	portalWantPath(t, p, "account/complete")
	if len(p.forms) != 1 || len(p.forms[0].names) != 0 {
		t.Fatalf("hand-off page forms %+v", p.forms)
	}
	portalWantHandoff(t, b.submit(p, nil))
}

func TestPortalInvitationQRCode(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	inv := h.invite()
	resp, body := portalFetch(t, inv.URL+"/qr.png")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("QR: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if _, err := png.Decode(bytes.NewReader(body)); err != nil {
		t.Fatalf("QR is not a PNG: %v", err)
	}
	resp, _ = portalFetch(t, h.srv.URL+"/portal/invitation/unknown/qr.png")
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("QR of unknown invitation: %d", resp.StatusCode)
	}
	if got := h.portal.InvitationURL(inv.Token); got != inv.URL {
		t.Fatalf("Portal.InvitationURL = %q, Service built %q", got, inv.URL)
	}
}

func TestPortalTemplateOverride(t *testing.T) {
	fsys := fstest.MapFS{
		"signin.html": {Data: []byte(`{{define "title"}}Welcome to {{.Organization}}{{end}}{{define "main"}}<form method="post" action="{{.Action}}"><label>User <input name="username"></label><label>Password <input name="password" type="password"></label><button>Go</button></form>{{end}}`)},
	}
	h := newHarness(t, harnessOptions{portalCfg: func(c *enroll.PortalConfig) { c.Templates = fsys; c.Lang = "de" }})
	inv := h.invite()
	p := h.browser().get(inv.URL)
	portalWantStatus(t, p, http.StatusOK)
	if !strings.Contains(p.body, "<h1>Welcome to Example Corp</h1>") || !strings.Contains(p.body, `<html lang="de">`) {
		t.Fatalf("override not used:\n%s", p.body)
	}

	bad := []fstest.MapFS{
		{"signin.html": {Data: []byte(`{{define "main"}}{{.Nope`)}},
		{"layout.html": {Data: []byte(`{{define "other"}}{{end}}`)}},
		{"terms.html": {Data: []byte(`no definitions`)}},
		{"info.html": {Mode: 0o200 | 1<<31}}, // a directory named like a page
	}
	for i, fsys := range bad {
		_, err := enroll.NewPortal(h.svc, enroll.PortalConfig{SessionKey: make([]byte, 32), Templates: fsys})
		if err == nil {
			t.Errorf("bad template set %d accepted", i)
		}
	}
}

func TestNewPortalConfig(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	key := make([]byte, 32)
	// The portal's URL is the Service's PortalURL, checked by New.
	for _, u := range []string{"/portal/", "ftp://e.example/", "https://e.example/?a=b", "https://e.example/#top"} {
		cfg := h.cfg
		cfg.PortalURL = u
		if _, err := enroll.New(h.store, cfg); err == nil || !strings.HasPrefix(err.Error(), "enroll: New: Config.PortalURL") {
			t.Errorf("PortalURL %q: error = %v", u, err)
		}
	}
	noPortal := h.cfg
	noPortal.PortalURL = ""
	noPortal.InvitationURL = func(token string) string { return "https://intranet.example/i/" + token }
	invitesOnly, err := enroll.New(h.store, noPortal)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		svc  *enroll.Service
		cfg  enroll.PortalConfig
	}{
		{"nil service", nil, enroll.PortalConfig{SessionKey: key}},
		{"service without portal url", invitesOnly, enroll.PortalConfig{SessionKey: key}},
		{"short key", h.svc, enroll.PortalConfig{SessionKey: key[:31]}},
		{"bad origin", h.svc, enroll.PortalConfig{SessionKey: key, TrustedOrigins: []string{"not an origin"}}},
		{"device roots and skip", h.svc, enroll.PortalConfig{SessionKey: key, DeviceRoots: x509.NewCertPool(), InsecureSkipDeviceChainCheck: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := enroll.NewPortal(tt.svc, tt.cfg); err == nil || !strings.HasPrefix(err.Error(), "enroll: ") {
				t.Fatalf("error = %v", err)
			}
		})
	}
	p, err := enroll.NewPortal(h.serviceAt("https://e.example/enroll"), enroll.PortalConfig{SessionKey: key, TrustedOrigins: []string{"https://intranet.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.BaseURL() != "https://e.example/enroll/account/enroll" || p.AccountStartURL() != "https://e.example/enroll/account/start" {
		t.Fatalf("BaseURL %q AccountStartURL %q", p.BaseURL(), p.AccountStartURL())
	}
}

func TestPortalMounting(t *testing.T) {
	h := newHarness(t, harnessOptions{portalCfg: func(c *enroll.PortalConfig) {
		c.ClientIP = func(r *http.Request) string { return r.Header.Get("X-Test-Client") }
	}})
	inv := h.invite()
	// Behind http.StripPrefix the portal sees paths without its prefix.
	stripped := http.StripPrefix("/portal", h.portal)
	r := httptest.NewRequest(http.MethodGet, "/portal/invitation/"+inv.Token, nil)
	r.Header.Set("X-Test-Client", "203.0.113.9")
	w := httptest.NewRecorder()
	stripped.ServeHTTP(w, r)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("stripped mount: %d", w.Code)
	}
	form := url.Values{"username": {testUsername}, "password": {testPassword}, "ownership": {"employee"}}
	r = httptest.NewRequest(http.MethodPost, "/portal/signin", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("X-Test-Client", "203.0.113.9")
	r.AddCookie(w.Result().Cookies()[0])
	w = httptest.NewRecorder()
	stripped.ServeHTTP(w, r)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != h.srv.URL+"/portal/privacy" {
		t.Fatalf("stripped sign-in: %d %q", w.Code, w.Header().Get("Location"))
	}
	if last := lastAudit(t, h.svc, inv.EnrollmentID); last.ClientIP != "203.0.113.9" {
		t.Errorf("ClientIP hook not used: %+v", last)
	}
	// Mounted at the root with a root PublicURL.
	root, err := enroll.NewPortal(h.serviceAt("https://e.example"), enroll.PortalConfig{SessionKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	w = httptest.NewRecorder()
	root.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "https://e.example/invitation/"+h.invite().Token, nil))
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "https://e.example/signin" {
		t.Fatalf("root mount: %d %q", w.Code, w.Header().Get("Location"))
	}
	ck := w.Result().Cookies()
	if len(ck) != 1 || !ck[0].Secure || ck[0].Path != "/" {
		t.Fatalf("cookie for an https portal: %+v", ck)
	}
}

func TestPortalWellKnown(t *testing.T) {
	h := newHarness(t, harnessOptions{portalCfg: func(c *enroll.PortalConfig) { c.WellKnownMessage = "Ask IT." }})
	h.invite()
	wk := h.srv.URL + enroll.WellKnownPath
	for _, tt := range []struct {
		name   string
		method string
		query  string
		status int
	}{
		{"known user", http.MethodGet, "user-identifier=jane%40example.com&model-family=iPhone", http.StatusOK},
		{"known user, other case", http.MethodGet, "user-identifier=Jane%40Example.com", http.StatusOK},
		{"user without invitation", http.MethodGet, "user-identifier=bob%40example.com", http.StatusForbidden},
		{"unknown user", http.MethodGet, "user-identifier=eve%40example.com", http.StatusForbidden},
		{"unknown domain", http.MethodGet, "user-identifier=jane%40other.example", http.StatusForbidden},
		{"no identifier", http.MethodGet, "model-family=iPhone", http.StatusBadRequest},
		{"ipad", http.MethodGet, "user-identifier=jane%40example.com&model-family=iPad", http.StatusOK},
		{"apple tv", http.MethodGet, "user-identifier=jane%40example.com&model-family=AppleTV", http.StatusForbidden},
		{"watch", http.MethodGet, "user-identifier=jane%40example.com&model-family=Watch", http.StatusForbidden},
		{"post", http.MethodPost, "user-identifier=jane%40example.com", http.StatusMethodNotAllowed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, wk+"?"+tt.query, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("status %d type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			if tt.status == http.StatusOK {
				var ok enroll.WellKnownResponse
				if err := json.NewDecoder(resp.Body).Decode(&ok); err != nil || len(ok.Servers) != 1 ||
					ok.Servers[0].Version != enroll.WellKnownVersionBYOD || ok.Servers[0].BaseURL != h.portal.BaseURL() {
					t.Fatalf("body %+v %v", ok, err)
				}
				return
			}
			var fail enroll.WellKnownError
			if err := json.NewDecoder(resp.Body).Decode(&fail); err != nil || fail.Code != enroll.WellKnownFailedCode || fail.Message == "" || fail.Description == "" || (!strings.Contains(tt.query, "model-family") && fail.Message != "Ask IT.") {
				t.Fatalf("body %+v %v", fail, err)
			}
		})
	}
}

func TestPortalBaseURLRefusals(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.invite()
	dev := newPortalDeviceCA(t)
	good := dev.machineInfo(t)
	for _, tt := range []struct {
		name   string
		method string
		ctype  string
		body   []byte
		auth   string
		status int
	}{
		{"get", http.MethodGet, "", nil, "", http.StatusMethodNotAllowed},
		{"too large", http.MethodPost, "application/pkcs7-signature", make([]byte, enroll.MaxMachineInfoSize+1), "", http.StatusRequestEntityTooLarge},
		{"not signed", http.MethodPost, "application/pkcs7-signature", []byte("<plist/>"), "", http.StatusBadRequest},
		{"empty", http.MethodPost, "application/pkcs7-signature; charset=binary", nil, "", http.StatusBadRequest},
		{"basic auth", http.MethodPost, "application/pkcs7-signature", good, "Basic amFuZTpwdw==", http.StatusUnauthorized},
		{"empty bearer", http.MethodPost, "application/pkcs7-signature", good, "Bearer ", http.StatusUnauthorized},
		{"unknown bearer", http.MethodPost, "application/pkcs7-signature", good, "Bearer abc", http.StatusUnauthorized},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, h.portal.BaseURL(), bytes.NewReader(tt.body))
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status == http.StatusUnauthorized {
				ch, err := enroll.ParseBearerChallenge(resp.Header.Get("WWW-Authenticate"))
				if err != nil || ch.Method != enroll.BearerChallengeMethodWeb || ch.URL != h.portal.AccountStartURL() {
					t.Fatalf("challenge %+v %v", ch, err)
				}
			}
		})
	}
}

// TestBaseURLAcceptsAnyContentType: some iOS releases post the signed
// MachineInfo as application/x-www-form-urlencoded, others with no
// Content-Type; the signature over the body is what proves the request, so
// each gets the Bearer challenge before consent and the profile after.
func TestBaseURLAcceptsAnyContentType(t *testing.T) {
	devCA := newPortalDeviceCA(t)
	h := newHarness(t, harnessOptions{deviceRoots: devCA.pool()})
	inv := h.invite()
	baseURL, webURL := portalDiscover(t, h, devCA)
	types := []string{"application/x-www-form-urlencoded", "", "application/octet-stream", "text/plain; charset=utf-8"}
	for _, ct := range types {
		resp, _ := portalPostBaseURLAs(t, baseURL, ct, devCA.machineInfo(t), "")
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("Content-Type %q before consent: %d, want 401 with a challenge", ct, resp.StatusCode)
		}
	}
	tok := portalAccountWalk(t, h, webURL)
	for _, ct := range types {
		resp, body := portalPostBaseURLAs(t, baseURL, ct, devCA.machineInfo(t), tok)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("Content-Type %q with the access token: %d, want 200", ct, resp.StatusCode)
		}
		h.parseProfile(t, body)
	}
	h.wantState(t, inv.EnrollmentID, enroll.StateTokenIssued)
	// The size limit still holds whatever the type.
	resp, _ := portalPostBaseURLAs(t, baseURL, "application/x-www-form-urlencoded", make([]byte, enroll.MaxMachineInfoSize+1), tok)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversize form-encoded body: %d, want 413", resp.StatusCode)
	}
}

// TestBaseURLOvertaken: a device's second request to the BaseURL commits
// while its first is building a profile. The first is built again and
// answered, not failed, and the enrollment keeps the identity of the
// profile answered last.
func TestBaseURLOvertaken(t *testing.T) {
	devCA := newPortalDeviceCA(t)
	h := newHarness(t, harnessOptions{deviceRoots: devCA.pool()})
	inv := h.invite()
	baseURL, webURL := portalDiscover(t, h, devCA)
	tok := portalAccountWalk(t, h, webURL)
	overtake := func() {
		resp, _ := portalPostBaseURL(t, baseURL, devCA.machineInfo(t), tok)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("overtaking request: %d, want 200", resp.StatusCode)
		}
	}
	h.store.beforeUpdate.Store(&overtake)
	resp, body := portalPostBaseURL(t, baseURL, devCA.machineInfo(t), tok)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("overtaken request: %d, want 200 with a profile built again", resp.StatusCode)
	}
	if h.store.beforeUpdate.Load() != nil {
		t.Fatal("the overtaking request never ran")
	}
	h.wantState(t, inv.EnrollmentID, enroll.StateTokenIssued)
	sum := sha256.Sum256([]byte(h.scepChallenge(t, body)))
	e, err := h.svc.Get(context.Background(), inv.EnrollmentID)
	if err != nil {
		t.Fatal(err)
	}
	if e.ChallengeHash != hex.EncodeToString(sum[:]) {
		t.Fatal("the enrollment's challenge is not the one of the profile answered last")
	}
}

// TestBaseURLRevokedWhileBuilding: the enrollment is revoked while the
// BaseURL builds its profile. The device is sent to authenticate again
// (401 with the challenge), as a request a moment later would be, not
// answered with a server error, and nothing is served.
func TestBaseURLRevokedWhileBuilding(t *testing.T) {
	devCA := newPortalDeviceCA(t)
	h := newHarness(t, harnessOptions{deviceRoots: devCA.pool()})
	inv := h.invite()
	baseURL, webURL := portalDiscover(t, h, devCA)
	tok := portalAccountWalk(t, h, webURL)
	revoke := func() {
		if _, err := h.svc.Revoke(context.Background(), enroll.Meta{Actor: "admin"}, inv.EnrollmentID, "left the company"); err != nil {
			t.Error(err)
		}
	}
	h.store.beforeUpdate.Store(&revoke)
	resp, _ := portalPostBaseURL(t, baseURL, devCA.machineInfo(t), tok)
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("revoked while building: %d, want 401 with a challenge", resp.StatusCode)
	}
	h.wantState(t, inv.EnrollmentID, enroll.StateRevoked)
}

func TestPortalAccountStartRefusals(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	b := h.browser()
	portalWantStatus(t, b.get(h.srv.URL+"/portal/account/start"), http.StatusBadRequest)
	portalWantStatus(t, b.get(h.srv.URL+"/portal/account/start?user-identifier=eve%40example.com"), http.StatusNotFound)
	portalWantStatus(t, b.get(h.srv.URL+"/portal/account/start?user-identifier=jane%40example.com"), http.StatusNotFound)
}

func TestPortalStoreFailure(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	inv := h.invite()
	b := h.browser()
	signin := b.get(inv.URL)
	dev := newPortalDeviceCA(t)

	h.store.down.Store(true)
	defer h.store.down.Store(false)
	for name, p := range map[string]*page{
		"invitation": b.get(inv.URL),
		"step page":  b.get(h.srv.URL + "/portal/signin"),
		"continue":   b.get(h.srv.URL + "/portal/continue"),
		"sign in":    b.submit(signin, janeEmployee),
		"download":   b.get(h.srv.URL + "/portal/profile/some-token"),
		"account":    b.get(h.srv.URL + "/portal/account/start?user-identifier=jane%40example.com"),
	} {
		t.Run(name, func(t *testing.T) {
			portalWantStatus(t, p, http.StatusInternalServerError)
			if p.alert == "" || strings.Contains(p.body, errStoreDown.Error()) {
				t.Fatalf("500 page alert %q leaks the error: %v", p.alert, strings.Contains(p.body, errStoreDown.Error()))
			}
		})
	}
	resp, body := portalFetch(t, h.srv.URL+enroll.WellKnownPath+"?user-identifier=jane%40example.com")
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), enroll.WellKnownFailedCode) {
		t.Fatalf("well-known with the store down: %d %s", resp.StatusCode, body)
	}
	resp, _ = portalPostBaseURL(t, h.portal.BaseURL(), dev.machineInfo(t), "some-token")
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("BaseURL with the store down: %d", resp.StatusCode)
	}
}

// TestPortalConcurrentPasscodes posts wrong passcodes from many goroutines
// with one session: the attempt limit holds exactly, whatever the
// interleaving.
func TestPortalConcurrentPasscodes(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	inv := h.invite()
	b := h.browser()
	portalWalkToPasscode(t, b, inv)
	wrong := "00000000"
	if strings.ReplaceAll(inv.Passcode, "-", "") == wrong {
		wrong = "11111111"
	}
	const n = 24
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- b.post(h.srv.URL+"/portal/passcode", url.Values{"passcode": {wrong}}).status
		}()
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for st := range statuses {
		count[st]++
	}
	if count[http.StatusUnauthorized] != enroll.DefaultPasscodeAttempts-1 || count[http.StatusLocked] != n-enroll.DefaultPasscodeAttempts+1 {
		t.Fatalf("statuses %v, want %d×401 and the rest 423", count, enroll.DefaultPasscodeAttempts-1)
	}
	h.wantState(t, inv.EnrollmentID, enroll.StateLocked)
}

func TestPortalSessionSlides(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	inv := h.invite()
	b := h.browser()
	p := b.get(inv.URL)
	h.clock.Advance(enroll.DefaultSessionTTL - time.Minute)
	p = b.submit(p, janeEmployee)
	portalWantPath(t, p, "privacy")
	// More than the TTL after the invitation was opened, but less after
	// the last step: the session is still good.
	h.clock.Advance(enroll.DefaultSessionTTL - time.Minute)
	p = b.submit(p, nil)
	portalWantPath(t, p, "passcode")
}

func TestPortalTemplateExecutionError(t *testing.T) {
	fsys := fstest.MapFS{
		"signin.html": {Data: []byte(`{{define "title"}}x{{end}}{{define "main"}}{{.NoSuchField}}{{end}}`)},
	}
	h := newHarness(t, harnessOptions{portalCfg: func(c *enroll.PortalConfig) { c.Templates = fsys }})
	inv := h.invite()
	p := h.browser().get(inv.URL)
	portalWantStatus(t, p, http.StatusInternalServerError)
	if p.header.Get("X-Content-Type-Options") != "nosniff" || p.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("headers %v", p.header)
	}
}

func TestPortalInfoScreen(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	inv := h.invite()
	b := h.browser()
	p := portalWalkToPasscode(t, b, inv)
	p = b.submit(p, map[string]string{"passcode": inv.Passcode})
	portalWantPath(t, p, "info")
	for _, want := range []string{"Download the profile", "Install it", "Sign in with your work account", testMAID} {
		if !strings.Contains(p.body, want) {
			t.Errorf("information screen lacks %q", want)
		}
	}
	if len(p.forms) != 1 || len(p.forms[0].names) != 0 {
		t.Fatal("want one form with only a button")
	}
	e, _ := h.svc.Get(context.Background(), inv.EnrollmentID)
	if !e.InfoSeenAt.IsZero() {
		t.Fatal("information acknowledged by showing it")
	}
	p = b.submit(p, nil)
	portalWantPath(t, p, "terms")
	e, _ = h.svc.Get(context.Background(), inv.EnrollmentID)
	if e.InfoSeenAt.IsZero() {
		t.Fatal("information not acknowledged")
	}
}

// TestPortalBehindProxy checks that a browser post whose Origin is the
// public URL is accepted even when a proxy changed the Host header, and
// that other origins are still refused.
func TestPortalBehindProxy(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p, err := enroll.NewPortal(h.serviceAt("https://enroll.example.com/portal/"), enroll.PortalConfig{SessionKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	inv := h.invite()
	w := httptest.NewRecorder()
	p.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://backend:8080/portal/invitation/"+inv.Token, nil))
	cookie := w.Result().Cookies()[0]
	for _, tt := range []struct {
		origin string
		status int
	}{
		{"https://enroll.example.com", http.StatusSeeOther},
		{"https://evil.example", http.StatusForbidden},
	} {
		form := url.Values{"username": {testUsername}, "password": {testPassword}, "ownership": {"employee"}}
		r := httptest.NewRequest(http.MethodPost, "http://backend:8080/portal/signin", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Origin", tt.origin)
		r.Header.Set("Sec-Fetch-Site", "cross-site")
		r.AddCookie(cookie)
		w := httptest.NewRecorder()
		p.ServeHTTP(w, r)
		if w.Code != tt.status {
			t.Errorf("origin %s: %d, want %d", tt.origin, w.Code, tt.status)
		}
	}
}

// TestPortalLogsNoSecrets runs failing requests that carry tokens in their
// paths and checks the tokens stay out of the log.
func TestPortalLogsNoSecrets(t *testing.T) {
	var buf testenv.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := newHarness(t, harnessOptions{portalCfg: func(c *enroll.PortalConfig) { c.Logger = logger }})
	inv := h.invite()
	h.store.down.Store(true)
	b := h.browser()
	portalWantStatus(t, b.get(inv.URL), http.StatusInternalServerError)
	portalWantStatus(t, b.get(h.srv.URL+"/portal/profile/secret-download-token"), http.StatusInternalServerError)
	h.store.down.Store(false)
	out := buf.String()
	if !strings.Contains(out, "portal step failed") {
		t.Fatalf("failure not logged:\n%s", out)
	}
	// Errors are logged under "err", as in every package.
	if !strings.Contains(out, " err=") || strings.Contains(out, " error=") {
		t.Fatalf("error not logged under the key err:\n%s", out)
	}
	for _, secret := range []string{inv.Token, "secret-download-token"} {
		if strings.Contains(out, secret) {
			t.Fatalf("log carries a token:\n%s", out)
		}
	}
}

// TestPortalFlowSwitch starts in Safari with the invitation link and
// continues in the device's web view of account-driven enrollment, which
// shares Safari's cookies: the session carries over, and the hand-off is
// account-driven.
func TestPortalFlowSwitch(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	inv := h.invite()
	b := h.browser()
	p := portalWalkToPasscode(t, b, inv)
	p = b.get(h.srv.URL + "/portal/account/start?user-identifier=" + url.QueryEscape(testMAID))
	portalWantPath(t, p, "passcode")
	p = b.submit(p, map[string]string{"passcode": inv.Passcode})
	p = b.submit(p, nil)
	portalWantHandoff(t, b.submit(p, map[string]string{"accept": "yes"}))
}
