package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/enrollkit/enrollkit/devicesim"
	"github.com/enrollkit/enrollkit/internal/testenv"
)

// TestAdminPageInBrowser signs in to the admin page in headless Chromium
// at an iPhone's size, sees the enrollments and the funnel chart, creates
// an invitation and sees its QR code, and fails on any console error or
// uncaught exception, such as a Content-Security-Policy violation. With
// -update-docs it writes the README's screenshot docs/admin.png.
func TestAdminPageInBrowser(t *testing.T) {
	hb := startChromium(t)
	ts := startServer(t)
	// Three invitations, one of them enrolled.
	for i := range 3 {
		var inv invitationOut
		if code := ts.admin(t, "POST", "/invitations", map[string]string{"user": "alice"}, &inv); code != http.StatusCreated {
			t.Fatalf("invite: %d", code)
		}
		if i == 0 {
			d := ts.newDevice(t)
			if err := d.EnrollWithInvitation(t.Context(), inv.URL, devicesim.Credentials{
				Username: "alice", Password: "correct horse", Passcode: inv.Passcode,
			}); err != nil {
				t.Fatalf("enroll: %v", err)
			}
		}
	}

	ctx := hb.tab(t)
	dir := t.ArtifactDir()
	if err := chromedp.Do(ctx,
		chromedp.Emulate(phone(testenv.UserAgentIOS17)),
		chromedp.Navigate(ts.url+"/admin/ui/"),
		chromedp.WaitVisible(chromedp.CSS(`#token`))); err != nil {
		t.Fatalf("sign-in form: %v", err)
	}
	screenshot(t, ctx, filepath.Join(dir, "01-login.png"))
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#token`), ts.st.admin),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#funnel`)),
		chromedp.WaitVisible(chromedp.CSS(`#enrollments`))); err != nil {
		t.Fatalf("sign in: %v", err)
	}
	screenshot(t, ctx, filepath.Join(dir, "02-index.png"))
	if *updateDocs {
		screenshot(t, ctx, filepath.Join("..", "..", "docs", "admin.png"))
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#enrollments tbody tr').length`))
	if err != nil || rows != 3 {
		t.Errorf("enrollments table: %d rows, %v; want 3", rows, err)
	}
	bars, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[...document.querySelectorAll('#funnel rect.bar')].map(r => Math.round(r.getBBox().width))`))
	if err != nil || len(bars) != len(funnelSteps) || bars[0] != 340 || bars[len(bars)-1] != 113 {
		t.Errorf("funnel bars %v, %v: want %d bars from 340 (3 invited) to 113 (1 enrolled)", bars, err, len(funnelSteps))
	}
	// No horizontal scrolling on the phone.
	if w, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); err != nil || w > 390 {
		t.Errorf("page is %d px wide on a 390 px screen (%v)", w, err)
	}

	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#user`), "alice"),
		chromedp.Click(chromedp.CSS(`#invite`)),
		chromedp.WaitVisible(chromedp.CSS(`#qr`))); err != nil {
		t.Fatalf("invite: %v", err)
	}
	screenshot(t, ctx, filepath.Join(dir, "03-invitation.png"))
	qr, err := chromedp.Run(ctx, chromedp.Evaluate[int](`(() => { const i = document.querySelector('#qr'); return i.complete ? i.naturalWidth : 0 })()`))
	if err != nil || qr == 0 {
		t.Errorf("the QR code did not load: natural width %d, %v", qr, err)
	}
	link, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#invitation-url`)))
	if err != nil || !strings.HasPrefix(link, ts.url) {
		t.Errorf("invitation link %q, %v", link, err)
	}
	hb.check(t)
	t.Logf("screenshots in %s", dir)
}
