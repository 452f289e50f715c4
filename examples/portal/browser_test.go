package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/device"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/internal/testenv"
)

// TestPortalInBrowser walks the profile-based portal in headless Chromium
// emulating an iPhone with Safari on iOS 17: invitation → sign-in with
// ownership → privacy notice → passcode → information screen → terms →
// download link. The same link opened as Safari on iOS 26 shows the
// Settings steps and stays unused. It saves a screenshot of every page in
// the test's artifact directory (go test -artifacts keeps them) and fails
// on any console error or uncaught exception, such as a
// Content-Security-Policy violation.
func TestPortalInBrowser(t *testing.T) {
	hb := startChromium(t)
	ts := startServer(t)
	var inv invitationOut
	if code := ts.admin(t, "POST", "/invitations", map[string]string{"user": "alice"}, &inv); code != http.StatusCreated {
		t.Fatalf("invite: %d", code)
	}

	ctx := hb.tab(t)

	dir := t.ArtifactDir()
	// page runs steps, then saves a screenshot of the page they led to.
	page := func(name string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v (screenshots so far in %s)", name, err, dir)
		}
		screenshot(t, ctx, filepath.Join(dir, name+".png"))
		if *updateDocs && name == "04-info" {
			screenshot(t, ctx, filepath.Join("..", "..", "docs", "portal-info.png"))
		}
	}
	const submit = `form button[type="submit"]`

	page("01-signin",
		chromedp.Emulate(phone(testenv.UserAgentIOS17)),
		chromedp.Navigate(inv.URL),
		chromedp.WaitVisible(chromedp.CSS(`#username`)))
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	page("02-privacy",
		chromedp.SendKeys(chromedp.CSS(`#username`), "alice"),
		chromedp.SendKeys(chromedp.CSS(`#password`), "correct horse"),
		chromedp.Click(chromedp.CSS(`#ownership-employee`)),
		chromedp.Click(chromedp.CSS(submit)),
		chromedp.WaitNotPresent(chromedp.CSS(`#username`)),
		chromedp.WaitVisible(chromedp.CSS(submit)))
	page("03-passcode",
		chromedp.Click(chromedp.CSS(submit)),
		chromedp.WaitVisible(chromedp.CSS(`#passcode`)))
	page("04-info",
		chromedp.SendKeys(chromedp.CSS(`#passcode`), inv.Passcode),
		chromedp.Click(chromedp.CSS(submit)),
		chromedp.WaitNotPresent(chromedp.CSS(`#passcode`)),
		chromedp.WaitVisible(chromedp.CSS(submit)))
	page("05-terms",
		chromedp.Click(chromedp.CSS(submit)),
		chromedp.WaitVisible(chromedp.CSS(`#accept`)))
	page("06-download",
		chromedp.Click(chromedp.CSS(`#accept`)),
		chromedp.Click(chromedp.CSS(submit)),
		chromedp.WaitVisible(chromedp.CSS(`#download-profile`)))
	attr, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`#download-profile`), "href"))
	if err != nil || !attr.Exists {
		t.Fatalf("download link: %v", err)
	}
	href := attr.Value
	if title == "" {
		t.Error("the sign-in page has no title")
	}
	hb.check(t)

	// The same link on iOS 26, which cannot install the profile: the
	// Settings steps, and the link stays unused.
	current := hb.tab(t)
	if err := chromedp.Do(current,
		chromedp.Emulate(phone(testenv.UserAgentIOS26)),
		chromedp.Navigate(href),
		chromedp.WaitVisible(chromedp.CSS(`#settings-steps`))); err != nil {
		t.Fatalf("download link on iOS 26: %v", err)
	}
	screenshot(t, current, filepath.Join(dir, "07-download-withheld-ios26.png"))
	alert, err := chromedp.Run(current, chromedp.Text(chromedp.CSS(`[role="alert"]`)))
	if err != nil || !strings.Contains(alert, "was not used") {
		t.Errorf("download link on iOS 26: alert %q, %v", alert, err)
	}
	hb.check(t)

	// The link the user taps serves the signed profile, once.
	resp, err := http.Get(href)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != enroll.ProfileContentType {
		t.Fatalf("download link: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	e := ts.enrollment(t, inv.EnrollmentID)
	if e.State != enroll.StateProfileIssued {
		t.Errorf("after the download the enrollment is %s, want %s", e.State, enroll.StateProfileIssued)
	}
	t.Logf("screenshots in %s", dir)
}

// headless is one headless Chromium for a test; each tab has its own
// browser context (cookies), and every console error or uncaught exception
// in any of them is recorded.
type headless struct {
	browser  context.Context
	mu       sync.Mutex
	problems []string
}

// startChromium starts headless Chromium (skipping the test without it,
// failing it under CI); it stops with the test.
func startChromium(t *testing.T) *headless {
	t.Helper()
	chromium := testenv.LookPath(t, "chromium")
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(),
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
	)
	t.Cleanup(cancelAlloc)
	// The first context starts the browser; tabs open beside it.
	browser, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &headless{browser: browser}
}

// tab opens a tab in a browser context of its own, which ends with the
// test or after 90 seconds.
func (hb *headless) tab(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(hb.browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelTimeout)
	err := chromedp.Listen(ctx, func(ev any) {
		hb.mu.Lock()
		defer hb.mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			hb.problems = append(hb.problems, "exception: "+ev.ExceptionDetails.Text)
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				hb.problems = append(hb.problems, fmt.Sprintf("console.error: %v", ev.Args))
			}
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError && !strings.HasSuffix(ev.Entry.URL, "/favicon.ico") && !hb.expected(ev.Entry.Text) {
				hb.problems = append(hb.problems, "console: "+ev.Entry.Text+" "+ev.Entry.URL)
			}
		}
	})
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// expected reports whether a console entry is one the test causes on
// purpose: the 409 of a withheld profile download.
func (hb *headless) expected(text string) bool {
	return strings.Contains(text, "status of 409")
}

// check fails the test for every problem a tab reported.
func (hb *headless) check(t *testing.T) {
	t.Helper()
	hb.mu.Lock()
	defer hb.mu.Unlock()
	for _, p := range hb.problems {
		t.Errorf("browser reported: %s", p)
	}
}

// screenshot saves a PNG of the whole page in ctx's tab at path.
func screenshot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
}

var updateDocs = flag.Bool("update-docs", false, "write the README's portal screenshots into docs/")

// phone emulates an iPhone-sized screen (390×844, one pixel per point,
// which keeps screenshots small) whose browser sends ua.
type phone string

// Device implements chromedp.Device.
func (ua phone) Device() device.Info {
	return device.Info{Name: "phone", UserAgent: string(ua), Width: 390, Height: 844, Scale: 1, Mobile: true, Touch: true}
}

// TestPortalRoutesInBrowser opens an invitation in headless Chromium with
// the real User-Agents of Safari on iOS 17, iOS 18, iOS 26 and macOS, and
// checks that each is led its way: iOS 17 to the sign-in form, iOS 18 and
// 26 to the Settings steps with the user's Managed Apple Account, the Mac
// (which may be an iPad asking for desktop sites) to the Settings steps of
// both. On iOS 26 "my iPhone runs iOS 17 or earlier" leads to the sign-in
// form. With -update-docs it writes the README's screenshots into docs/.
func TestPortalRoutesInBrowser(t *testing.T) {
	hb := startChromium(t)
	ts := startServer(t)
	dir := t.ArtifactDir()
	tests := []struct {
		name     string
		ua       string
		settings bool   // the Settings steps instead of the sign-in form
		mac      bool   // with the Mac's System Settings path
		doc      string // the screenshot's name in docs/, if the README shows it
	}{
		{"ios17", testenv.UserAgentIOS17, false, false, "portal-signin.png"},
		{"ios18", testenv.UserAgentIOS18, true, false, ""},
		{"ios26", testenv.UserAgentIOS26, true, false, "portal-settings.png"},
		{"macos-safari", testenv.UserAgentMacSafari26, true, true, "portal-settings-mac.png"},
	}
	texts := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var inv invitationOut
			if code := ts.admin(t, "POST", "/invitations", map[string]string{"user": "alice"}, &inv); code != http.StatusCreated {
				t.Fatalf("invite: %d", code)
			}
			ctx := hb.tab(t)
			if err := chromedp.Do(ctx, chromedp.Emulate(phone(tt.ua)), chromedp.Navigate(inv.URL),
				chromedp.WaitVisible(chromedp.CSS(`h1`))); err != nil {
				t.Fatal(err)
			}
			screenshot(t, ctx, filepath.Join(dir, tt.name+".png"))
			if *updateDocs && tt.doc != "" {
				screenshot(t, ctx, filepath.Join("..", "..", "docs", tt.doc))
			}
			text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`main`)))
			if err != nil {
				t.Fatal(err)
			}
			texts[tt.name] = text
			present := func(sel string) bool {
				t.Helper()
				ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector(`+"`"+sel+"`"+`) !== null`))
				if err != nil {
					t.Fatal(err)
				}
				return ok
			}
			if got := present(`#settings-steps`); got != tt.settings {
				t.Errorf("Settings steps shown: %v, want %v:\n%s", got, tt.settings, text)
			}
			if got := present(`#username`); got == tt.settings {
				t.Errorf("sign-in form shown: %v, want %v:\n%s", got, !tt.settings, text)
			}
			if !tt.settings {
				return
			}
			for _, want := range []string{"Settings → General → VPN & Device Management", "Sign In to Work or School Account",
				"Managed Apple Account alice@example.com"} {
				if !strings.Contains(text, want) {
					t.Errorf("the Settings steps lack %q:\n%s", want, text)
				}
			}
			if got := strings.Contains(text, "System Settings → General → Device Management"); got != tt.mac {
				t.Errorf("Mac path shown: %v, want %v", got, tt.mac)
			}
			if tt.name != "ios26" {
				return
			}
			// A device misread continues in the browser.
			if !present(`#continue-in-browser`) {
				t.Fatal("no way to continue in the browser")
			}
			if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#continue-in-browser`)),
				chromedp.WaitVisible(chromedp.CSS(`#username`))); err != nil {
				t.Fatalf("continue in the browser: %v", err)
			}
			screenshot(t, ctx, filepath.Join(dir, tt.name+"-continued.png"))
		})
	}
	if texts["ios18"] != texts["ios26"] || texts["ios26"] == texts["ios17"] || texts["ios26"] == texts["macos-safari"] {
		t.Errorf("want iOS 18 and 26 to see the same page, iOS 17 and the Mac others:\n%q", texts)
	}
	hb.check(t)
	t.Logf("screenshots in %s", dir)
}
