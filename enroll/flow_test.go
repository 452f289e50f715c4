package enroll_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"howett.net/plist"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/profile"
)

// portalWalkToPasscode takes a browser from an invitation link through
// sign-in (jane, her own device) and the privacy notice to the passcode
// page.
func portalWalkToPasscode(t *testing.T, b *browser, inv *enroll.Invitation) *page {
	t.Helper()
	p := b.get(inv.URL)
	portalWantStatus(t, p, http.StatusOK)
	portalWantPath(t, p, "signin")
	p = b.submit(p, janeEmployee)
	portalWantPath(t, p, "privacy")
	p = b.submit(p, nil)
	portalWantPath(t, p, "passcode")
	return p
}

// walkToTerms takes a browser from an invitation link through sign-in,
// privacy notice, passcode and information screen to the terms page.
func portalWalkToTerms(t *testing.T, b *browser, inv *enroll.Invitation) *page {
	t.Helper()
	p := portalWalkToPasscode(t, b, inv)
	p = b.submit(p, map[string]string{"passcode": inv.Passcode})
	portalWantPath(t, p, "info")
	p = b.submit(p, nil)
	portalWantPath(t, p, "terms")
	portalWantStatus(t, p, http.StatusOK)
	return p
}

// fetch GETs u without cookies and returns the response with its body.
func portalFetch(t *testing.T, u string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// parseProfile verifies a served profile's signature and chain and returns
// its MDM payload.
func (h *harness) parseProfile(t *testing.T, data []byte) (*profile.Parsed, *profile.MDM) {
	t.Helper()
	parsed, err := profile.Parse(data, profile.ParseOptions{Roots: h.roots, RequireSignature: true})
	if err != nil {
		t.Fatalf("served profile does not verify: %v", err)
	}
	if !parsed.Chain[0].Equal(h.signer.Cert) {
		t.Fatal("profile not signed by the configured signer")
	}
	m := parsed.Profile.MDM()
	if m == nil {
		t.Fatal("profile has no com.apple.mdm payload")
	}
	return parsed, m
}

func TestFlowProfileBased(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	inv := h.invite()
	b := h.browser()
	p := portalWalkToTerms(t, b, inv)
	if !strings.Contains(p.body, "Personal data stays private.") {
		t.Fatal("terms page does not show the configured terms text")
	}
	p = b.submit(p, map[string]string{"accept": "yes"})
	portalWantStatus(t, p, http.StatusOK)
	portalWantPath(t, p, "download")
	if p.link == "" {
		t.Fatalf("download page has no #download-profile link:\n%s", p.body)
	}
	if len(p.forms) != 0 {
		t.Fatalf("download page has %d forms, want none", len(p.forms))
	}

	resp, data := portalFetch(t, p.link)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("download: status %d: %s", resp.StatusCode, data)
	}
	for k, want := range map[string]string{
		"Content-Type":        "application/x-apple-aspen-config",
		"Content-Disposition": `attachment; filename="enroll.mobileconfig"`,
		"Cache-Control":       "no-store",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	_, m := h.parseProfile(t, data)
	if m.ManagedAppleID != testMAID || m.AssignedManagedAppleID != "" || m.EnrollmentMode != "" {
		t.Errorf("MDM payload ManagedAppleID %q AssignedManagedAppleID %q EnrollmentMode %q", m.ManagedAppleID, m.AssignedManagedAppleID, m.EnrollmentMode)
	}
	if m.AccessRights != 0 || m.Topic != testTopic || !m.SignMessage || !m.CheckOutWhenRemoved {
		t.Errorf("MDM payload %+v", m)
	}

	// The link is single use.
	resp, _ = portalFetch(t, p.link)
	if resp.StatusCode != http.StatusGone {
		t.Fatalf("second download: status %d, want 410", resp.StatusCode)
	}

	e, err := h.svc.Get(context.Background(), inv.EnrollmentID)
	if err != nil {
		t.Fatal(err)
	}
	if e.State != enroll.StateProfileIssued || e.Ownership != enroll.OwnershipEmployee {
		t.Fatalf("enrollment state %s ownership %s", e.State, e.Ownership)
	}
	trail, err := h.svc.Audit(context.Background(), inv.EnrollmentID)
	if err != nil {
		t.Fatal(err)
	}
	var consent *enroll.AuditEvent
	for i := range trail {
		if trail[i].Event == enroll.EventConsent {
			consent = &trail[i]
		}
	}
	if consent == nil {
		t.Fatal("no consent in the audit trail")
	}
	if consent.TermsVersion != testTermsVer || consent.TermsDigest != enroll.TermsDigest(testTermsText) {
		t.Errorf("consent recorded %q %q", consent.TermsVersion, consent.TermsDigest)
	}
	if consent.UserAgent != safariUA || consent.ClientIP != "127.0.0.1" {
		t.Errorf("consent from %q %q", consent.ClientIP, consent.UserAgent)
	}
}

func TestFlowDownloadLinkReload(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	inv := h.invite()
	b := h.browser()
	p := b.submit(portalWalkToTerms(t, b, inv), map[string]string{"accept": "yes"})
	first := p.link

	t.Run("late link", func(t *testing.T) {
		h.clock.Advance(8*time.Minute + time.Second)
		resp, _ := portalFetch(t, first)
		if resp.StatusCode != http.StatusGone {
			t.Fatalf("late download: status %d, want 410", resp.StatusCode)
		}
	})
	t.Run("reload gives a working link and retires the old one", func(t *testing.T) {
		p := b.get(h.srv.URL + "/portal/download")
		portalWantStatus(t, p, http.StatusOK)
		if p.link == "" || p.link == first {
			t.Fatalf("reload link %q (first %q)", p.link, first)
		}
		second := p.link
		p = b.get(h.srv.URL + "/portal/download")
		resp, _ := portalFetch(t, second)
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("replaced link: status %d, want 404", resp.StatusCode)
		}
		resp, _ = portalFetch(t, p.link)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("newest link: status %d, want 200", resp.StatusCode)
		}
	})
}

// portalDeviceCA is an Apple-device-CA stand-in that signs MachineInfo bodies.
type portalDeviceCA struct {
	root, inter, leaf *enroll.CertKey
}

func newPortalDeviceCA(t testing.TB) *portalDeviceCA {
	root := enroll.IssueCert(t, "Test Device Root", nil, true)
	inter := enroll.IssueCert(t, "Test iPhone Device CA", root, true)
	return &portalDeviceCA{root: root, inter: inter, leaf: enroll.IssueCert(t, "device", inter, false)}
}

func (d *portalDeviceCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(d.root.Cert)
	return p
}

// machineInfo returns a CMS-signed MachineInfo as a device posts it.
func (d *portalDeviceCA) machineInfo(t testing.TB) []byte {
	t.Helper()
	body, err := plist.Marshal(map[string]any{"LANGUAGE": "en", "PRODUCT": "iPhone16,1", "VERSION": "22B83", "OS_VERSION": "18.1"}, plist.XMLFormat)
	if err != nil {
		t.Fatal(err)
	}
	return enroll.SignCMS(t, body, false, d.leaf, d.inter.Cert)
}

// postBaseURL posts a MachineInfo body to the BaseURL with an optional
// bearer token.
func portalPostBaseURL(t *testing.T, baseURL string, body []byte, token string) (*http.Response, []byte) {
	t.Helper()
	return portalPostBaseURLAs(t, baseURL, "application/pkcs7-signature", body, token)
}

// portalPostBaseURLAs posts body to the BaseURL with Content-Type ctype
// (none when empty), as portalPostBaseURL does.
func portalPostBaseURLAs(t *testing.T, baseURL, ctype string, body []byte, token string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, baseURL, bytes.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("User-Agent", "Settings/1.0 CFNetwork/1496.0.7 Darwin/23.5.0")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// accountDiscover runs discovery and the first BaseURL post and returns
// the BaseURL and the web view URL of the Bearer challenge.
func portalDiscover(t *testing.T, h *harness, dev *portalDeviceCA) (baseURL, webURL string) {
	t.Helper()
	return portalDiscoverWith(t, h, dev.machineInfo(t))
}

// portalDiscoverWith is portalDiscover with the signed MachineInfo body the
// device posts.
func portalDiscoverWith(t *testing.T, h *harness, machineInfo []byte) (baseURL, webURL string) {
	t.Helper()
	resp, body := portalFetch(t, h.srv.URL+enroll.WellKnownPath+"?user-identifier="+url.QueryEscape(testMAID)+"&model-family=iPhone")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("well-known: %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var wk enroll.WellKnownResponse
	if err := json.Unmarshal(body, &wk); err != nil || len(wk.Servers) != 1 || wk.Servers[0].Version != "mdm-byod" {
		t.Fatalf("well-known body %s (%v)", body, err)
	}
	baseURL = wk.Servers[0].BaseURL
	resp, body = portalPostBaseURL(t, baseURL, machineInfo, "")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("BaseURL without token: %d %s", resp.StatusCode, body)
	}
	ch, err := enroll.ParseBearerChallenge(resp.Header.Get("WWW-Authenticate"))
	if err != nil || ch.Method != "apple-as-web" || ch.URL == "" {
		t.Fatalf("challenge %q: %+v %v", resp.Header.Get("WWW-Authenticate"), ch, err)
	}
	u, _ := url.Parse(ch.URL)
	q := u.Query()
	q.Set("user-identifier", testMAID)
	u.RawQuery = q.Encode()
	return baseURL, u.String()
}

// accountWalk runs the portal steps in the web view and returns the access
// token from the 308 hand-off.
func portalAccountWalk(t *testing.T, h *harness, webURL string) string {
	t.Helper()
	return portalAccountWalkAs(t, h, webURL, "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148")
}

// portalAccountWalkAs is portalAccountWalk in a web view that sends the
// User-Agent ua.
func portalAccountWalkAs(t *testing.T, h *harness, webURL, ua string) string {
	t.Helper()
	b := h.browser()
	b.ua = ua
	p := b.get(webURL)
	portalWantPath(t, p, "signin")
	for _, n := range p.forms[0].names {
		if n == "ownership" {
			t.Fatal("account-driven sign-in asks for ownership; Employee is implied")
		}
	}
	p = b.submit(p, janeCredentials)
	portalWantPath(t, p, "privacy")
	p = b.submit(p, nil)
	portalWantPath(t, p, "passcode")
	h.mu.Lock()
	code := h.invites[len(h.invites)-1].Passcode
	h.mu.Unlock()
	p = b.submit(p, map[string]string{"passcode": code})
	portalWantPath(t, p, "info")
	p = b.submit(p, nil)
	portalWantPath(t, p, "terms")
	return portalWantHandoff(t, b.submit(p, map[string]string{"accept": "yes"}))
}

// portalWantHandoff fails unless p is the 308 hand-off that ends the
// account-driven web view, and returns the access token it carries.
func portalWantHandoff(t *testing.T, p *page) string {
	t.Helper()
	if p.status != http.StatusPermanentRedirect {
		t.Fatalf("%s: status %d, want the 308 hand-off\n%s", p.url, p.status, p.body)
	}
	loc, err := url.Parse(p.header.Get("Location"))
	if err != nil || loc.Scheme != "apple-remotemanagement-user-login" || loc.Host != "authentication-results" {
		t.Fatalf("hand-off Location %q", p.header.Get("Location"))
	}
	tok := loc.Query().Get("access-token")
	if len(tok) < 22 {
		t.Fatalf("access token %q is too short for 128 bits", tok)
	}
	return tok
}

// portalAccountSignIn runs discovery for jane's invitation as a device
// would and signs her in in a new web view: it returns the web view on the
// privacy notice and the web view's start URL.
func portalAccountSignIn(t *testing.T, h *harness) (*browser, *page, string) {
	t.Helper()
	_, webURL := portalDiscover(t, h, newPortalDeviceCA(t))
	b := h.browser()
	p := b.submit(b.get(webURL), janeCredentials)
	portalWantPath(t, p, "privacy")
	return b, p, webURL
}

func TestFlowAccountDriven(t *testing.T) {
	dev := newPortalDeviceCA(t)
	h := newHarness(t, harnessOptions{deviceRoots: dev.pool()})
	inv := h.invite()
	baseURL, webURL := portalDiscover(t, h, dev)
	if !strings.HasPrefix(webURL, h.srv.URL+"/portal/") {
		t.Fatalf("challenge url %q is not in the portal", webURL)
	}
	tok := portalAccountWalk(t, h, webURL)

	resp, data := portalPostBaseURL(t, baseURL, dev.machineInfo(t), tok)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-apple-aspen-config" {
		t.Fatalf("BaseURL with token: %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), data)
	}
	_, m := h.parseProfile(t, data)
	if m.EnrollmentMode != profile.ModeBYOD || m.AssignedManagedAppleID != testMAID || m.ManagedAppleID != "" {
		t.Errorf("MDM payload mode %q assigned %q managed %q", m.EnrollmentMode, m.AssignedManagedAppleID, m.ManagedAppleID)
	}
	if m.AccessRights != 0 {
		t.Errorf("BYOD profile carries AccessRights %d", m.AccessRights)
	}
	var raw map[string]any
	parsed, _ := profile.Parse(data, profile.ParseOptions{})
	if _, err := plist.Unmarshal(parsed.Content, &raw); err != nil {
		t.Fatal(err)
	}
	for _, pl := range raw["PayloadContent"].([]any) {
		d := pl.(map[string]any)
		if d["PayloadType"] == "com.apple.mdm" {
			if _, ok := d["AccessRights"]; ok {
				t.Error("AccessRights key present in a BYOD profile")
			}
		}
	}

	// A wrong token is refused with a fresh challenge.
	resp, _ = portalPostBaseURL(t, baseURL, dev.machineInfo(t), "not-the-token")
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
		t.Fatalf("wrong token: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}

	// After revocation the token is replayed in vain.
	if _, err := h.svc.Revoke(context.Background(), enroll.Meta{Actor: "admin"}, inv.EnrollmentID, "device lost"); err != nil {
		t.Fatal(err)
	}
	resp, body := portalPostBaseURL(t, baseURL, dev.machineInfo(t), tok)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("replayed token after revocation: %d %s", resp.StatusCode, body)
	}
	resp, body = portalFetch(t, h.srv.URL+enroll.WellKnownPath+"?user-identifier="+url.QueryEscape(testMAID))
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "com.apple.well-known.failed") {
		t.Fatalf("well-known after revocation: %d %s", resp.StatusCode, body)
	}
}

func TestFlowAccountUntrustedDevice(t *testing.T) {
	trusted := newPortalDeviceCA(t)
	h := newHarness(t, harnessOptions{deviceRoots: trusted.pool()})
	h.invite()
	stranger := newPortalDeviceCA(t)
	resp, _ := portalPostBaseURL(t, h.portal.BaseURL(), stranger.machineInfo(t), "")
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("MachineInfo from an untrusted device CA: %d, want 400", resp.StatusCode)
	}
}

// TestFlowAccountPinsAppleByDefault checks that a Portal configured without
// DeviceRoots pins Apple's device CAs: a MachineInfo signed under any other
// CA is refused, where a nil DeviceRoots used to check the signature only.
// Only the named InsecureSkipDeviceChainCheck accepts it.
func TestFlowAccountPinsAppleByDefault(t *testing.T) {
	for _, tt := range []struct {
		name   string
		skip   bool
		status int
	}{
		{"default", false, http.StatusBadRequest},
		{"insecure skip named", true, http.StatusUnauthorized},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{portalCfg: func(c *enroll.PortalConfig) {
				c.InsecureSkipDeviceChainCheck = tt.skip
			}})
			h.invite()
			dev := newPortalDeviceCA(t)
			if resp, _ := portalPostBaseURL(t, h.portal.BaseURL(), dev.machineInfo(t), ""); resp.StatusCode != tt.status {
				t.Fatalf("MachineInfo from a non-Apple device CA: %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
}

// TestFlowAccountGenuineDevice runs account-driven enrollment with the
// signed bodies of genuine Apple devices (testdata/captures) on a Portal
// configured with neither DeviceRoots nor the opt-out: Apple's pinned
// device chain is the default and accepts them, before and after sign-in.
func TestFlowAccountGenuineDevice(t *testing.T) {
	for _, g := range enroll.GenuineDeviceBodies {
		t.Run(g.File, func(t *testing.T) {
			h := newHarness(t, harnessOptions{portalCfg: func(c *enroll.PortalConfig) {
				*c = enroll.PortalConfig{SessionKey: c.SessionKey, Organization: c.Organization, Logger: c.Logger}
			}})
			h.invite()
			body := g.Read(t)
			baseURL, webURL := portalDiscoverWith(t, h, body)
			tok := portalAccountWalk(t, h, webURL)
			resp, data := portalPostBaseURL(t, baseURL, body, tok)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-apple-aspen-config" {
				t.Fatalf("%s: BaseURL with token: %d %s: %s", g.From, resp.StatusCode, resp.Header.Get("Content-Type"), data)
			}
			if _, m := h.parseProfile(t, data); m.EnrollmentMode != profile.ModeBYOD || m.AssignedManagedAppleID != testMAID {
				t.Errorf("%s: MDM payload mode %q assigned %q", g.From, m.EnrollmentMode, m.AssignedManagedAppleID)
			}
			// A device CA of the host's own replaces the Apple default.
			dev := newPortalDeviceCA(t)
			h2 := newHarness(t, harnessOptions{deviceRoots: dev.pool()})
			if resp, _ := portalPostBaseURL(t, h2.portal.BaseURL(), body, ""); resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("%s: with other DeviceRoots: %d, want 400", g.From, resp.StatusCode)
			}
		})
	}
}

func TestFlowAccountStartedElsewhere(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	inv := h.invite()
	b, p, webURL := portalAccountSignIn(t, h)
	before, _ := h.svc.Get(context.Background(), inv.EnrollmentID)
	// Someone else who only knows the account name cannot take over the
	// enrollment that was started: they are asked to sign in, and another
	// user's credentials are refused.
	other := h.browser()
	p = other.get(webURL)
	portalWantPath(t, p, "signin")
	portalWantStatus(t, other.post(h.srv.URL+"/portal/passcode", url.Values{"passcode": {inv.Passcode}}), http.StatusForbidden)
	p = other.submit(p, map[string]string{"username": "bob", "password": "bobpw"})
	portalWantStatus(t, p, http.StatusUnauthorized)
	portalWantPath(t, p, "signin")
	portalWantPath(t, other.get(h.srv.URL+"/portal/continue"), "signin")
	if after, _ := h.svc.Get(context.Background(), inv.EnrollmentID); after.Version != before.Version {
		t.Fatalf("refused sign-in changed the enrollment (version %d → %d)", before.Version, after.Version)
	}
	// The browser that started continues.
	p = b.get(webURL)
	portalWantPath(t, p, "privacy")
}

func TestFlowUnhappyPaths(t *testing.T) {
	t.Run("unknown invitation", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		p := h.browser().get(h.srv.URL + "/portal/invitation/nope")
		portalWantStatus(t, p, http.StatusNotFound)
		if p.alert == "" {
			t.Fatal("no alert")
		}
	})
	t.Run("expired invitation", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		inv := h.invite()
		h.clock.Advance(enroll.DefaultInvitationTTL + time.Minute)
		p := h.browser().get(inv.URL)
		portalWantStatus(t, p, http.StatusGone)
	})
	t.Run("expired while in the portal", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		inv := h.invite()
		b := h.browser()
		h.clock.Advance(enroll.DefaultInvitationTTL - 10*time.Minute)
		p := b.get(inv.URL)
		h.clock.Advance(11 * time.Minute)
		p = b.submit(p, janeEmployee)
		portalWantStatus(t, p, http.StatusGone)
	})
	t.Run("revoked invitation", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		inv := h.invite()
		b := h.browser()
		p := b.get(inv.URL)
		if _, err := h.svc.Revoke(context.Background(), enroll.Meta{}, inv.EnrollmentID, "test"); err != nil {
			t.Fatal(err)
		}
		portalWantStatus(t, b.get(inv.URL), http.StatusForbidden)
		p = b.submit(p, janeEmployee)
		portalWantStatus(t, p, http.StatusForbidden)
	})
	t.Run("wrong passcode until locked", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		inv := h.invite()
		b := h.browser()
		p := portalWalkToPasscode(t, b, inv)
		wrong := "00000000"
		if strings.ReplaceAll(inv.Passcode, "-", "") == wrong {
			wrong = "11111111"
		}
		// Malformed input is refused without using up an attempt.
		q := b.submit(p, map[string]string{"passcode": strings.Repeat("1", 2000)})
		portalWantStatus(t, q, http.StatusBadRequest)
		q = b.submit(p, map[string]string{"passcode": ""})
		portalWantStatus(t, q, http.StatusBadRequest)
		big := b.post(h.srv.URL+"/portal/passcode", url.Values{"passcode": {strings.Repeat("9", 70<<10)}})
		portalWantStatus(t, big, http.StatusBadRequest)
		for left := enroll.DefaultPasscodeAttempts - 1; left > 0; left-- {
			p = b.submit(p, map[string]string{"passcode": wrong})
			portalWantStatus(t, p, http.StatusUnauthorized)
			if p.alert == "" || len(p.forms) != 1 {
				t.Fatalf("wrong passcode page: alert %q forms %d", p.alert, len(p.forms))
			}
		}
		p = b.submit(p, map[string]string{"passcode": wrong})
		portalWantStatus(t, p, http.StatusLocked)
		// Even the right passcode no longer helps.
		p = b.post(h.srv.URL+"/portal/passcode", url.Values{"passcode": {inv.Passcode}})
		portalWantStatus(t, p, http.StatusLocked)
		portalWantStatus(t, b.get(inv.URL), http.StatusLocked)
	})
	t.Run("bad credentials", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		inv := h.invite()
		b := h.browser()
		p := b.get(inv.URL)
		q := b.submit(p, map[string]string{"username": testUsername, "password": "wrong", "ownership": "employee"})
		portalWantStatus(t, q, http.StatusUnauthorized)
		if q.alert == "" || q.forms[0].fields.Get("username") != testUsername {
			t.Fatalf("alert %q, username kept %q", q.alert, q.forms[0].fields.Get("username"))
		}
		if strings.Contains(q.body, "wrong") && strings.Contains(q.body, `value="wrong"`) {
			t.Fatal("the password is echoed back")
		}
		// Another employee's credentials do not open Jane's invitation.
		q = b.submit(p, map[string]string{"username": "bob", "password": "bobpw", "ownership": "employee"})
		portalWantStatus(t, q, http.StatusUnauthorized)
		// Missing fields.
		q = b.submit(p, map[string]string{"username": "", "password": "", "ownership": "employee"})
		portalWantStatus(t, q, http.StatusBadRequest)
		q = b.submit(p, map[string]string{"username": testUsername, "password": testPassword, "ownership": "someone"})
		portalWantStatus(t, q, http.StatusBadRequest)
	})
	t.Run("corporate refused", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		inv := h.invite()
		b := h.browser()
		p := b.submit(b.get(inv.URL), map[string]string{"username": testUsername, "password": testPassword, "ownership": "corporate"})
		portalWantStatus(t, p, http.StatusForbidden)
		if p.alert == "" {
			t.Fatal("no alert")
		}
	})
	t.Run("corporate device enrollment skips the privacy notice", func(t *testing.T) {
		h := newHarness(t, harnessOptions{corporate: enroll.CorporateDeviceEnrollment})
		inv := h.invite()
		b := h.browser()
		p := b.submit(b.get(inv.URL), map[string]string{"username": testUsername, "password": testPassword, "ownership": "corporate"})
		portalWantPath(t, p, "passcode")
	})
	t.Run("consent not given", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		inv := h.invite()
		b := h.browser()
		p := portalWalkToTerms(t, b, inv)
		q := b.submit(p, map[string]string{"accept": ""})
		portalWantStatus(t, q, http.StatusBadRequest)
		if q.alert == "" {
			t.Fatal("no alert")
		}
		e, _ := h.svc.Get(context.Background(), inv.EnrollmentID)
		if e.State != enroll.StatePasscodeVerified {
			t.Fatalf("state %s after refusing consent", e.State)
		}
		// Nor can the download be reached.
		q = b.get(h.srv.URL + "/portal/download")
		portalWantPath(t, q, "terms")
	})
	t.Run("terms changed while shown", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		inv := h.invite()
		b := h.browser()
		p := portalWalkToTerms(t, b, inv)
		q := b.submit(p, map[string]string{"accept": "yes", "terms_digest": enroll.TermsDigest("older text")})
		portalWantStatus(t, q, http.StatusConflict)
	})
	t.Run("step out of order", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		inv := h.invite()
		b := h.browser()
		b.get(inv.URL)
		p := b.post(h.srv.URL+"/portal/terms", url.Values{"accept": {"yes"}})
		portalWantStatus(t, p, http.StatusForbidden)
		if !strings.Contains(p.body, `href="`+h.srv.URL+`/portal/signin">Continue</a>`) {
			t.Fatalf("refusal does not lead back to the current step:\n%s", p.body)
		}
		p = b.post(h.srv.URL+"/portal/account/finish", nil)
		portalWantStatus(t, p, http.StatusForbidden)
		// A GET of a later step lands on the current one.
		p = b.get(h.srv.URL + "/portal/terms")
		portalWantPath(t, p, "signin")
	})
	t.Run("tampered cookie", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		inv := h.invite()
		b := h.browser()
		p := b.get(inv.URL)
		u, _ := url.Parse(h.srv.URL + "/portal/")
		cs := b.c.Jar.Cookies(u)
		if len(cs) != 1 {
			t.Fatalf("%d cookies", len(cs))
		}
		v := []byte(cs[0].Value)
		v[2] ^= 1
		b.c.Jar.SetCookies(u, []*http.Cookie{{Name: cs[0].Name, Value: string(v), Path: "/portal/"}})
		q := b.submit(p, janeEmployee)
		portalWantStatus(t, q, http.StatusForbidden)
		if !strings.Contains(q.body, "start over") && !strings.Contains(q.body, "Start over") && !strings.Contains(q.body, "start over") {
			t.Fatalf("not the start-over page:\n%s", q.body)
		}
		e, _ := h.svc.Get(context.Background(), inv.EnrollmentID)
		if e.State != enroll.StateInvited {
			t.Fatalf("state %s after a tampered request", e.State)
		}
	})
	t.Run("no cookie", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		p := h.browser().get(h.srv.URL + "/portal/passcode")
		portalWantStatus(t, p, http.StatusForbidden)
	})
	t.Run("session expired", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		inv := h.invite()
		b := h.browser()
		p := b.get(inv.URL)
		h.clock.Advance(enroll.DefaultSessionTTL + time.Second)
		q := b.submit(p, janeEmployee)
		portalWantStatus(t, q, http.StatusForbidden)
	})
	t.Run("cross-origin post refused", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		inv := h.invite()
		b := h.browser()
		p := b.get(inv.URL)
		b.origin, b.site = "https://evil.example", "cross-site"
		q := b.submit(p, janeEmployee)
		portalWantStatus(t, q, http.StatusForbidden)
		e, _ := h.svc.Get(context.Background(), inv.EnrollmentID)
		if e.State != enroll.StateInvited {
			t.Fatalf("state %s after a cross-origin post", e.State)
		}
		// The same post from the portal's own origin goes through.
		b.origin, b.site = h.srv.URL, "same-origin"
		q = b.submit(p, janeEmployee)
		portalWantPath(t, q, "privacy")
	})
}

func TestPortalDownloadLinkErrors(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for _, tt := range []struct {
		path string
		want int
	}{
		{"/portal/profile/unknown-token", http.StatusNotFound},
		{"/portal/profile/" + strings.Repeat("x", 2000), http.StatusNotFound},
	} {
		resp, _ := portalFetch(t, h.srv.URL+tt.path)
		if resp.StatusCode != tt.want {
			t.Errorf("%s: %d, want %d", tt.path[:30], resp.StatusCode, tt.want)
		}
	}
	if !errors.Is(enroll.ErrLinkUsed, enroll.ErrLinkUsed) {
		t.Fatal("unreachable")
	}
}
