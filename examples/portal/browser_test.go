package main

import (
	"context"
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
// emulating an iPhone: invitation → sign-in with ownership → privacy notice
// → passcode → information screen → terms → download link. It saves a
// screenshot of every page in the test's artifact directory (go test
// -artifacts keeps them) and fails on any console error or uncaught
// exception, such as a Content-Security-Policy violation.
func TestPortalInBrowser(t *testing.T) {
	chromium := testenv.LookPath(t, "chromium")
	ts := startServer(t)
	var inv invitationOut
	if code := ts.admin(t, "POST", "/invitations", map[string]string{"user": "alice"}, &inv); code != http.StatusCreated {
		t.Fatalf("invite: %d", code)
	}

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
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()

	var (
		mu       sync.Mutex
		problems []string
	)
	listenErr := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+ev.ExceptionDetails.Text)
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				problems = append(problems, fmt.Sprintf("console.error: %v", ev.Args))
			}
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError && !strings.HasSuffix(ev.Entry.URL, "/favicon.ico") {
				problems = append(problems, "console: "+ev.Entry.Text+" "+ev.Entry.URL)
			}
		}
	})
	if listenErr != nil {
		t.Fatalf("start chromium: %v", listenErr)
	}

	dir := t.ArtifactDir()
	// page runs steps, then saves a screenshot of the page they led to.
	page := func(name string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v (screenshots so far in %s)", name, err, dir)
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("%s: screenshot: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const submit = `form button[type="submit"]`

	page("01-signin",
		chromedp.Emulate(device.IPhone13),
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
	mu.Lock()
	for _, p := range problems {
		t.Errorf("browser reported: %s", p)
	}
	mu.Unlock()

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
