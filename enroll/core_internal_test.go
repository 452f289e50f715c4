package enroll

import (
	"net/http"
	"strings"
	"testing"

	"github.com/enrollkit/enrollkit/mdm"
)

// TestCoreDeviceBearer checks that the Authorization header is what is
// read; internal/httpauth tests the header's forms.
func TestCoreDeviceBearer(t *testing.T) {
	tests := []struct {
		header string
		want   string
		ok     bool
	}{
		{"bearer  abc ", "abc", true},
		{"Basic abc", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		r, _ := http.NewRequest(http.MethodPut, "https://mdm.example.com/", nil)
		if tt.header != "" {
			r.Header.Set("Authorization", tt.header)
		}
		got, ok := bearerToken(r)
		if got != tt.want || ok != tt.ok {
			t.Errorf("bearerToken(%q) = %q, %v; want %q, %v", tt.header, got, ok, tt.want, tt.ok)
		}
	}
	if _, ok := bearerToken(nil); ok {
		t.Error("bearerToken(nil) found a token")
	}
}

// FuzzDeviceBearer feeds arbitrary Authorization headers, as a device (or
// anyone) may send them with a check-in.
func FuzzDeviceBearer(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer x", "Basic Zm9v", "", "Bearer \x00", "BEARER  a b c  "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		r := &http.Request{Header: http.Header{"Authorization": {h}}}
		tok, ok := bearerToken(r)
		if ok != (tok != "") {
			t.Fatalf("ok %v with token %q", ok, tok)
		}
		if ok && (strings.TrimSpace(tok) != tok || !strings.Contains(h, tok)) {
			t.Fatalf("token %q not trimmed or not from %q", tok, h)
		}
	})
}

func TestCoreSmallHelpers(t *testing.T) {
	if got := deviceKey(mdm.Channel{ID: "E:u", ParentID: "E"}); got != "E" {
		t.Errorf("deviceKey of a user channel = %q", got)
	}
	if got := clip(strings.Repeat("a", 3000)); len(got) != maxInputLen {
		t.Errorf("clip kept %d bytes", len(got))
	}
	var s Service
	m := s.deviceMeta(&http.Request{RemoteAddr: "not-an-address", Header: http.Header{}})
	if m.ClientIP != "not-an-address" || m.Actor != "device" {
		t.Errorf("deviceMeta = %+v", m)
	}
	if m := s.deviceMeta(&http.Request{RemoteAddr: "192.0.2.1:443", Header: http.Header{}}); m.ClientIP != "192.0.2.1" {
		t.Errorf("deviceMeta = %+v", m)
	}
	s.cfg.ClientIP = func(r *http.Request) string { return r.Header.Get("X-Forwarded-For") }
	if m := s.deviceMeta(&http.Request{RemoteAddr: "192.0.2.1:443", Header: http.Header{"X-Forwarded-For": {"203.0.113.5"}}}); m.ClientIP != "203.0.113.5" {
		t.Errorf("deviceMeta with ClientIP = %+v", m)
	}
	if m := s.deviceMeta(nil); m.Actor != "device" {
		t.Errorf("deviceMeta(nil) = %+v", m)
	}
	if sameHash("", "") || !sameHash("ab", "ab") || sameHash("ab", "ac") {
		t.Error("sameHash")
	}
}
