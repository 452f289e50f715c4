package httpauth_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/enrollkit/enrollkit/internal/httpauth"
)

func TestParseChallenges(t *testing.T) {
	bearer := func(params map[string]string) []httpauth.Challenge {
		return []httpauth.Challenge{{Scheme: "Bearer", Params: params}}
	}
	tests := []struct {
		name string
		in   string
		want []httpauth.Challenge
	}{
		{"apple sample, comma", `Bearer method="apple-as-web", url="https://p.example/auth?x=1"`,
			bearer(map[string]string{"method": "apple-as-web", "url": "https://p.example/auth?x=1"})},
		{"space only", `Bearer method="apple-as-web" url="https://p.example/a"`,
			bearer(map[string]string{"method": "apple-as-web", "url": "https://p.example/a"})},
		{"comma no space", `Bearer method="a",url="u"`, bearer(map[string]string{"method": "a", "url": "u"})},
		{"case, spaces around =, bare URL", `Bearer   METHOD = "apple-as-web" ,url=https://p.example/a`,
			bearer(map[string]string{"method": "apple-as-web", "url": "https://p.example/a"})},
		{"escapes", `Bearer method="a\"b", url="c\\d"`, bearer(map[string]string{"method": `a"b`, "url": `c\d`})},
		{"empty quoted value", `Bearer url=""`, bearer(map[string]string{"url": ""})},
		{"two schemes", `Basic realm="a \"b\"", Bearer method="apple-oauth2"`,
			[]httpauth.Challenge{{Scheme: "Basic", Params: map[string]string{"realm": `a "b"`}}, {Scheme: "Bearer", Params: map[string]string{"method": "apple-oauth2"}}}},
		{"token68", `Negotiate abc==`, []httpauth.Challenge{{Scheme: "Negotiate", Params: map[string]string{"": "abc=="}}}},
		{"token68 then a challenge", `Negotiate abc==, Bearer`,
			[]httpauth.Challenge{{Scheme: "Negotiate", Params: map[string]string{"": "abc=="}}, {Scheme: "Bearer", Params: map[string]string{}}}},
		{"bare scheme", `Bearer`, bearer(map[string]string{})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := httpauth.ParseChallenges(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseChallengesRefuses(t *testing.T) {
	for name, in := range map[string]string{
		"empty":             ``,
		"separators only":   ` , ,`,
		"quoted scheme":     `"quoted"`,
		"quoted after one":  `Bearer "quoted"`,
		"unterminated":      `Bearer url="unterminated`,
		"dangling escape":   `Bearer method="a\`,
		"repeated":          `Bearer url="a", URL="b"`,
		"no value":          `Bearer url= , method=x`,
		"garbage after one": `Bearer method="a", Basic realm="x", ;`,
		"too long":          `Bearer url="` + strings.Repeat("a", httpauth.MaxHeaderLen) + `"`,
	} {
		t.Run(name, func(t *testing.T) {
			if got, err := httpauth.ParseChallenges(in); !errors.Is(err, httpauth.ErrMalformed) {
				t.Fatalf("got %+v, %v; want ErrMalformed", got, err)
			}
		})
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		header string
		want   string
		ok     bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer  abc ", "abc", true},
		{"  BEARER x.y-z_~+/=  ", "x.y-z_~+/=", true},
		{"Basic abc", "", false},
		{"Bearer", "", false},
		{"Bearer   ", "", false},
		{"Bearerabc", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		if got, ok := httpauth.BearerToken(tt.header); got != tt.want || ok != tt.ok {
			t.Errorf("BearerToken(%q) = %q, %v; want %q, %v", tt.header, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzParseChallenges feeds arbitrary WWW-Authenticate values, as a server
// (or anyone in the path) may send them to a device. What parses has a
// scheme and parameters per challenge, within the length bound.
func FuzzParseChallenges(f *testing.F) {
	for _, s := range []string{`Bearer method="apple-as-web", url="https://x/y"`, `Bearer method="a" url="b"`,
		`Basic realm="x", Bearer a=b`, `Negotiate abc==`, `Bearer url="\"`, `bearer METHOD=apple-oauth2 , Url="u"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		chs, err := httpauth.ParseChallenges(s)
		if err != nil {
			if !errors.Is(err, httpauth.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if len(chs) == 0 || len(s) > httpauth.MaxHeaderLen {
			t.Fatalf("accepted %d challenges from %d bytes", len(chs), len(s))
		}
		for _, c := range chs {
			if c.Scheme == "" || c.Params == nil || !strings.Contains(s, c.Scheme) {
				t.Fatalf("malformed challenge %+v", c)
			}
			for k := range c.Params {
				if k != strings.ToLower(k) {
					t.Fatalf("parameter name %q not lower-cased", k)
				}
			}
		}
	})
}

// FuzzBearerToken feeds arbitrary Authorization headers, as a device (or
// anyone) may send them with a check-in or an enrollment request.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer x", "Basic Zm9v", "", "Bearer \x00", "BEARER  a b c  "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, ok := httpauth.BearerToken(h)
		if ok != (tok != "") {
			t.Fatalf("ok %v with token %q", ok, tok)
		}
		if ok && (strings.TrimSpace(tok) != tok || !strings.Contains(h, tok)) {
			t.Fatalf("token %q not trimmed or not from %q", tok, h)
		}
	})
}
