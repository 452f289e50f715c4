package enroll

import (
	"encoding/json"
	"errors"
	"net/http"
)

// WellKnownHandler returns the handler for account-driven discovery, to be
// mounted at WellKnownPath on the domain of the users' Managed Apple
// Accounts. For a user with an open enrollment it answers 200 with the
// Portal's BaseURL (version mdm-byod); for an unknown user, or one without an
// invitation, or a device family without User Enrollment (Apple TV, Apple
// Watch), 403 with a com.apple.well-known.failed body whose message the
// device shows; for a malformed query 400 with the same kind of body.
//
// The answer tells whoever asks whether an account has an open enrollment:
// the request is not authenticated (the device sends it before anyone
// signs in), and answering 200 for every account would send users without
// an invitation through the sign-in and passcode steps only to fail there.
// What it reveals is limited to that one bit per Managed Apple Account name
// (not whether the person exists in the corporate directory, and nothing
// else about them; the portal's account-driven start page tells no more).
// Hosts that consider the bit sensitive rate-limit the path at their proxy.
func (p *Portal) WellKnownHandler() http.Handler {
	return http.HandlerFunc(p.handleWellKnown)
}

func (p *Portal) handleWellKnown(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, wellKnownError{Code: WellKnownFailedCode,
			Description: "method not allowed", Message: p.wkMessage})
		return
	}
	q, err := ParseWellKnownQuery(r.URL.RawQuery)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, wellKnownError{Code: WellKnownFailedCode,
			Description: err.Error(), Message: p.wkMessage})
		return
	}
	if q.ModelFamily == "AppleTV" || q.ModelFamily == "Watch" {
		writeJSON(w, http.StatusForbidden, wellKnownError{Code: WellKnownFailedCode,
			Description: "User Enrollment is not available for model family " + q.ModelFamily,
			Message:     "This device cannot be enrolled with a work account."})
		return
	}
	if _, err := p.svc.LookupAccount(r.Context(), q.UserIdentifier); err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnknownUser) || errors.Is(err, ErrInvalidInput) {
			writeJSON(w, http.StatusForbidden, wellKnownError{Code: WellKnownFailedCode,
				Description: "no open enrollment for this account", Message: p.wkMessage})
			return
		}
		p.logger.ErrorContext(r.Context(), "enroll: well-known lookup failed", "err", err)
		writeJSON(w, http.StatusInternalServerError, wellKnownError{Code: WellKnownFailedCode,
			Description: "internal error", Message: "Enrollment is not available right now. Try again later."})
		return
	}
	writeJSON(w, http.StatusOK, wellKnownResponse{Servers: []wellKnownServer{{Version: WellKnownVersionBYOD, BaseURL: p.BaseURL()}}})
}

// writeJSON writes v as a JSON response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "enroll: internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
