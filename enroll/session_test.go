package enroll

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func testCodec() *sessionCodec {
	return &sessionCodec{key: []byte("0123456789abcdef0123456789abcdef"), ttl: 30 * time.Minute, path: "/portal/"}
}

func TestSessionRoundTrip(t *testing.T) {
	c := testCodec()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	in := portalSession{Enrollment: "abc123", Flow: flowProfile, Expires: now.Add(time.Minute).Unix(), Privacy: true}
	v, err := c.encode(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.decode(v, now)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if out != in {
		t.Fatalf("decode = %+v, want %+v", out, in)
	}
}

func TestSessionRejects(t *testing.T) {
	c := testCodec()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	good, _ := c.encode(portalSession{Enrollment: "abc", Flow: flowAccount, Expires: now.Add(time.Minute).Unix()})
	expired, _ := c.encode(portalSession{Enrollment: "abc", Flow: flowAccount, Expires: now.Unix()})
	noID, _ := c.encode(portalSession{Flow: flowAccount, Expires: now.Add(time.Minute).Unix()})
	badFlow, _ := c.encode(portalSession{Enrollment: "abc", Flow: "other", Expires: now.Add(time.Minute).Unix()})
	other := &sessionCodec{key: []byte("ffffffffffffffffffffffffffffffff"), ttl: time.Minute}
	foreign, _ := other.encode(portalSession{Enrollment: "xyz", Flow: flowAccount, Expires: now.Add(time.Minute).Unix()})
	p, m, _ := strings.Cut(good, ".")
	flipped := []byte(m)
	if flipped[0] == 'A' {
		flipped[0] = 'B'
	} else {
		flipped[0] = 'A'
	}
	tests := []struct {
		name  string
		value string
		want  error
	}{
		{"expired", expired, errSessionExpired},
		{"no enrollment", noID, errSessionTampered},
		{"unknown flow", badFlow, errSessionTampered},
		{"other key", foreign, errSessionTampered},
		{"flipped mac", p + "." + string(flipped), errSessionTampered},
		{"payload swapped", strings.Split(foreign, ".")[0] + "." + m, errSessionTampered},
		{"no dot", p + m, errSessionTampered},
		{"bad base64 payload", "!!." + m, errSessionTampered},
		{"bad base64 mac", p + ".!!", errSessionTampered},
		{"empty", "", errSessionTampered},
		{"huge", strings.Repeat("A", maxSessionCookieLen+1), errSessionTampered},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.decode(tt.value, now); err != tt.want {
				t.Fatalf("decode error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSessionCookieAttributes(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name       string
		httpsURL   bool
		tls        bool
		wantSecure bool
	}{
		{"plain http", false, false, false},
		{"https request", false, true, true},
		{"https public URL", true, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testCodec()
			c.secure = tt.httpsURL
			r := httptest.NewRequest("GET", "http://portal.test/portal/signin", nil)
			if tt.tls {
				r = httptest.NewRequest("GET", "https://portal.test/portal/signin", nil)
			}
			w := httptest.NewRecorder()
			if err := c.set(w, r, now, portalSession{Enrollment: "e1", Flow: flowProfile}); err != nil {
				t.Fatal(err)
			}
			cookies := w.Result().Cookies()
			if len(cookies) != 1 {
				t.Fatalf("got %d cookies", len(cookies))
			}
			ck := cookies[0]
			if ck.Name != sessionCookieName || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/portal/" {
				t.Errorf("cookie = %+v", ck)
			}
			if ck.Secure != tt.wantSecure {
				t.Errorf("Secure = %v, want %v", ck.Secure, tt.wantSecure)
			}
			if ck.MaxAge != 1800 {
				t.Errorf("MaxAge = %d, want 1800", ck.MaxAge)
			}
			r2 := httptest.NewRequest("GET", "/portal/passcode", nil)
			r2.AddCookie(ck)
			s, err := c.get(r2, now.Add(29*time.Minute))
			if err != nil || s.Enrollment != "e1" {
				t.Fatalf("get = %+v, %v", s, err)
			}
			if _, err := c.get(r2, now.Add(31*time.Minute)); err != errSessionExpired {
				t.Fatalf("get after ttl: %v, want errSessionExpired", err)
			}
			w = httptest.NewRecorder()
			c.clear(w, r)
			if ck := w.Result().Cookies()[0]; ck.MaxAge >= 0 || ck.Value != "" {
				t.Errorf("clear cookie = %+v", ck)
			}
		})
	}
	if _, err := testCodec().get(httptest.NewRequest("GET", "/", nil), now); err != errSessionMissing {
		t.Fatalf("no cookie: %v", err)
	}
}

func BenchmarkSessionDecode(b *testing.B) {
	c := testCodec()
	now := time.Now()
	v, _ := c.encode(portalSession{Enrollment: "0123456789abcdef0123456789abcdef", Flow: flowProfile, Expires: now.Add(time.Hour).Unix()})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.decode(v, now); err != nil {
			b.Fatal(err)
		}
	}
}
