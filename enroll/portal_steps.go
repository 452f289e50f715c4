package enroll

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxFormSize bounds the body of a portal form post.
const maxFormSize = 64 << 10

// Progress shown on step pages ("Step n of portalSteps"): sign-in,
// privacy, passcode, information, terms, download or hand-off.
const portalSteps = 6

// stepRequest is what a step handler works with: the verified session and
// the enrollment it is bound to, as read at the start of the request.
type stepRequest struct {
	sess portalSession
	e    *Enrollment
}

// account reports whether the step runs in the account-driven flow.
func (s *stepRequest) account() bool { return s.sess.Flow == flowAccount }

// place says where an enrollment stands from the portal's point of view:
// either a page to show, or a final message with its status.
type place struct {
	page    string // portal path of the step page; "" for a final message
	status  int
	heading string
	detail  string
}

// placeOf returns the page for e in session s. Every step page after
// sign-in needs a session in which the user signed in: a session opened on
// an enrollment that was started elsewhere (a new browser, or a web view
// without the first session's cookie) gets the sign-in page first, and
// then resumes where the enrollment is.
func (p *Portal) placeOf(e *Enrollment, s portalSession) place {
	pl := p.stepOf(e, s)
	if pl.page != "" && !s.SignedIn {
		pl.page = portalPathSignIn
	}
	return pl
}

// stepOf returns the page for the state of e, for session s's flow.
func (p *Portal) stepOf(e *Enrollment, s portalSession) place {
	if e.State.expirable() && !e.ExpiresAt.IsZero() && !p.now().Before(e.ExpiresAt) {
		return place{status: http.StatusGone, heading: "Invitation expired",
			detail: "This enrollment was not finished in time. Ask your IT department for a new invitation."}
	}
	account := s.Flow == flowAccount
	switch e.State {
	case StateInvited:
		return place{page: portalPathSignIn}
	case StateAuthenticated:
		if e.Ownership == OwnershipEmployee && !s.Privacy {
			return place{page: portalPathPrivacy}
		}
		return place{page: portalPathPasscode}
	case StatePasscodeVerified:
		if e.InfoSeenAt.IsZero() {
			return place{page: portalPathInfo}
		}
		return place{page: portalPathTerms}
	case StateConsented:
		if account {
			return place{page: portalPathHandoff}
		}
		return place{page: portalPathDownload}
	case StateProfileIssued:
		if !account {
			return place{page: portalPathDownload}
		}
	case StateTokenIssued:
		if account {
			return place{page: portalPathHandoff}
		}
	case StateCheckedIn:
		// The device was interrupted before it finished: signing in
		// again leads to a new link or token to install again with.
		if e.Flow == FlowAccountDriven && account {
			return place{page: portalPathHandoff}
		}
		if e.Flow == FlowProfile && !account {
			return place{page: portalPathDownload}
		}
	case StateEnrolled:
		return place{status: http.StatusOK, heading: "Your device is enrolled",
			detail: "Enrollment is complete. You can close this page."}
	case StateRemoved:
		return place{status: http.StatusGone, heading: "Enrollment ended",
			detail: "The work profile was removed from the device. Ask your IT department for a new invitation to enroll again."}
	case StateExpired:
		return place{status: http.StatusGone, heading: "Invitation expired",
			detail: "This enrollment was not finished in time. Ask your IT department for a new invitation."}
	case StateRevoked:
		return place{status: http.StatusForbidden, heading: "Invitation withdrawn",
			detail: "This enrollment was cancelled by your IT department."}
	case StateLocked:
		return place{status: http.StatusLocked, heading: "Enrollment locked",
			detail: "Too many wrong passcodes were entered. Ask your IT department for a new invitation."}
	}
	return place{status: http.StatusConflict, heading: "Enrollment continues elsewhere",
		detail: "This enrollment is already being finished another way. Continue on the device where you started it."}
}

// step wraps a step handler: it verifies the session, loads the enrollment
// and checks that page is the enrollment's current step. A GET for another
// step is redirected to the current one; a POST for another step is refused
// with 403 and changes nothing.
func (p *Portal) step(page string, h func(http.ResponseWriter, *http.Request, *stepRequest)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, e, ok := p.current(w, r)
		if !ok {
			return
		}
		pl := p.placeOf(e, sess)
		if pl.page != page {
			if r.Method != http.MethodPost && pl.page != "" {
				p.redirect(w, r, pl.page)
				return
			}
			if pl.page == "" {
				p.renderError(w, r, pl.status, pl.heading, pl.detail, "")
				return
			}
			p.renderError(w, r, http.StatusForbidden, "This step is not available now",
				"The enrollment is at another step.", p.url(pl.page))
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormSize)
			if err := r.ParseForm(); err != nil {
				p.renderError(w, r, http.StatusBadRequest, "The form could not be read", "Go back and try again.", p.url(pl.page))
				return
			}
		}
		h(w, r, &stepRequest{sess: sess, e: e})
	}
}

// startOver answers a request whose session is missing, tampered with,
// expired or bound to an unknown enrollment: the cookie is cleared and the
// user is asked to open the invitation again.
func (p *Portal) startOver(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errSessionTampered) {
		p.logger.WarnContext(r.Context(), "enroll: tampered portal session cookie", "client", p.clientIP(r))
	}
	p.sessions.clear(w, r)
	detail := "Your session has ended. Open the link from your invitation again to start over."
	if errors.Is(err, errSessionExpired) {
		detail = "Your session has expired. Open the link from your invitation again to continue."
	}
	p.renderError(w, r, http.StatusForbidden, "Please start over", detail, "")
}

// fail maps a Service error to a status and renders the error page.
func (p *Portal) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, heading, detail := describeError(err)
	if status >= 500 {
		// The route pattern, not the path: paths carry invitation and
		// download tokens, which must not reach the logs.
		p.logger.ErrorContext(r.Context(), "enroll: portal step failed", "route", r.Pattern, "err", err)
	}
	p.renderError(w, r, status, heading, detail, "")
}

// describeError maps an error of the Service to an HTTP status and words
// for the user.
func describeError(err error) (status int, heading, detail string) {
	switch {
	case errors.Is(err, ErrInvalidInput):
		return http.StatusBadRequest, "Please check your entry", "Something you entered could not be used."
	case errors.Is(err, ErrLocked):
		return http.StatusLocked, "Enrollment locked", "Too many wrong passcodes were entered. Ask your IT department for a new invitation."
	case errors.Is(err, ErrWrongPasscode):
		return http.StatusUnauthorized, "Wrong passcode", "That passcode is not right."
	case errors.Is(err, ErrThrottled):
		return http.StatusTooManyRequests, "Too many attempts", "Too many sign-in attempts failed. For your security, wait a few minutes and try again."
	case errors.Is(err, ErrBadCredentials):
		return http.StatusUnauthorized, "Sign-in failed", "The username or password is not right."
	case errors.Is(err, ErrCorporateRefused):
		return http.StatusForbidden, "Company devices are enrolled another way", "This portal enrolls personal devices only. Ask your IT department how to enroll a company-owned device."
	case errors.Is(err, ErrRevoked):
		return http.StatusForbidden, "Invitation withdrawn", "This enrollment was cancelled by your IT department."
	case errors.Is(err, ErrExpired):
		return http.StatusGone, "Invitation expired", "This enrollment was not finished in time. Ask your IT department for a new invitation."
	case errors.Is(err, ErrLinkUsed):
		return http.StatusGone, "Link already used", "This download link works only once. Go back to the portal for a new link."
	case errors.Is(err, ErrLinkExpired):
		return http.StatusGone, "Link expired", "This download link was valid for 8 minutes. Go back to the portal for a new link."
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrUnknownUser):
		return http.StatusNotFound, "Link not valid", "This link is not valid. Check that you opened the whole link from your invitation."
	case errors.Is(err, ErrTermsMismatch), errors.Is(err, ErrVersionConflict):
		return http.StatusConflict, "Something changed", "The enrollment changed while you were on this page. Please review it again."
	case errors.Is(err, ErrInvalidTransition), errors.Is(err, ErrInfoNotSeen):
		return http.StatusForbidden, "This step is not available now", "The enrollment is at another step."
	}
	return http.StatusInternalServerError, "Something went wrong", "The enrollment could not continue because of a problem on our side. Please try again in a few minutes."
}

// renderError renders the error page. restart, if set, is offered as a
// link to continue.
func (p *Portal) renderError(w http.ResponseWriter, r *http.Request, status int, heading, detail, restart string) {
	d := pageData{Heading: heading, RestartURL: restart, Device: deviceName(r), RestartLabel: "Continue"}
	if status >= 400 {
		d.Error = detail
	} else {
		d.Detail = detail
	}
	p.render(w, r, status, "error", d)
}

// termsChangedMessage is shown when the terms changed while the user read
// them.
const termsChangedMessage = "The terms were updated while you were reading them. Please review the current terms."

// again shows step page name once more, with status and msg in its alert.
func (p *Portal) again(w http.ResponseWriter, r *http.Request, status int, name string, d pageData, msg string) {
	d.Error = msg
	p.render(w, r, status, name, d)
}

// advance ends a successful step: the session cookie is written again (so
// its lifetime counts from the last step, and it carries any change to s)
// and the browser is sent to the enrollment's current step.
func (p *Portal) advance(w http.ResponseWriter, r *http.Request, e *Enrollment, s portalSession) {
	if err := p.sessions.set(w, r, p.now(), s); err != nil {
		p.fail(w, r, err)
		return
	}
	p.next(w, r, e, s)
}

// next sends the browser to the current step of e.
func (p *Portal) next(w http.ResponseWriter, r *http.Request, e *Enrollment, s portalSession) {
	pl := p.placeOf(e, s)
	if pl.page == "" {
		p.renderError(w, r, pl.status, pl.heading, pl.detail, "")
		return
	}
	p.redirect(w, r, pl.page)
}

// handleInvitation opens an invitation link: the browser is bound to the
// invitation's enrollment and sent to its current step.
func (p *Portal) handleInvitation(w http.ResponseWriter, r *http.Request) {
	e, err := p.svc.OpenInvitation(r.Context(), p.meta(r), r.PathValue("token"))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.bind(w, r, e, flowProfile)
}

// handleInvitationQR serves the invitation link as a QR code PNG, for a
// page opened on a computer to hand over to the phone.
func (p *Portal) handleInvitationQR(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	if _, err := p.svc.OpenInvitation(r.Context(), p.meta(r), token); err != nil {
		p.fail(w, r, err)
		return
	}
	png, err := QRCode(p.svc.cfg.InvitationURL(token), 0)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	h := w.Header()
	setSecurityHeaders(h)
	h.Set("Content-Type", "image/png")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(png)
}

// bind binds the browser to enrollment e in flow and sends it to its step.
// A session this browser already holds for e (from either flow) keeps its
// privacy notice and sign-in; any other starts afresh, so an enrollment
// past sign-in asks for the user's credentials again.
func (p *Portal) bind(w http.ResponseWriter, r *http.Request, e *Enrollment, flow string) {
	s := portalSession{Enrollment: e.ID, Flow: flow}
	if old, err := p.sessions.get(r, p.now()); err == nil && old.Enrollment == e.ID {
		s.Privacy, s.SignedIn, s.Browser = old.Privacy, old.SignedIn, old.Browser
	}
	p.advance(w, r, e, s)
}

// handleAccountStart is where the device's web view lands in account-driven
// enrollment (the url of the Bearer challenge, with user-identifier added).
// It binds the web view to the user's open enrollment. The user-identifier
// alone proves nothing: unless this browser already holds a signed-in
// session for the enrollment, the user signs in with corporate credentials
// first, and an enrollment that was started then resumes at its step.
func (p *Portal) handleAccountStart(w http.ResponseWriter, r *http.Request) {
	q, err := ParseWellKnownQuery(r.URL.RawQuery)
	if err != nil {
		p.renderError(w, r, http.StatusBadRequest, "Account missing",
			"Start enrollment from Settings on your device, signing in with your work account.", "")
		return
	}
	e, err := p.svc.LookupAccount(r.Context(), q.UserIdentifier)
	if err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnknownUser) {
			p.renderError(w, r, http.StatusNotFound, "No invitation for this account",
				"There is no open enrollment invitation for this account. Ask your IT department for one.", "")
			return
		}
		p.fail(w, r, err)
		return
	}
	p.bind(w, r, e, flowAccount)
}

// handleContinue sends a browser with a session to its current step.
func (p *Portal) handleContinue(w http.ResponseWriter, r *http.Request) {
	if sess, e, ok := p.current(w, r); ok {
		p.next(w, r, e, sess)
	}
}

// current returns the browser's verified session and the enrollment it is
// bound to. Otherwise it answers the request (start over, or the error
// page) and reports false.
func (p *Portal) current(w http.ResponseWriter, r *http.Request) (portalSession, *Enrollment, bool) {
	sess, err := p.sessions.get(r, p.now())
	if err != nil {
		p.startOver(w, r, err)
		return sess, nil, false
	}
	e, err := p.svc.Get(r.Context(), sess.Enrollment)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			p.startOver(w, r, err)
		} else {
			p.fail(w, r, err)
		}
		return sess, nil, false
	}
	return sess, e, true
}

// stepPage returns the common data of a step page.
func (p *Portal) stepPage(r *http.Request, s *stepRequest, path string, step int) pageData {
	return pageData{Action: p.url(path), Step: step, Steps: portalSteps, Device: deviceName(r), AccountFlow: s.account()}
}

// signInPage returns the sign-in page. Signing in again to continue an
// enrollment (see Service.Authenticate) does not ask for the ownership,
// which was chosen at the first sign-in. In the profile flow the page
// names the browser's route, so that it can mention the Settings path to
// a device the portal cannot place.
func (p *Portal) signInPage(r *http.Request, s *stepRequest) pageData {
	d := p.stepPage(r, s, portalPathSignIn, 1)
	d.Resume = s.e.State != StateInvited
	d.ChooseOwnership = !s.account() && !d.Resume
	if !s.account() {
		rt := parseUserAgent(r.UserAgent()).route()
		d.Route, d.SettingsHint, d.UpdateHint = rt.String(), rt == routeUnknown, rt == routeTooOld
		d.ManagedAppleID = s.e.ManagedAppleID
	}
	return d
}

// browserQuery is the query that continues the profile flow in a browser
// whose User-Agent says its device enrolls from Settings.
const browserQuery = "browser=1"

// continueInBrowser reports whether r carries browserQuery.
func continueInBrowser(r *http.Request) bool { return r.URL.Query().Get("browser") == "1" }

// showSignIn shows the sign-in form, or, in the profile flow on a device
// that enrolls from Settings (see route), the account-driven steps with a
// link that continues here anyway. Following that link (?browser=1) is
// remembered in the session. The account-driven web view always gets the
// form: it is on the right path whatever its User-Agent says.
func (p *Portal) showSignIn(w http.ResponseWriter, r *http.Request, s *stepRequest) {
	if !s.account() && !s.sess.Browser {
		if continueInBrowser(r) {
			s.sess.Browser = true
			if err := p.sessions.set(w, r, p.now(), s.sess); err != nil {
				p.fail(w, r, err)
				return
			}
		} else if rt := parseUserAgent(r.UserAgent()).route(); rt == routeAccount || rt == routeDesktop {
			d := p.settingsPage(r, s.e, rt)
			d.ContinueURL = p.url(portalPathSignIn + "?" + browserQuery)
			p.render(w, r, http.StatusOK, "settings", d)
			return
		}
	}
	p.render(w, r, http.StatusOK, "signin", p.signInPage(r, s))
}

// settingsPage returns the page that leads a device on route rt to enroll
// from Settings with e's Managed Apple Account. The page names that account
// before sign-in, as the invitation does: only the invitation link (or the
// download link) opens it. The caller sets ContinueURL.
func (p *Portal) settingsPage(r *http.Request, e *Enrollment, rt route) pageData {
	d := pageData{Device: deviceName(r), Route: rt.String(), ManagedAppleID: e.ManagedAppleID,
		CorporateHere: p.svc.cfg.Corporate == CorporateDeviceEnrollment}
	switch {
	case rt == routeDesktop:
		d.ContinueLabel = "My iPad runs iPadOS 17 or earlier, or my Mac macOS 13 or earlier"
	case d.Device == "iPad":
		d.ContinueLabel = "My iPad runs iPadOS 17 or earlier"
	default:
		d.ContinueLabel = "My " + d.Device + " runs iOS 17 or earlier"
	}
	return d
}

func (p *Portal) postSignIn(w http.ResponseWriter, r *http.Request, s *stepRequest) {
	username := strings.TrimSpace(r.PostFormValue("username"))
	password := r.PostFormValue("password")
	ownership := Ownership(r.PostFormValue("ownership"))
	switch {
	case s.e.State != StateInvited:
		ownership = s.e.Ownership // signing in again keeps the first choice
	case s.account():
		ownership = OwnershipEmployee // account-driven enrollment is BYOD
	}
	d := p.signInPage(r, s)
	d.Username, d.Ownership = username, string(ownership)
	if username == "" || password == "" {
		p.again(w, r, http.StatusBadRequest, "signin", d, "Enter your username and password.")
		return
	}
	if !ownership.Valid() {
		p.again(w, r, http.StatusBadRequest, "signin", d, "Choose who owns this device.")
		return
	}
	e, err := p.svc.Authenticate(r.Context(), p.meta(r), s.e.ID, username, password, ownership)
	if err != nil {
		var te *ThrottleError
		if errors.As(err, &te) {
			// The credentials were not checked: say when to come back.
			w.Header().Set("Retry-After", strconv.Itoa(int(te.RetryAfter/time.Second)))
			p.again(w, r, http.StatusTooManyRequests, "signin", d,
				"Too many sign-in attempts failed. For your security, try again in "+waitText(te.RetryAfter)+".")
			return
		}
		status, _, detail := describeError(err)
		if status == http.StatusInternalServerError || errors.Is(err, ErrInvalidTransition) {
			p.fail(w, r, err)
			return
		}
		p.again(w, r, status, "signin", d, detail)
		return
	}
	s.sess.SignedIn = true
	p.advance(w, r, e, s.sess)
}

func (p *Portal) showPrivacy(w http.ResponseWriter, r *http.Request, s *stepRequest) {
	p.render(w, r, http.StatusOK, "privacy", p.stepPage(r, s, portalPathPrivacy, 2))
}

func (p *Portal) postPrivacy(w http.ResponseWriter, r *http.Request, s *stepRequest) {
	s.sess.Privacy = true
	p.advance(w, r, s.e, s.sess)
}

func (p *Portal) showPasscode(w http.ResponseWriter, r *http.Request, s *stepRequest) {
	p.render(w, r, http.StatusOK, "passcode", p.stepPage(r, s, portalPathPasscode, 3))
}

func (p *Portal) postPasscode(w http.ResponseWriter, r *http.Request, s *stepRequest) {
	code := strings.TrimSpace(r.PostFormValue("passcode"))
	d := p.stepPage(r, s, portalPathPasscode, 3)
	if code == "" {
		p.again(w, r, http.StatusBadRequest, "passcode", d, "Enter the passcode from your invitation.")
		return
	}
	e, err := p.svc.SubmitPasscode(r.Context(), p.meta(r), s.e.ID, code)
	if err != nil {
		var pe *PasscodeError
		switch {
		case errors.Is(err, ErrLocked):
			p.fail(w, r, err)
		case errors.As(err, &pe):
			d.AttemptsLeft = pe.AttemptsLeft
			p.again(w, r, http.StatusUnauthorized, "passcode", d, "That passcode is not right.")
		case errors.Is(err, ErrInvalidInput):
			p.again(w, r, http.StatusBadRequest, "passcode", d, "That passcode is not in the right form.")
		default:
			p.fail(w, r, err)
		}
		return
	}
	p.advance(w, r, e, s.sess)
}

func (p *Portal) showInfo(w http.ResponseWriter, r *http.Request, s *stepRequest) {
	d := p.stepPage(r, s, portalPathInfo, 4)
	d.ManagedAppleID = s.e.ManagedAppleID
	p.render(w, r, http.StatusOK, "info", d)
}

// postInfo records that the information screen was seen.
func (p *Portal) postInfo(w http.ResponseWriter, r *http.Request, s *stepRequest) {
	e, err := p.svc.AcknowledgeInfo(r.Context(), p.meta(r), s.e.ID)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.advance(w, r, e, s.sess)
}

func (p *Portal) termsPage(r *http.Request, s *stepRequest) pageData {
	t := p.portalTerms()
	d := p.stepPage(r, s, portalPathTerms, 5)
	d.TermsText, d.TermsVersion, d.TermsDigest = t.Text, t.Version, t.Digest()
	return d
}

func (p *Portal) showTerms(w http.ResponseWriter, r *http.Request, s *stepRequest) {
	p.render(w, r, http.StatusOK, "terms", p.termsPage(r, s))
}

// postTerms records consent to exactly the terms that were shown: the form
// carries the digest of the text it displayed, and if the terms changed in
// the meantime the new ones are shown again (409) instead.
func (p *Portal) postTerms(w http.ResponseWriter, r *http.Request, s *stepRequest) {
	d := p.termsPage(r, s)
	if r.PostFormValue("accept") != "yes" {
		p.again(w, r, http.StatusBadRequest, "terms", d, "To continue, accept the terms of use.")
		return
	}
	shown := strings.ToLower(strings.TrimSpace(r.PostFormValue("terms_digest")))
	if shown == "" {
		// A client that does not send hidden fields accepts the page it
		// was given, which is the current text.
		shown = d.TermsDigest
	}
	if shown != d.TermsDigest {
		p.again(w, r, http.StatusConflict, "terms", d, termsChangedMessage)
		return
	}
	e, err := p.svc.AcceptTerms(r.Context(), p.meta(r), s.e.ID, Consent{Version: d.TermsVersion, Digest: shown})
	if err != nil {
		if errors.Is(err, ErrTermsMismatch) {
			p.again(w, r, http.StatusConflict, "terms", d, termsChangedMessage)
			return
		}
		p.fail(w, r, err)
		return
	}
	if s.account() {
		p.handOff(w, r, e.ID)
		return
	}
	p.advance(w, r, e, s.sess)
}

// showDownload issues a fresh single-use download link and shows it. Each
// visit replaces the previous link, so a user whose link ran out reloads
// the page.
//
// This is the portal's one GET that changes the enrollment, so it is
// refused when the browser says another site started the navigation
// (Sec-Fetch-Site cross-site or same-site): a page elsewhere could
// otherwise replace the user's link, or move a consented enrollment to
// ProfileIssued, through the SameSite=Lax cookie. The refusal offers a
// same-origin link to this page, which then issues the link.
func (p *Portal) showDownload(w http.ResponseWriter, r *http.Request, s *stepRequest) {
	if refuseHead(w, r) {
		return
	}
	if crossSiteNavigation(r) {
		p.logger.WarnContext(r.Context(), "enroll: cross-site navigation to the download step refused", "client", p.clientIP(r))
		d := pageData{Heading: "Continue to your download", Device: deviceName(r),
			Error:      "This page was opened from another site, so no download link was made.",
			RestartURL: p.url(portalPathDownload), RestartLabel: "Get the download link"}
		p.render(w, r, http.StatusForbidden, "error", d)
		return
	}
	link, err := p.svc.IssueDownloadLink(r.Context(), p.meta(r), s.e.ID)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	d := p.stepPage(r, s, portalPathDownload, 6)
	d.Action = ""
	d.DownloadURL = p.url(portalPathProfile + url.PathEscape(link.Token))
	if s.sess.Browser {
		// The user said this device can install the profile.
		d.DownloadURL += "?" + browserQuery
	}
	d.ExpiresIn = humanDuration(link.ExpiresAt.Sub(p.now()))
	p.render(w, r, http.StatusOK, "download", d)
}

// showHandoff is shown in the account-driven flow when the terms were
// accepted but the access token was not handed over (a reload, or a device
// that asks again): one button finishes.
func (p *Portal) showHandoff(w http.ResponseWriter, r *http.Request, s *stepRequest) {
	d := p.stepPage(r, s, portalPathFinish, 6)
	p.render(w, r, http.StatusOK, "complete", d)
}

func (p *Portal) postFinish(w http.ResponseWriter, r *http.Request, s *stepRequest) {
	if !s.account() {
		p.renderError(w, r, http.StatusForbidden, "This step is not available now", "The enrollment is at another step.", "")
		return
	}
	p.handOff(w, r, s.e.ID)
}

// handOff issues the access token and hands it to the device: 308 to the
// authentication-results URL that ends the device's web view.
func (p *Portal) handOff(w http.ResponseWriter, r *http.Request, id string) {
	tok, err := p.svc.IssueAccessToken(r.Context(), p.meta(r), id)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.sessions.clear(w, r)
	h := w.Header()
	setSecurityHeaders(h)
	h.Set("Cache-Control", "no-store")
	h.Set("Location", AccessTokenCallbackURL+"?access-token="+url.QueryEscape(tok.Token))
	w.WriteHeader(http.StatusPermanentRedirect)
}

// handleDownloadProfile serves the signed profile for a download link,
// once. The link itself is the credential; it is single use and short
// lived. It is a GET that marks the link used, because the link is what
// the user taps to install the profile; it needs no cookie, so a page
// elsewhere cannot make a browser use a link the page does not know.
//
// An iPhone or iPad whose release cannot install a profile-based User
// Enrollment (iOS/iPadOS 18 or later) gets the Settings steps instead, and
// the link stays unused; the page offers the link again with ?browser=1
// for a device misread. A corporate device enrollment profile, which those
// releases still install, is served.
func (p *Portal) handleDownloadProfile(w http.ResponseWriter, r *http.Request) {
	if refuseHead(w, r) {
		return
	}
	token := r.PathValue("token")
	if !continueInBrowser(r) && parseUserAgent(r.UserAgent()).cannotInstallProfileUE() {
		if e, err := p.svc.findByToken(r.Context(), IndexDownload, token); err == nil && p.wouldServeUserEnrollment(e) {
			p.logger.InfoContext(r.Context(), "enroll: profile download withheld from a release that cannot install it", "enrollment", e.ID)
			d := p.settingsPage(r, e, routeAccount)
			d.CorporateHere = false // the owner was chosen: a personal device
			d.Error = "This " + d.Device + " cannot install the enrollment profile: from iOS 18 and iPadOS 18 it enrolls from Settings. Your download link was not used."
			d.ContinueURL = p.url(portalPathProfile + url.PathEscape(token) + "?" + browserQuery)
			d.ContinueLabel += ": download anyway"
			p.render(w, r, http.StatusConflict, "settings", d)
			return
		}
	}
	prof, err := p.svc.DownloadProfile(r.Context(), p.meta(r), token)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	writeProfile(w, prof)
}

// wouldServeUserEnrollment reports whether a download link of e would now
// serve a profile-based User Enrollment profile: e is a personal device's
// enrollment waiting for its download and the link is unused and current.
// A link that would fail anyway gets its usual answer.
func (p *Portal) wouldServeUserEnrollment(e *Enrollment) bool {
	return e.Ownership != OwnershipCorporate && e.State == StateProfileIssued && !e.DownloadUsed &&
		p.now().Before(e.DownloadExpiresAt)
}

// refuseHead answers a HEAD request with 405 and reports true. The GET
// routes that issue or use a single-use link serve HEAD this way, so that
// a client checking a link (a link preview, a download manager) neither
// replaces nor spends it.
func refuseHead(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodHead {
		return false
	}
	h := w.Header()
	setSecurityHeaders(h)
	h.Set("Cache-Control", "no-store")
	h.Set("Allow", http.MethodGet)
	w.WriteHeader(http.StatusMethodNotAllowed)
	return true
}

// crossSiteNavigation reports whether the browser says that another site
// started the request (Fetch Metadata). Browsers that do not send the
// header, and scripted clients, are not refused.
func crossSiteNavigation(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return true
	}
	return false
}

// writeProfile writes a signed enrollment profile response.
func writeProfile(w http.ResponseWriter, prof *SignedProfile) {
	h := w.Header()
	setSecurityHeaders(h)
	ct := prof.ContentType
	if ct == "" {
		ct = ProfileContentType
	}
	h.Set("Content-Type", ct)
	h.Set("Content-Disposition", `attachment; filename="enroll.mobileconfig"`)
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", fmt.Sprint(len(prof.Data)))
	_, _ = w.Write(prof.Data)
}

// waitText formats a throttle's wait for page text: seconds under a
// minute, else minutes rounded up.
func waitText(d time.Duration) string {
	if d <= time.Second {
		return "1 second"
	}
	if d < time.Minute {
		return fmt.Sprintf("%d seconds", int((d+time.Second-1)/time.Second))
	}
	if m := int((d + time.Minute - 1) / time.Minute); m > 1 {
		return fmt.Sprintf("%d minutes", m)
	}
	return "1 minute"
}

// humanDuration formats d in whole minutes (at least one) for page text.
func humanDuration(d time.Duration) string {
	m := int((d + 30*time.Second) / time.Minute)
	if m <= 1 {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", m)
}
