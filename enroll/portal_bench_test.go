package enroll_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/enrollkit/enrollkit/enroll"
)

// BenchmarkPortalSignInPage renders the sign-in step for a browser with a
// session (Safari on iOS 17): cookie check, enrollment read, User-Agent,
// template execution, headers.
func BenchmarkPortalSignInPage(b *testing.B) {
	h := newHarness(b, harnessOptions{})
	inv := h.invite()
	w := httptest.NewRecorder()
	h.portal.ServeHTTP(w, httptest.NewRequest(http.MethodGet, h.srv.URL+"/portal/invitation/"+inv.Token, nil))
	cookie := w.Result().Cookies()[0]
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodGet, h.srv.URL+"/portal/signin", nil)
		r.AddCookie(cookie)
		r.Header.Set("User-Agent", safariUA)
		w := httptest.NewRecorder()
		h.portal.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}

func BenchmarkParseBearerChallenge(b *testing.B) {
	const h = `Bearer method="apple-as-web", url="https://mdm.example.com/portal/account/start"`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := enroll.ParseBearerChallenge(h); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseWellKnownQuery(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := enroll.ParseWellKnownQuery("user-identifier=jane%40example.com&model-family=iPhone"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseMachineInfo(b *testing.B) {
	dev := newPortalDeviceCA(b)
	body := dev.machineInfo(b)
	opts := enroll.MachineInfoOptions{Roots: dev.pool()}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := enroll.ParseMachineInfo(body, opts); err != nil {
			b.Fatal(err)
		}
	}
}
