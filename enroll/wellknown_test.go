package enroll

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestParseWellKnownQuery(t *testing.T) {
	tests := []struct {
		name    string
		query   string
		want    WellKnownQuery
		wantErr bool
	}{
		{"iphone", "user-identifier=jane%40example.com&model-family=iPhone", WellKnownQuery{"jane@example.com", "iPhone"}, false},
		{"no model family", "user-identifier=jane@example.com", WellKnownQuery{"jane@example.com", ""}, false},
		{"future family", "user-identifier=a@b.example&model-family=Vision2", WellKnownQuery{"a@b.example", "Vision2"}, false},
		{"plus address", "user-identifier=jane%2Bwork%40sub.example.com", WellKnownQuery{"jane+work@sub.example.com", ""}, false},
		{"idn domain", "user-identifier=" + url.QueryEscape("jo@bücher.example"), WellKnownQuery{"jo@bücher.example", ""}, false},
		{"missing", "model-family=iPhone", WellKnownQuery{}, true},
		{"repeated", "user-identifier=a@b.c&user-identifier=d@e.f", WellKnownQuery{}, true},
		{"empty", "user-identifier=", WellKnownQuery{}, true},
		{"no at", "user-identifier=jane", WellKnownQuery{}, true},
		{"at only at end", "user-identifier=jane@", WellKnownQuery{}, true},
		{"at first", "user-identifier=@example.com", WellKnownQuery{}, true},
		{"space inside", "user-identifier=ja+ne@example.com", WellKnownQuery{}, true},
		{"control char", "user-identifier=ja%00ne@example.com", WellKnownQuery{}, true},
		{"double dot domain", "user-identifier=a@b..c", WellKnownQuery{}, true},
		{"slash in domain", "user-identifier=a@b/c", WellKnownQuery{}, true},
		{"too long", "user-identifier=" + strings.Repeat("a", 320) + "@b.c", WellKnownQuery{}, true},
		{"bad family", "user-identifier=a@b.c&model-family=i%3CPhone", WellKnownQuery{}, true},
		{"family repeated", "user-identifier=a@b.c&model-family=iPhone&model-family=iPad", WellKnownQuery{}, true},
		{"bad escape", "user-identifier=%zz", WellKnownQuery{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseWellKnownQuery(tt.query)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidInput) {
					t.Fatalf("error = %v, want ErrInvalidInput", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestWellKnownQueryDomain(t *testing.T) {
	q := WellKnownQuery{UserIdentifier: "Jane@Example.COM"}
	if d := q.Domain(); d != "example.com" {
		t.Fatalf("Domain = %q", d)
	}
}

func FuzzParseWellKnownQuery(f *testing.F) {
	f.Add("user-identifier=jane%40example.com&model-family=iPhone")
	f.Add("user-identifier=a@b&user-identifier=c@d")
	f.Add("model-family=iPad")
	f.Add("user-identifier=%ff%fe@%00")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := ParseWellKnownQuery(raw)
		if err != nil {
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("error does not match ErrInvalidInput: %v", err)
			}
			return
		}
		if q.UserIdentifier == "" || !strings.Contains(q.UserIdentifier, "@") || len(q.UserIdentifier) > maxUserIdentifierLen {
			t.Fatalf("accepted bad identifier %q", q.UserIdentifier)
		}
		if q.Domain() == "" {
			t.Fatalf("accepted identifier without domain %q", q.UserIdentifier)
		}
		// What was accepted parses again to the same value.
		again, err := ParseWellKnownQuery(url.Values{"user-identifier": {q.UserIdentifier}, "model-family": nonEmpty(q.ModelFamily)}.Encode())
		if err != nil || again != q {
			t.Fatalf("re-parse of %+v = %+v, %v", q, again, err)
		}
	})
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}
