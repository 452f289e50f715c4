package enroll

import (
	"errors"
	"io"
	"net/http"

	"github.com/enrollkit/enrollkit/internal/httpauth"
)

// handleBaseURL is the account-driven enrollment endpoint (the BaseURL of
// the well-known answer). The device posts its CMS-signed MachineInfo:
//
//   - a body that is too large (413) or not a valid signed MachineInfo
//     (400) is refused. Its Content-Type is not looked at: devices send
//     application/pkcs7-signature, but some iOS releases send
//     application/x-www-form-urlencoded or nothing, and the CMS signature
//     over the body is what proves the request;
//   - without a valid bearer token the answer is 401 with a Bearer
//     challenge whose url is the portal's account start page, which the
//     device opens in a web view;
//   - with the access token the portal handed over, the answer is the
//     enrollment profile (EnrollmentMode BYOD, AssignedManagedAppleID).
func (p *Portal) handleBaseURL(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	setSecurityHeaders(h)
	h.Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		h.Set("Allow", http.MethodPost)
		http.Error(w, "enroll: method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxMachineInfoSize))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, "enroll: body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "enroll: reading body failed", http.StatusBadRequest)
		return
	}
	opts := p.deviceOpts
	opts.Now = p.now()
	mi, err := parseMachineInfo(body, opts)
	if err != nil {
		p.logger.WarnContext(r.Context(), "enroll: refused machine info", "client", p.clientIP(r), "err", err)
		http.Error(w, "enroll: the request body is not a valid signed MachineInfo", http.StatusBadRequest)
		return
	}
	token, ok := bearerToken(r)
	if !ok {
		p.challenge(w)
		return
	}
	m := p.meta(r)
	m.Actor = "device"
	// The identity payload depends on the release the device reports.
	ctx := withRelease(r.Context(), releaseFromMachineInfo(mi.Product, mi.OSVersion))
	prof, err := p.svc.FetchProfile(ctx, m, token)
	if err != nil {
		switch {
		case errors.Is(err, ErrNotFound), errors.Is(err, ErrInvalidTransition), errors.Is(err, ErrInvalidInput):
			// Unknown, replaced, revoked or expired token: the device must
			// authenticate again.
			p.logger.InfoContext(r.Context(), "enroll: bearer token refused at BaseURL", "client", p.clientIP(r), "err", err)
			p.challenge(w)
		default:
			p.logger.ErrorContext(r.Context(), "enroll: fetching account-driven profile", "err", err)
			http.Error(w, "enroll: internal error", http.StatusInternalServerError)
		}
		return
	}
	p.logger.InfoContext(r.Context(), "enroll: account-driven profile served", "enrollment", prof.Enrollment.ID,
		"product", mi.Product, "os_version", mi.OSVersion)
	writeProfile(w, prof)
}

// challenge answers 401 with the Bearer challenge that sends the device to
// the portal.
func (p *Portal) challenge(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", BearerChallenge{Method: BearerChallengeMethodWeb, URL: p.AccountStartURL()}.String())
	http.Error(w, "enroll: authentication required", http.StatusUnauthorized)
}

// bearerToken returns the token of an "Authorization: Bearer" header, as
// the device sends it to the BaseURL and with every MDM request.
func bearerToken(r *http.Request) (string, bool) {
	if r == nil {
		return "", false
	}
	return httpauth.BearerToken(r.Header.Get("Authorization"))
}
