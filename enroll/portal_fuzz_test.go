package enroll_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/enrollkit/enrollkit/enroll"
)

// FuzzPortalBaseURL posts arbitrary bodies and Authorization headers to
// the account-driven BaseURL: the answer is always a clean refusal (or, for
// a device body signed by the trusted CA and the right token, the profile)
// and no enrollment moves.
func FuzzPortalBaseURL(f *testing.F) {
	dev := newPortalDeviceCA(f)
	h := newHarness(f, harnessOptions{deviceRoots: dev.pool()})
	inv := h.invite()
	good := dev.machineInfo(f)
	f.Add(good, "")
	f.Add(good, "Bearer abc")
	for _, g := range enroll.GenuineDeviceBodies {
		f.Add(g.Read(f), "")
	}
	f.Add([]byte("<plist/>"), "Bearer")
	f.Add([]byte{0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02, 0xa0, 0x80}, "bearer  x")
	f.Fuzz(func(t *testing.T, body []byte, auth string) {
		r := httptest.NewRequest(http.MethodPost, h.portal.BaseURL(), bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/pkcs7-signature")
		r.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		h.portal.ServeHTTP(w, r)
		switch w.Code {
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		case http.StatusUnauthorized:
			if _, err := enroll.ParseBearerChallenge(w.Header().Get("WWW-Authenticate")); err != nil {
				t.Fatalf("401 with a bad challenge: %v", err)
			}
		default:
			t.Fatalf("status %d for body %q auth %q", w.Code, body, auth)
		}
		h.wantState(t, inv.EnrollmentID, enroll.StateInvited)
	})
}

// FuzzPortalWellKnown sends arbitrary discovery queries: the answer is
// always JSON, 200 only for the invited user, and nothing changes.
func FuzzPortalWellKnown(f *testing.F) {
	h := newHarness(f, harnessOptions{})
	inv := h.invite()
	f.Add("user-identifier=jane%40example.com&model-family=iPhone")
	f.Add("user-identifier=JANE@EXAMPLE.COM")
	f.Add("user-identifier=%00@%ff")
	f.Add("model-family=iPad&user-identifier=bob@example.com;x")
	wk := h.portal.WellKnownHandler()
	f.Fuzz(func(t *testing.T, query string) {
		r := httptest.NewRequest(http.MethodGet, "https://example.com/", nil)
		r.URL.RawQuery = query
		w := httptest.NewRecorder()
		wk.ServeHTTP(w, r)
		var doc map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
			t.Fatalf("status %d body is not JSON: %q", w.Code, w.Body.String())
		}
		switch w.Code {
		case http.StatusOK:
			q, err := enroll.ParseWellKnownQuery(query)
			if err != nil || q.Domain() != "example.com" {
				t.Fatalf("200 for query %q (%v)", query, err)
			}
		case http.StatusBadRequest, http.StatusForbidden:
			if doc["code"] != enroll.WellKnownFailedCode {
				t.Fatalf("refusal without the failed code: %v", doc)
			}
		default:
			t.Fatalf("status %d for query %q", w.Code, query)
		}
		h.wantState(t, inv.EnrollmentID, enroll.StateInvited)
	})
}
