package enroll_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/internal/testenv"
	"github.com/enrollkit/enrollkit/profile"
)

// Security tests: what an attacker in front of the portal, the BaseURL or
// the MDM server can and cannot learn or change.

// scepChallenge returns the SCEP challenge of a served profile.
func (h *harness) scepChallenge(t *testing.T, data []byte) string {
	t.Helper()
	parsed, _ := h.parseProfile(t, data)
	for _, pl := range parsed.Profile.Payloads {
		if s, ok := pl.(*profile.SCEP); ok && s.Challenge != "" {
			return s.Challenge
		}
	}
	t.Fatal("profile has no SCEP challenge")
	return ""
}

// sessionCookie returns the browser's portal session cookie value.
func (b *browser) sessionCookie(t *testing.T, base string) string {
	t.Helper()
	u, _ := url.Parse(base + "/portal/")
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "enrollkit_session" {
			return c.Value
		}
	}
	t.Fatal("browser holds no portal session cookie")
	return ""
}

// checkinRaw sends a signed check-in with the given bearer token and
// returns the HTTP status.
func (d *portalDevice) checkinRaw(t *testing.T, msg map[string]any, bearer string) int {
	t.Helper()
	saved := d.bearer
	d.bearer = bearer
	defer func() { d.bearer = saved }()
	mt, _ := msg["MessageType"].(string)
	rest := make(map[string]any, len(msg))
	for k, v := range msg {
		if k != "MessageType" {
			rest[k] = v
		}
	}
	return d.checkin(t, mt, rest)
}

// TestSecurityLogsCarryNoSecrets runs both flows end to end, with their
// unhappy paths, while every component logs at Debug into one buffer, and
// then looks for every secret used on the way: invitation token, passcode,
// corporate password (right and wrong ones), session cookie, download
// link, access token, SCEP challenge, push magic and device token.
func TestSecurityLogsCarryNoSecrets(t *testing.T) {
	var buf testenv.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	devCA := newPortalDeviceCA(t)
	h := newHarness(t, harnessOptions{logger: logger, deviceRoots: devCA.pool()})
	var secrets []string
	add := func(s ...string) { secrets = append(secrets, s...) }
	add(testPassword)

	// Profile-based flow, with a wrong passcode, a tampered cookie, a
	// reused download link and a device that checks in.
	inv := h.invite()
	add(inv.Token, inv.Passcode, strings.ReplaceAll(inv.Passcode, "-", ""))
	b := h.browser()
	p := portalWalkToPasscode(t, b, inv)
	wrong := "00000000"
	if strings.ReplaceAll(inv.Passcode, "-", "") == wrong {
		wrong = "11111111"
	}
	add(wrong)
	portalWantStatus(t, b.submit(p, map[string]string{"passcode": wrong}), http.StatusUnauthorized)
	p = b.get(h.srv.URL + "/portal/passcode")
	p = b.submit(p, map[string]string{"passcode": inv.Passcode})
	portalWantPath(t, p, "info")
	cookie := b.sessionCookie(t, h.srv.URL)
	add(cookie)
	// A tampered cookie is logged as tampered, without its value.
	tb := h.browser()
	u, _ := url.Parse(h.srv.URL + "/portal/")
	tb.c.Jar.SetCookies(u, []*http.Cookie{{Name: "enrollkit_session", Value: cookie[:len(cookie)-2] + "AA", Path: "/portal/"}})
	portalWantStatus(t, tb.get(h.srv.URL+"/portal/info"), http.StatusForbidden)
	p = b.submit(p, nil)
	p = b.submit(p, map[string]string{"accept": "yes"})
	portalWantPath(t, p, "download")
	add(path.Base(p.link))
	resp, data := portalFetch(t, p.link)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("download: %d", resp.StatusCode)
	}
	if resp, _ := portalFetch(t, p.link); resp.StatusCode != http.StatusGone {
		t.Fatalf("second download: %d, want 410", resp.StatusCode)
	}
	add(h.scepChallenge(t, data))
	dev := h.installProfile(t, data, "UE-LOGS-1", "")
	pushToken := bytes.Repeat([]byte{0xC0, 0xFF, 0xEE, 0x42}, 8)
	pushMagic := "8F3A1E2C-PUSH-MAGIC-5D4B"
	add(hex.EncodeToString(pushToken), strings.ToUpper(hex.EncodeToString(pushToken)),
		base64.StdEncoding.EncodeToString(pushToken), pushMagic)
	token := map[string]any{"MessageType": "TokenUpdate", "Token": pushToken, "PushMagic": pushMagic}
	if st := dev.checkinRaw(t, map[string]any{"MessageType": "Authenticate", "OSVersion": "17.5", "BuildVersion": "21F79", "ProductName": "iPhone15,2"}, ""); st != http.StatusOK {
		t.Fatalf("Authenticate: %d", st)
	}
	if st := dev.checkinRaw(t, token, ""); st != http.StatusOK {
		t.Fatalf("TokenUpdate: %d", st)
	}

	// Account-driven flow, with a forged and a revoked bearer token.
	inv2 := h.invite()
	add(inv2.Token, inv2.Passcode, strings.ReplaceAll(inv2.Passcode, "-", ""))
	baseURL, webURL := portalDiscover(t, h, devCA)
	forged := "forged-access-token-Zq8Wm3"
	add(forged)
	if resp, _ := portalPostBaseURL(t, baseURL, devCA.machineInfo(t), forged); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("BaseURL with a forged token: %d, want 401", resp.StatusCode)
	}
	tok := portalAccountWalk(t, h, webURL)
	add(tok)
	resp, data = portalPostBaseURL(t, baseURL, devCA.machineInfo(t), tok)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("BaseURL with token: %d", resp.StatusCode)
	}
	add(h.scepChallenge(t, data))
	dev2 := h.installProfile(t, data, "UE-LOGS-2", tok)
	if st := dev2.checkinRaw(t, map[string]any{"MessageType": "Authenticate"}, forged); st != http.StatusUnauthorized && st != http.StatusForbidden {
		t.Fatalf("Authenticate with a forged token: %d", st)
	}
	if st := dev2.checkinRaw(t, map[string]any{"MessageType": "Authenticate"}, tok); st != http.StatusOK {
		t.Fatalf("Authenticate: %d", st)
	}
	if st := dev2.checkinRaw(t, token, tok); st != http.StatusOK {
		t.Fatalf("TokenUpdate: %d", st)
	}
	if _, err := h.svc.Revoke(context.Background(), enroll.Meta{Actor: "admin"}, inv2.EnrollmentID, "test"); err != nil {
		t.Fatal(err)
	}
	if st := dev2.checkinRaw(t, token, tok); st == http.StatusOK {
		t.Fatal("TokenUpdate with a revoked token accepted")
	}
	if resp, _ := portalPostBaseURL(t, baseURL, devCA.machineInfo(t), tok); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("BaseURL with a revoked token: %d, want 401", resp.StatusCode)
	}

	// Wrong passwords until the throttle locks the invitation out: the
	// failures and the lock-out are logged, the passwords are not.
	inv3 := h.invite()
	add(inv3.Token, inv3.Passcode, strings.ReplaceAll(inv3.Passcode, "-", ""))
	b3 := h.browser()
	p3 := b3.get(inv3.URL)
	for i := range 6 {
		pw := fmt.Sprintf("Wr0ng-Passw0rd-%d", i)
		add(pw)
		p3 = b3.submit(p3, map[string]string{"username": testUsername, "password": pw, "ownership": "employee"})
	}
	portalWantStatus(t, p3, http.StatusTooManyRequests)

	out := buf.String()
	for _, want := range []string{"level=DEBUG", "level=INFO", "level=WARN"} {
		if !strings.Contains(out, want) {
			t.Logf("no %s line was logged", want)
		}
	}
	for _, want := range []string{"tampered portal session cookie", "mdm: check-in", "enroll: wrong passcode",
		"enroll: sign-in failed", "enroll: sign-ins to an enrollment locked out"} {
		if !strings.Contains(out, want) {
			t.Fatalf("the flows were not logged (no %q):\n%s", want, out)
		}
	}
	for _, s := range secrets {
		if len(s) < 6 {
			t.Fatalf("secret %q is too short to look for", s)
		}
		if strings.Contains(out, s) {
			t.Errorf("the log carries the secret %q", s)
		}
	}
	if t.Failed() {
		t.Logf("log:\n%s", out)
	}
}

// TestSecuritySignInUnknownUser checks that an Authenticator that tells an
// unknown username apart (ErrUnknownUser, ErrNotFound) does not make the
// portal answer differently from a wrong password.
func TestSecuritySignInUnknownUser(t *testing.T) {
	for _, unknown := range []error{enroll.ErrUnknownUser, enroll.ErrNotFound} {
		t.Run(unknown.Error(), func(t *testing.T) {
			auth := enroll.AuthenticatorFunc(func(ctx context.Context, username, password string) (enroll.User, error) {
				switch {
				case username != testUsername:
					return enroll.User{}, unknown
				case password != testPassword:
					return enroll.User{}, enroll.ErrBadCredentials
				}
				return enroll.User{ID: testUserID, Name: "Jane"}, nil
			})
			h := newHarness(t, harnessOptions{authenticator: auth})
			inv := h.invite()
			b := h.browser()
			p := b.get(inv.URL)
			portalWantPath(t, p, "signin")
			wrongPassword := b.submit(p, map[string]string{"username": testUsername, "password": "wrong", "ownership": "employee"})
			unknownUser := b.submit(p, map[string]string{"username": "nobody", "password": "wrong", "ownership": "employee"})
			portalWantStatus(t, wrongPassword, http.StatusUnauthorized)
			if unknownUser.status != wrongPassword.status || unknownUser.alert != wrongPassword.alert {
				t.Fatalf("unknown user answered %d %q, wrong password %d %q",
					unknownUser.status, unknownUser.alert, wrongPassword.status, wrongPassword.alert)
			}
			h.wantState(t, inv.EnrollmentID, enroll.StateInvited)
		})
	}
}

// TestSecurityDownloadCrossSite checks that the download step, the one
// GET that changes the enrollment, does nothing when another site started
// the navigation, and works when the user follows the offered link.
func TestSecurityDownloadCrossSite(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	inv := h.invite()
	b := h.browser()
	p := b.submit(portalWalkToTerms(t, b, inv), map[string]string{"accept": "yes"})
	portalWantPath(t, p, "download")
	first := p.link
	before, err := h.svc.Get(context.Background(), inv.EnrollmentID)
	if err != nil {
		t.Fatal(err)
	}
	for _, site := range []string{"cross-site", "same-site"} {
		req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/portal/download", nil)
		req.Header.Set("Sec-Fetch-Site", site)
		q := b.do(req)
		portalWantStatus(t, q, http.StatusForbidden)
		if q.link != "" || q.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("%s: refused page has link %q, Cache-Control %q", site, q.link, q.header.Get("Cache-Control"))
		}
		if !strings.Contains(q.body, `href="`+h.srv.URL+`/portal/download"`) {
			t.Fatalf("%s: refused page offers no link to continue:\n%s", site, q.body)
		}
		after, err := h.svc.Get(context.Background(), inv.EnrollmentID)
		if err != nil {
			t.Fatal(err)
		}
		if after.Version != before.Version || after.DownloadHash != before.DownloadHash {
			t.Fatalf("%s navigation changed the enrollment (version %d → %d)", site, before.Version, after.Version)
		}
	}
	for _, site := range []string{"same-origin", "none"} {
		req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/portal/download", nil)
		req.Header.Set("Sec-Fetch-Site", site)
		q := b.do(req)
		portalWantStatus(t, q, http.StatusOK)
		if q.link == "" || q.link == first {
			t.Fatalf("%s: link %q (first %q)", site, q.link, first)
		}
	}
}

// TestSecurityPasscodeAttemptsSurvive checks that neither opening the
// invitation again nor signing in again in a new browser resets the
// count of wrong passcodes: the fifth wrong one locks, whatever happened
// in between.
func TestSecurityPasscodeAttemptsSurvive(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	inv := h.invite()
	wrong := "00000000"
	if strings.ReplaceAll(inv.Passcode, "-", "") == wrong {
		wrong = "11111111"
	}
	b := h.browser()
	p := portalWalkToPasscode(t, b, inv)
	for i := 1; i <= 5; i++ {
		switch i % 2 {
		case 0: // the same browser opens the invitation again
			p = b.get(inv.URL)
		case 1: // a new browser: sign in again
			b = h.browser()
			p = b.get(inv.URL)
			portalWantPath(t, p, "signin")
			p = b.submit(p, janeCredentials)
			if strings.HasSuffix(p.url.Path, "/privacy") {
				p = b.submit(p, nil)
			}
		}
		portalWantPath(t, p, "passcode")
		q := b.submit(p, map[string]string{"passcode": wrong})
		e, err := h.svc.Get(context.Background(), inv.EnrollmentID)
		if err != nil {
			t.Fatal(err)
		}
		if i < 5 {
			portalWantStatus(t, q, http.StatusUnauthorized)
			if e.Passcode.Attempts != i {
				t.Fatalf("after %d wrong passcodes the count is %d", i, e.Passcode.Attempts)
			}
			continue
		}
		portalWantStatus(t, q, http.StatusLocked)
		if e.State != enroll.StateLocked {
			t.Fatalf("after 5 wrong passcodes the enrollment is %s", e.State)
		}
	}
	// The right passcode no longer helps, from any browser.
	b = h.browser()
	portalWantStatus(t, b.get(inv.URL), http.StatusLocked)
}

// TestSecurityRefusedCrossOriginPostLogsNoToken posts from another origin
// to paths that carry secret tokens: the refusal is logged with the route,
// never the token.
func TestSecurityRefusedCrossOriginPostLogsNoToken(t *testing.T) {
	var buf testenv.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := newHarness(t, harnessOptions{logger: logger})
	inv := h.invite()
	b := h.browser()
	b.origin, b.site = "https://evil.example", "cross-site"
	const dl = "secret-download-token-7Hq2"
	for _, tc := range []struct{ path, route string }{
		{"/portal/invitation/" + inv.Token, "/invitation/{token}"},
		{"/portal/invitation/" + inv.Token + "/qr.png", "/invitation/{token}/qr.png"},
		{"/portal/profile/" + dl, "/profile/{token}"},
		{"/portal/signin", "/signin"},
		{"/portal/x/" + dl, "other"},
	} {
		portalWantStatus(t, b.post(h.srv.URL+tc.path, url.Values{"a": {"b"}}), http.StatusForbidden)
		if out := buf.String(); !strings.Contains(out, "route="+tc.route) {
			t.Fatalf("%s: refusal not logged with route %s:\n%s", tc.path, tc.route, out)
		}
	}
	out := buf.String()
	for _, s := range []string{inv.Token, dl} {
		if strings.Contains(out, s) {
			t.Fatalf("the log carries the token %q:\n%s", s, out)
		}
	}
	h.wantState(t, inv.EnrollmentID, enroll.StateInvited)
}

// TestSecuritySessionNotCarriedAcrossEnrollments checks that a browser
// signed in on one enrollment that opens another enrollment's invitation
// (or its account-driven start) is asked to sign in again: a session never
// lends its sign-in to another enrollment.
func TestSecuritySessionNotCarriedAcrossEnrollments(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	jane := h.invite()
	bob, err := h.svc.CreateInvitation(context.Background(), enroll.Meta{Actor: "admin"}, enroll.User{ID: "u-2002", Name: "Bob"})
	if err != nil {
		t.Fatal(err)
	}
	// Bob signs in on his own browser: his enrollment is past sign-in.
	bb := h.browser()
	p := bb.submit(bb.get(bob.URL), map[string]string{"username": "bob", "password": "bobpw", "ownership": "employee"})
	portalWantPath(t, p, "privacy")

	// Jane, signed in on hers, opens Bob's link in the same browser.
	jb := h.browser()
	portalWalkToPasscode(t, jb, jane)
	p = jb.get(bob.URL)
	portalWantPath(t, p, "signin")
	for _, step := range []string{"privacy", "passcode", "info", "terms", "download"} {
		portalWantPath(t, jb.get(h.srv.URL+"/portal/"+step), "signin")
	}
	// Her own credentials do not sign her in to Bob's enrollment.
	q := jb.submit(p, janeCredentials)
	portalWantStatus(t, q, http.StatusUnauthorized)
	// And opening her own link again starts her session afresh too.
	portalWantPath(t, jb.get(jane.URL), "signin")
	h.wantState(t, bob.EnrollmentID, enroll.StateAuthenticated)
}

// TestSecurityHandoffTokenOnlyInLocation checks that the access token of
// the 308 hand-off travels only in its Location: not in the body, not in a
// cookie, and not in the stored enrollment or audit trail.
func TestSecurityHandoffTokenOnlyInLocation(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	inv := h.invite()
	b, p, _ := portalAccountSignIn(t, h)
	p = b.submit(p, nil)
	p = b.submit(p, map[string]string{"passcode": inv.Passcode})
	p = b.submit(p, nil)
	p = b.submit(p, map[string]string{"accept": "yes"})
	tok := portalWantHandoff(t, p)
	if p.body != "" {
		t.Fatalf("hand-off body %q", p.body)
	}
	if cc := p.header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("hand-off Cache-Control %q", cc)
	}
	for k, vs := range p.header {
		if k == "Location" {
			continue
		}
		for _, v := range vs {
			if strings.Contains(v, tok) {
				t.Fatalf("header %s carries the access token", k)
			}
		}
	}
	e, err := h.svc.Get(context.Background(), inv.EnrollmentID)
	if err != nil {
		t.Fatal(err)
	}
	if e.AccessTokenHash == "" || strings.Contains(fmt.Sprintf("%+v", *e), tok) {
		t.Fatal("the enrollment stores the access token, or no hash of it")
	}
	trail, _ := h.svc.Audit(context.Background(), inv.EnrollmentID)
	if strings.Contains(fmt.Sprintf("%+v", trail), tok) {
		t.Fatal("the audit trail carries the access token")
	}
}

// TestSecurityHeadSpendsNoLink checks that HEAD, which the GET routes also
// match, neither replaces the download link nor spends it.
func TestSecurityHeadSpendsNoLink(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	inv := h.invite()
	b := h.browser()
	p := b.submit(portalWalkToTerms(t, b, inv), map[string]string{"accept": "yes"})
	portalWantPath(t, p, "download")
	before, _ := h.svc.Get(context.Background(), inv.EnrollmentID)
	for _, u := range []string{h.srv.URL + "/portal/download", p.link} {
		req, _ := http.NewRequest(http.MethodHead, u, nil)
		q := b.do(req)
		portalWantStatus(t, q, http.StatusMethodNotAllowed)
		if q.header.Get("Allow") != http.MethodGet {
			t.Fatalf("HEAD %s: Allow %q", u, q.header.Get("Allow"))
		}
	}
	after, _ := h.svc.Get(context.Background(), inv.EnrollmentID)
	if after.Version != before.Version {
		t.Fatalf("HEAD changed the enrollment (version %d → %d)", before.Version, after.Version)
	}
	if resp, _ := portalFetch(t, p.link); resp.StatusCode != http.StatusOK {
		t.Fatalf("the link after HEAD: %d, want 200", resp.StatusCode)
	}
}

// TestSecurityDiscoveryDoesNotRevealDirectory checks that discovery and
// the account-driven start page answer a user the directory knows but who
// has no open enrollment exactly as they answer a name nobody has.
func TestSecurityDiscoveryDoesNotRevealDirectory(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.invite() // jane has an invitation; bob, in the directory, has none
	get := func(u string) (int, string) {
		resp, body := portalFetch(t, u)
		return resp.StatusCode, string(body)
	}
	for _, route := range []string{enroll.WellKnownPath + "?user-identifier=", "/portal/account/start?user-identifier="} {
		knownStatus, knownBody := get(h.srv.URL + route + url.QueryEscape("bob@example.com"))
		unknownStatus, unknownBody := get(h.srv.URL + route + url.QueryEscape("nobody@example.com"))
		if knownStatus == http.StatusOK || knownStatus != unknownStatus {
			t.Fatalf("%s: directory user %d, unknown name %d", route, knownStatus, unknownStatus)
		}
		// Pages differ only in their CSP nonce.
		strip := func(s string) string {
			if i := strings.Index(s, `nonce="`); i >= 0 {
				return s[:i] + s[i+len(`nonce="`)+24:]
			}
			return s
		}
		if strip(knownBody) != strip(unknownBody) {
			t.Fatalf("%s: bodies differ:\n%s\n---\n%s", route, knownBody, unknownBody)
		}
	}
}
