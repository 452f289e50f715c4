package enroll_test

import (
	"context"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/internal/testenv"
)

// continueLink returns the href of the page's #continue-in-browser link,
// or "".
func continueLink(p *page) string {
	m := regexp.MustCompile(`id="continue-in-browser" href="([^"]+)"`).FindStringSubmatch(p.body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// What the invitation link shows a browser, by User-Agent.
const (
	showsSettings = "settings" // the account-driven steps, no form
	showsSignIn   = "signin"   // the sign-in form, nothing else
	showsHint     = "hint"     // the sign-in form and a note about the Settings path
	showsUpdate   = "update"   // the sign-in form and a note that the release is too old
)

// TestPortalLeadsEachDeviceItsWay opens an invitation with the real
// User-Agents of current and older browsers: iPhones and iPads on iOS 18 or
// later get the account-driven steps with the user's Managed Apple Account
// instead of the sign-in form, desktop-class Safari gets the Settings paths
// of both iPad and Mac, older releases get the sign-in form, and a browser
// the portal cannot place gets the form with a note about Settings.
func TestPortalLeadsEachDeviceItsWay(t *testing.T) {
	tests := []struct {
		name, ua, want string
	}{
		{"iOS 12", testenv.UserAgentIOS12, showsUpdate},
		{"iOS 15", testenv.UserAgentIOS15, showsSignIn},
		{"iOS 16", testenv.UserAgentIOS16, showsSignIn},
		{"iOS 17", testenv.UserAgentIOS17, showsSignIn},
		{"iPadOS 17", testenv.UserAgentIPadOS17, showsSignIn},
		{"Chrome on iOS 17", testenv.UserAgentCriOS17, showsSignIn},
		{"macOS Safari 17", testenv.UserAgentMacSafari17, showsSignIn},
		{"iOS 18", testenv.UserAgentIOS18, showsSettings},
		{"iOS 26", testenv.UserAgentIOS26, showsSettings},
		{"iOS 26.3", testenv.UserAgentIOS263, showsSettings},
		{"iPadOS 18", testenv.UserAgentIPadOS18, showsSettings},
		{"Chrome on iOS 26", testenv.UserAgentCriOS26, showsSettings},
		{"Firefox on iOS 18", testenv.UserAgentFxiOS18, showsSettings},
		{"iPadOS desktop-class Safari", testenv.UserAgentIPadDesktop, showsSettings},
		{"macOS Safari 26", testenv.UserAgentMacSafari26, showsSettings},
		{"Android", testenv.UserAgentAndroid, showsHint},
		{"desktop Chrome", testenv.UserAgentChromeWindows, showsHint},
		{"Chrome on a Mac", testenv.UserAgentChromeMac, showsHint},
	}
	h := newHarness(t, harnessOptions{})
	inv := h.invite()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := h.browser()
			b.ua = tt.ua
			p := b.get(inv.URL)
			portalWantStatus(t, p, http.StatusOK)
			portalWantPath(t, p, "signin")
			settings := strings.Contains(p.body, `id="settings-steps"`)
			hint := strings.Contains(p.body, `id="settings-hint"`)
			update := strings.Contains(p.body, `id="update-hint"`)
			form := len(p.forms) == 1
			switch tt.want {
			case showsSettings:
				if !settings || form || hint {
					t.Fatalf("want the Settings steps without a form: settings %v form %v hint %v\n%s", settings, form, hint, p.body)
				}
				for _, want := range []string{"Settings → General → VPN &amp; Device Management", "Sign In to Work or School Account",
					`<strong id="managed-apple-account">` + testMAID + `</strong>`, "Managed Apple Account"} {
					if !strings.Contains(p.body, want) {
						t.Errorf("the Settings page does not say %q", want)
					}
				}
				desktop := strings.Contains(p.body, "System Settings → General → Device Management")
				if wantDesktop := strings.Contains(tt.ua, "Macintosh"); desktop != wantDesktop {
					t.Errorf("Mac path shown %v, want %v", desktop, wantDesktop)
				}
				if !strings.HasSuffix(continueLink(p), "/portal/signin?browser=1") {
					t.Errorf("continue link %q", continueLink(p))
				}
			case showsSignIn, showsHint, showsUpdate:
				if !form || settings || hint != (tt.want == showsHint) || update != (tt.want == showsUpdate) {
					t.Fatalf("want the sign-in form (%s): settings %v form %v hint %v update %v\n%s", tt.want, settings, form, hint, update, p.body)
				}
			}
			if strings.Contains(p.body, "Managed Apple ID") {
				t.Error("the page says Managed Apple ID, not Managed Apple Account")
			}
		})
	}
}

// TestPortalContinueInBrowser: a device the User-Agent places on iOS 26
// can still take the profile flow ("my iPhone runs iOS 17 or earlier"): the
// choice holds for the session, and the download link it gets serves the
// profile to that browser.
func TestPortalContinueInBrowser(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	inv := h.invite()
	b := h.browser()
	b.ua = testenv.UserAgentIOS26
	p := b.get(inv.URL)
	link := continueLink(p)
	if link == "" {
		t.Fatalf("no way to continue in the browser:\n%s", p.body)
	}
	if !strings.Contains(p.body, "My iPhone runs iOS 17 or earlier") {
		t.Errorf("continue link not labelled for an older iPhone:\n%s", p.body)
	}
	p = b.get(link)
	portalWantPath(t, p, "signin")
	if len(p.forms) != 1 {
		t.Fatalf("continuing shows no sign-in form:\n%s", p.body)
	}
	// The choice is kept: the sign-in page shows the form from now on.
	if p := b.get(h.srv.URL + "/portal/signin"); len(p.forms) != 1 {
		t.Fatalf("the choice was not kept:\n%s", p.body)
	}
	p = b.submit(p, janeEmployee)
	portalWantPath(t, p, "privacy")
	p = b.submit(b.submit(p, nil), map[string]string{"passcode": inv.Passcode})
	p = b.submit(b.submit(p, nil), map[string]string{"accept": "yes"})
	portalWantPath(t, p, "download")
	if !strings.HasSuffix(p.link, "?browser=1") {
		t.Fatalf("download link %q does not carry the choice", p.link)
	}
	q := b.get(p.link)
	if q.status != http.StatusOK || q.header.Get("Content-Type") != enroll.ProfileContentType {
		t.Fatalf("download: %d %s\n%s", q.status, q.header.Get("Content-Type"), q.body)
	}
}

// TestPortalDownloadWithheld: an iPhone on iOS 18 or later never gets a
// profile-based User Enrollment profile it cannot install; it gets the
// Settings steps, and the single-use link stays unused, for the device that
// can install it or for "download anyway".
func TestPortalDownloadWithheld(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	inv := h.invite()
	b := h.browser()
	dl := b.submit(portalWalkToTerms(t, b, inv), map[string]string{"accept": "yes"})
	if dl.link == "" {
		t.Fatal("no download link")
	}
	for _, ua := range []string{testenv.UserAgentIOS18, testenv.UserAgentIOS26, testenv.UserAgentCriOS26, testenv.UserAgentIPadOS18} {
		d := h.browser()
		d.ua = ua
		p := d.get(dl.link)
		portalWantStatus(t, p, http.StatusConflict)
		if p.header.Get("Content-Type") == enroll.ProfileContentType || !strings.Contains(p.body, `id="settings-steps"`) {
			t.Fatalf("%s: not the Settings page:\n%s", ua, p.body)
		}
		if !strings.Contains(p.alert, "was not used") {
			t.Errorf("%s: alert %q", ua, p.alert)
		}
		e, err := h.svc.Get(context.Background(), inv.EnrollmentID)
		if err != nil {
			t.Fatal(err)
		}
		if e.DownloadUsed || e.State != enroll.StateProfileIssued {
			t.Fatalf("%s: the refusal spent the link: used %v state %s", ua, e.DownloadUsed, e.State)
		}
	}
	// "Download anyway" serves it, once.
	d := h.browser()
	d.ua = testenv.UserAgentIOS26
	anyway := continueLink(d.get(dl.link))
	if !strings.HasSuffix(anyway, "?browser=1") {
		t.Fatalf("download-anyway link %q", anyway)
	}
	if p := d.get(anyway); p.status != http.StatusOK || p.header.Get("Content-Type") != enroll.ProfileContentType {
		t.Fatalf("download anyway: %d\n%s", p.status, p.body)
	}
	portalWantStatus(t, d.get(anyway), http.StatusGone)
	// A spent link says so, on any release.
	portalWantStatus(t, d.get(dl.link), http.StatusGone)

	// An older device is served as before.
	inv2 := h.invite()
	b = h.browser()
	dl = b.submit(portalWalkToTerms(t, b, inv2), map[string]string{"accept": "yes"})
	if p := b.get(dl.link); p.status != http.StatusOK || p.header.Get("Content-Type") != enroll.ProfileContentType {
		t.Fatalf("iOS 17 download: %d\n%s", p.status, p.body)
	}
}

// TestPortalDownloadCorporateOnCurrentRelease: a company-owned device
// (CorporateDeviceEnrollment) gets a device enrollment profile, which iOS
// 18 and later still install from Safari: it is served.
func TestPortalDownloadCorporateOnCurrentRelease(t *testing.T) {
	h := newHarness(t, harnessOptions{corporate: enroll.CorporateDeviceEnrollment})
	inv := h.invite()
	b := h.browser()
	b.ua = testenv.UserAgentIOS26
	p := b.get(inv.URL)
	if !strings.Contains(p.body, "belongs to Example Corp") {
		t.Errorf("the Settings page does not say a company device continues in the browser:\n%s", p.body)
	}
	p = b.get(continueLink(p))
	p = b.submit(p, map[string]string{"username": testUsername, "password": testPassword, "ownership": "corporate"})
	portalWantPath(t, p, "passcode")
	p = b.submit(b.submit(p, map[string]string{"passcode": inv.Passcode}), nil)
	p = b.submit(p, map[string]string{"accept": "yes"})
	portalWantPath(t, p, "download")
	link := strings.TrimSuffix(p.link, "?browser=1")
	if q := b.get(link); q.status != http.StatusOK || q.header.Get("Content-Type") != enroll.ProfileContentType {
		t.Fatalf("corporate download on iOS 26: %d\n%s", q.status, q.body)
	}
}

// TestPortalAccountWebViewNotLedAway: the page the device's web view opens
// after the BaseURL's 401 is on the right path whatever Safari version its
// User-Agent names: iOS 18 and 26 and a Mac get the sign-in form and finish
// with the access token, never the Settings page.
func TestPortalAccountWebViewNotLedAway(t *testing.T) {
	for _, ua := range []string{testenv.UserAgentIOS18, testenv.UserAgentIOS26, testenv.UserAgentIOS263, testenv.UserAgentMacSafari26} {
		t.Run(ua[strings.Index(ua, "(")+1:strings.Index(ua, ")")], func(t *testing.T) {
			dev := newPortalDeviceCA(t)
			h := newHarness(t, harnessOptions{deviceRoots: dev.pool()})
			h.invite()
			baseURL, webURL := portalDiscover(t, h, dev)
			b := h.browser()
			b.ua = ua
			if p := b.get(webURL); strings.Contains(p.body, `id="settings-steps"`) || strings.Contains(p.body, `id="settings-hint"`) {
				t.Fatalf("the account-driven web view was led away:\n%s", p.body)
			}
			token := portalAccountWalkAs(t, h, webURL, ua)
			resp, body := portalPostBaseURL(t, baseURL, dev.machineInfo(t), token)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != enroll.ProfileContentType {
				t.Fatalf("profile with the token: %d %s", resp.StatusCode, body)
			}
		})
	}
}
