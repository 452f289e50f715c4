package enroll

import (
	"strings"
	"testing"
	"time"
)

// FuzzSessionCookie feeds the session cookie decoder what a browser may
// send. It must never panic, and it may only accept a value that the codec
// itself produced: whatever decodes re-encodes to exactly the same value,
// is bound to an enrollment and a known flow, and is not expired.
func FuzzSessionCookie(f *testing.F) {
	c := testCodec()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	valid, err := c.encode(portalSession{Enrollment: "abc123", Flow: flowProfile, Expires: now.Add(time.Minute).Unix(), SignedIn: true})
	if err != nil {
		f.Fatal(err)
	}
	expired, _ := c.encode(portalSession{Enrollment: "abc123", Flow: flowAccount, Expires: now.Add(-time.Minute).Unix()})
	noFlow, _ := c.encode(portalSession{Enrollment: "abc123", Expires: now.Add(time.Minute).Unix()})
	for _, seed := range []string{
		valid, expired, noFlow, "", ".", "a.b", valid + "x", strings.Replace(valid, ".", "..", 1),
		valid[:len(valid)-1], "eyJlIjoiYSIsImYiOiJwcm9maWxlIiwieCI6OTk5OTk5OTk5OX0.",
		strings.Repeat("A", maxSessionCookieLen+1),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, value string) {
		s, err := c.decode(value, now)
		if err != nil {
			if s != (portalSession{}) {
				t.Fatalf("refused value %q left session %+v", value, s)
			}
			return
		}
		if s.Enrollment == "" || (s.Flow != flowProfile && s.Flow != flowAccount) || !now.Before(time.Unix(s.Expires, 0)) {
			t.Fatalf("accepted session %+v", s)
		}
		// The MAC covers the exact payload bytes, so an accepted value
		// carries a payload the codec signed; re-signing what was decoded
		// verifies again.
		again, err := c.encode(s)
		if err != nil {
			t.Fatal(err)
		}
		if s2, err := c.decode(again, now); err != nil || s2 != s {
			t.Fatalf("re-encoded session %+v decodes to %+v, %v", s, s2, err)
		}
		// Another key never accepts it.
		other := *c
		other.key = []byte("another key of thirty-two bytes!")
		if _, err := other.decode(value, now); err == nil {
			t.Fatalf("value %q verifies under another key", value)
		}
	})
}

// BenchmarkSessionCookieDecode measures verifying and decoding the session
// cookie, which every portal step does first.
func BenchmarkSessionCookieDecode(b *testing.B) {
	c := testCodec()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	v, err := c.encode(portalSession{Enrollment: "0123456789abcdef0123456789abcdef", Flow: flowProfile, Expires: now.Add(time.Hour).Unix(), SignedIn: true, Privacy: true})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.decode(v, now); err != nil {
			b.Fatal(err)
		}
	}
}
