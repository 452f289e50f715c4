package enroll_test

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/enrollkit/enrollkit/internal/testenv"
)

var updatePortalGolden = flag.Bool("update-portal", false, "rewrite the portal's golden pages in testdata/portal")

// TestPortalGolden compares every page of both flows with its golden copy
// in testdata/portal, so that a change to what users (and scripted
// clients) see is a deliberate one. Run with -update-portal to accept
// changes.
func TestPortalGolden(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	inv := h.invite()
	pages := map[string]*page{}
	b := h.browser()
	p := b.get(inv.URL)
	pages["signin"] = p
	pages["signin-error"] = b.submit(p, map[string]string{"username": testUsername, "password": "wrong", "ownership": "employee"})
	p = b.submit(p, janeEmployee)
	pages["privacy"] = p
	p = b.submit(p, nil)
	pages["passcode"] = p
	wrong := "00000000"
	if strings.ReplaceAll(inv.Passcode, "-", "") == wrong {
		wrong = "11111111"
	}
	pages["passcode-wrong"] = b.submit(p, map[string]string{"passcode": wrong})
	p = b.submit(p, map[string]string{"passcode": inv.Passcode})
	pages["info"] = p
	p = b.submit(p, nil)
	pages["terms"] = p
	pages["terms-not-accepted"] = b.submit(p, map[string]string{"accept": ""})
	pages["download"] = b.submit(p, map[string]string{"accept": "yes"})
	// The same link on a release that cannot install the profile.
	current := h.browser()
	current.ua = testenv.UserAgentIOS26
	pages["download-withheld"] = current.get(pages["download"].link)
	pages["start-over"] = h.browser().get(h.srv.URL + "/portal/signin")
	// A new browser on the enrollment that was started: sign in again.
	pages["signin-again"] = h.browser().get(inv.URL)
	// The invitation on devices that enroll from Settings, and in a
	// browser the portal cannot place.
	for name, ua := range map[string]string{"settings-ios26": testenv.UserAgentIOS26,
		"settings-desktop": testenv.UserAgentMacSafari26, "signin-unknown": testenv.UserAgentAndroid} {
		o := h.browser()
		o.ua = ua
		pages[name] = o.get(inv.URL)
	}

	h.invite()
	dev := newPortalDeviceCA(t)
	_, webURL := portalDiscover(t, h, dev)
	a := h.browser()
	p = a.get(webURL)
	pages["account-signin"] = p
	p = a.submit(p, janeCredentials)
	p = a.submit(p, nil)
	h.mu.Lock()
	code := h.invites[len(h.invites)-1].Passcode
	h.mu.Unlock()
	pages["account-info"] = a.submit(p, map[string]string{"passcode": code})

	nonce := regexp.MustCompile(`nonce="[A-Za-z0-9_-]+"`)
	download := regexp.MustCompile(`/portal/profile/[A-Za-z0-9_-]+`)
	for name, p := range pages {
		t.Run(name, func(t *testing.T) {
			got := strings.ReplaceAll(p.body, h.srv.URL, "https://portal.example")
			got = nonce.ReplaceAllString(got, `nonce="NONCE"`)
			got = download.ReplaceAllString(got, "/portal/profile/TOKEN")
			got = strings.ReplaceAll(got, inv.Passcode, "PASSCODE")
			path := filepath.Join("testdata", "portal", name+".html")
			if *updatePortalGolden {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestPortalGolden -update-portal to create it)", err)
			}
			if got != string(want) {
				t.Errorf("page %s differs from %s (run with -update-portal to accept):\n%s", name, path, got)
			}
		})
	}
}
