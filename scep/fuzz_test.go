package scep_test

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/enrollkit/enrollkit/scep"
)

// FuzzPKIOperation sends arbitrary messages, POSTed and as the GET
// parameter, to a handler whose only challenge is not in them: whatever
// arrives, the handler answers without panicking, with 200 (a CertRep),
// 400 or 413, and never spends the challenge or records a certificate.
func FuzzPKIOperation(f *testing.F) {
	fake := newFake(map[string]string{"good-challenge-not-sent": "enrollment-1"})
	ca := sharedCA(f)
	h, err := scep.NewHandler(fake, ca, scep.Config{MaxMessageBytes: 16 << 10})
	if err != nil {
		f.Fatal(err)
	}
	msg, _, _ := pkcsReq(f, ca, request{challenge: "wrong"})
	f.Add(msg.Raw, false)
	f.Add(msg.Raw, true)
	f.Add(msg.Raw[:len(msg.Raw)/3], false)
	f.Add([]byte{0x30, 0x80, 0x06, 0x09}, false)
	f.Add([]byte("MIIB"), true)
	f.Fuzz(func(t *testing.T, data []byte, get bool) {
		var req *http.Request
		if get {
			q := url.Values{"operation": {"PKIOperation"}, "message": {base64.StdEncoding.EncodeToString(data)}}
			req = httptest.NewRequest(http.MethodGet, "/scep?"+q.Encode(), nil)
		} else {
			req = httptest.NewRequest(http.MethodPost, "/scep?operation=PKIOperation", bytes.NewReader(data))
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d", w.Code)
		}
		if used, recorded := fake.Counts(); used != 0 || recorded != 0 {
			t.Fatalf("spent %d challenges, recorded %d certificates", used, recorded)
		}
	})
}
