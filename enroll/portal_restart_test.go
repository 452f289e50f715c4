package enroll_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/enrollkit/enrollkit/enroll"
)

// portalRestartStops are the points at which a user loses the portal
// session; reach brings jane's enrollment there through the Service (as
// the first browser would have) and returns the secret issued last, if
// any.
var portalRestartStops = []struct {
	name  string
	reach func(t *testing.T, h *harness, inv *enroll.Invitation, account bool) string
	// profile and account are where each flow resumes after signing in
	// again ("" when that flow does not go on from here).
	profile, account string
}{
	{
		name:    "signed in",
		reach:   func(t *testing.T, h *harness, inv *enroll.Invitation, _ bool) string { return "" },
		profile: "privacy", account: "privacy",
	},
	{
		name: "passcode verified",
		reach: func(t *testing.T, h *harness, inv *enroll.Invitation, _ bool) string {
			portalSvcStep(t, "SubmitPasscode", func(ctx context.Context, m enroll.Meta) error {
				_, err := h.svc.SubmitPasscode(ctx, m, inv.EnrollmentID, inv.Passcode)
				return err
			})
			return ""
		},
		profile: "info", account: "info",
	},
	{
		name: "information seen",
		reach: func(t *testing.T, h *harness, inv *enroll.Invitation, _ bool) string {
			portalToInfoSeen(t, h, inv)
			return ""
		},
		profile: "terms", account: "terms",
	},
	{
		name: "consented",
		reach: func(t *testing.T, h *harness, inv *enroll.Invitation, _ bool) string {
			portalToConsented(t, h, inv)
			return ""
		},
		profile: "download", account: "account/complete",
	},
	{
		name: "link or token issued",
		reach: func(t *testing.T, h *harness, inv *enroll.Invitation, account bool) string {
			portalToConsented(t, h, inv)
			ctx := context.Background()
			if account {
				tok, err := h.svc.IssueAccessToken(ctx, enroll.Meta{}, inv.EnrollmentID)
				if err != nil {
					t.Fatal(err)
				}
				return tok.Token
			}
			link, err := h.svc.IssueDownloadLink(ctx, enroll.Meta{}, inv.EnrollmentID)
			if err != nil {
				t.Fatal(err)
			}
			return link.Token
		},
		profile: "download", account: "account/complete",
	},
}

// TestPortalRestartProfile: a user who lost Safari's session opens the
// invitation link again in a new browser, is asked to sign in (someone
// else's credentials are refused), and resumes where the enrollment is.
func TestPortalRestartProfile(t *testing.T) {
	for _, stop := range portalRestartStops {
		t.Run(stop.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{})
			inv := h.invite()
			portalSignInEmployee(t, h, inv)
			secret := stop.reach(t, h, inv, false)

			b := h.browser()
			p := b.get(inv.URL)
			portalWantStatus(t, p, http.StatusOK)
			portalWantResumeSignIn(t, p)
			portalWantRefusedSignIn(t, h, b, p, inv.EnrollmentID)

			p = b.submit(p, janeCredentials)
			if stop.profile == "privacy" {
				// A new session shows the privacy notice again.
				p = b.submit(p, nil)
				portalWantPath(t, p, "passcode")
				return
			}
			portalWantPath(t, p, stop.profile)
			if stop.profile != "download" {
				return
			}
			if secret != "" {
				// The link issued before is still good: showing the
				// page issued a new one, and the old one was replaced.
				resp, _ := portalFetch(t, h.srv.URL+"/portal/profile/"+secret)
				if resp.StatusCode != http.StatusNotFound {
					t.Fatalf("replaced download link: %d, want 404", resp.StatusCode)
				}
			}
			resp, body := portalFetch(t, p.link)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != enroll.ProfileContentType {
				t.Fatalf("download after signing in again: %d %s", resp.StatusCode, body)
			}
		})
	}
}

// TestPortalRestartAccount: account-driven enrollment started again from
// Settings opens a web view without the first one's cookie; the user signs
// in again from user-identifier and resumes where the enrollment is.
func TestPortalRestartAccount(t *testing.T) {
	for _, stop := range portalRestartStops {
		t.Run(stop.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{})
			inv := h.invite()
			_, webURL := portalDiscover(t, h, newPortalDeviceCA(t))
			portalSignInEmployee(t, h, inv)
			secret := stop.reach(t, h, inv, true)

			b := h.browser()
			p := b.get(webURL)
			portalWantStatus(t, p, http.StatusOK)
			portalWantResumeSignIn(t, p)
			portalWantRefusedSignIn(t, h, b, p, inv.EnrollmentID)

			p = b.submit(p, janeCredentials)
			portalWantPath(t, p, stop.account)
			if stop.account != "account/complete" {
				return
			}
			if secret != "" {
				// The token handed over before still works until the
				// hand-off replaces it.
				if _, err := h.svc.FetchProfile(context.Background(), enroll.Meta{}, secret); err != nil {
					t.Fatalf("access token issued before signing in again: %v", err)
				}
			}
			portalWantHandoff(t, b.submit(p, nil))
		})
	}
}

// TestPortalRestartKeepsAttempts: wrong passcodes entered in the first
// browser still count in the second; signing in again resets nothing, and
// the lock-out ends both.
func TestPortalRestartKeepsAttempts(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	inv := h.invite()
	first := h.browser()
	p := portalWalkToPasscode(t, first, inv)
	for _, left := range []string{"4 attempts left", "3 attempts left"} {
		p = first.submit(p, map[string]string{"passcode": "00000000"})
		portalWantStatus(t, p, http.StatusUnauthorized)
		if !strings.Contains(p.body, left) {
			t.Fatalf("first browser: want %q on the page", left)
		}
	}

	second := h.browser()
	q := second.submit(second.get(inv.URL), janeCredentials)
	q = second.submit(q, nil)
	portalWantPath(t, q, "passcode")
	q = second.submit(q, map[string]string{"passcode": "00000000"})
	portalWantStatus(t, q, http.StatusUnauthorized)
	if !strings.Contains(q.body, "2 attempts left") {
		t.Fatalf("second browser: the attempt counter started again:\n%s", q.body)
	}
	// Signing in again once more in a third browser does not help either.
	third := h.browser()
	r := third.submit(third.get(inv.URL), janeCredentials)
	r = third.submit(r, nil)
	r = third.submit(r, map[string]string{"passcode": "00000000"})
	portalWantStatus(t, r, http.StatusUnauthorized)
	if !strings.Contains(r.body, "1 attempt left") {
		t.Fatalf("third browser: the attempt counter started again:\n%s", r.body)
	}
	r = third.submit(r, map[string]string{"passcode": "00000000"})
	portalWantStatus(t, r, http.StatusLocked)
	// Locked: no browser gets back in by signing in.
	for _, b := range []*browser{first, h.browser()} {
		portalWantStatus(t, b.get(inv.URL), http.StatusLocked)
	}
	portalWantStatus(t, first.get(h.srv.URL+"/portal/signin"), http.StatusLocked)
	_, err := h.svc.Authenticate(context.Background(), enroll.Meta{}, inv.EnrollmentID, testUsername, testPassword, enroll.OwnershipEmployee)
	if !errors.Is(err, enroll.ErrLocked) {
		t.Fatalf("signing in on a locked enrollment: %v, want ErrLocked", err)
	}
}

// TestPortalRestartKeepsOwnership: a corporate device signed in again keeps
// its ownership; the question is not asked twice.
func TestPortalRestartKeepsOwnership(t *testing.T) {
	h := newHarness(t, harnessOptions{corporate: enroll.CorporateDeviceEnrollment})
	inv := h.invite()
	b := h.browser()
	p := b.submit(b.get(inv.URL), map[string]string{"username": testUsername, "password": testPassword, "ownership": "corporate"})
	portalWantPath(t, p, "passcode")
	other := h.browser()
	p = other.get(inv.URL)
	portalWantResumeSignIn(t, p)
	// A hand-made post naming the other ownership changes nothing.
	p = other.submit(p, janeEmployee)
	portalWantPath(t, p, "passcode")
	e, err := h.svc.Get(context.Background(), inv.EnrollmentID)
	if err != nil || e.Ownership != enroll.OwnershipCorporate {
		t.Fatalf("ownership after signing in again: %+v, %v", e, err)
	}
}

// portalSignInEmployee signs jane in on inv through the Service, as a first
// browser would.
func portalSignInEmployee(t *testing.T, h *harness, inv *enroll.Invitation) {
	t.Helper()
	portalSvcStep(t, "Authenticate", func(ctx context.Context, m enroll.Meta) error {
		_, err := h.svc.Authenticate(ctx, m, inv.EnrollmentID, testUsername, testPassword, enroll.OwnershipEmployee)
		return err
	})
}

// portalToInfoSeen takes a signed-in enrollment through the passcode and
// the information screen.
func portalToInfoSeen(t *testing.T, h *harness, inv *enroll.Invitation) {
	t.Helper()
	portalSvcStep(t, "SubmitPasscode", func(ctx context.Context, m enroll.Meta) error {
		_, err := h.svc.SubmitPasscode(ctx, m, inv.EnrollmentID, inv.Passcode)
		return err
	})
	portalSvcStep(t, "AcknowledgeInfo", func(ctx context.Context, m enroll.Meta) error {
		_, err := h.svc.AcknowledgeInfo(ctx, m, inv.EnrollmentID)
		return err
	})
}

// portalToConsented takes a signed-in enrollment to Consented.
func portalToConsented(t *testing.T, h *harness, inv *enroll.Invitation) {
	t.Helper()
	portalToInfoSeen(t, h, inv)
	portalSvcStep(t, "AcceptTerms", func(ctx context.Context, m enroll.Meta) error {
		_, err := h.svc.AcceptTerms(ctx, m, inv.EnrollmentID, enroll.Consent{Version: testTermsVer, Digest: enroll.TermsDigest(testTermsText)})
		return err
	})
}

// portalSvcStep runs one Service step and fails the test on an error.
func portalSvcStep(t *testing.T, what string, fn func(context.Context, enroll.Meta) error) {
	t.Helper()
	if err := fn(context.Background(), enroll.Meta{}); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// portalWantResumeSignIn fails unless p is the sign-in page for continuing
// an enrollment: credentials only, no ownership question.
func portalWantResumeSignIn(t *testing.T, p *page) {
	t.Helper()
	portalWantPath(t, p, "signin")
	if !strings.Contains(p.body, "where you left off") {
		t.Fatalf("sign-in page does not say the enrollment continues:\n%s", p.body)
	}
	if len(p.forms) != 1 {
		t.Fatalf("sign-in page has %d forms", len(p.forms))
	}
	for _, n := range p.forms[0].names {
		if n == "ownership" {
			t.Fatal("signing in again asks for the ownership a second time")
		}
	}
}

// portalWantRefusedSignIn checks, in browser b on sign-in page p, that
// later steps are refused before signing in and that another user's
// credentials are refused; neither changes enrollment id.
func portalWantRefusedSignIn(t *testing.T, h *harness, b *browser, p *page, id string) {
	t.Helper()
	ctx := context.Background()
	before, err := h.svc.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"passcode", "info", "terms"} {
		q := b.post(h.srv.URL+"/portal/"+path, url.Values{"passcode": {"00000000"}, "accept": {"yes"}})
		portalWantStatus(t, q, http.StatusForbidden)
	}
	for _, path := range []string{"continue", "passcode", "download", "account/complete"} {
		portalWantPath(t, b.get(h.srv.URL+"/portal/"+path), "signin")
	}
	q := b.submit(p, map[string]string{"username": "bob", "password": "bobpw"})
	portalWantStatus(t, q, http.StatusUnauthorized)
	portalWantPath(t, q, "signin")
	after, err := h.svc.Get(ctx, id)
	if err != nil || after.Version != before.Version {
		t.Fatalf("refused steps changed the enrollment: version %d → %d (%v)", before.Version, after.Version, err)
	}
}
