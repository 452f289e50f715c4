package testenv

import (
	"fmt"
	"testing"
)

// fakeTB records how a helper ended the test instead of ending it.
type fakeTB struct {
	testing.TB
	outcome string // "skip", "fail" or "" when the test carried on
}

type stop struct{}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Skipf(format string, args ...any) {
	f.outcome = "skip: " + fmt.Sprintf(format, args...)
	panic(stop{})
}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.outcome = "fail: " + fmt.Sprintf(format, args...)
	panic(stop{})
}

// run calls fn with a fake TB and reports how it ended.
func run(fn func(testing.TB)) (outcome string) {
	f := &fakeTB{}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(stop); !ok {
				panic(r)
			}
		}
		outcome = f.outcome
	}()
	fn(f)
	return f.outcome
}

func TestMissing(t *testing.T) {
	tests := []struct {
		name, ci string
		fn       func(testing.TB)
		want     string
	}{
		{"program absent on a laptop", "", func(tb testing.TB) { LookPath(tb, "no-such-program-for-testenv") },
			"skip: skipping: the program no-such-program-for-testenv is not available (install it to run this test)"},
		{"program absent in CI", "true", func(tb testing.TB) { LookPath(tb, "no-such-program-for-testenv") },
			"fail: the program no-such-program-for-testenv is required when CI=true but is not available"},
		{"no database on a laptop", "", func(tb testing.TB) { PostgresDSN(tb) },
			"skip: skipping: PostgreSQL (set ENROLLKIT_POSTGRES_DSN) is not available (install it to run this test)"},
		{"no database in CI", "true", func(tb testing.TB) { PostgresDSN(tb) },
			"fail: PostgreSQL (set ENROLLKIT_POSTGRES_DSN) is required when CI=true but is not available"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			t.Setenv("ENROLLKIT_POSTGRES_DSN", "")
			if got := run(tt.fn); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPresent(t *testing.T) {
	t.Setenv("CI", "true")
	if p := LookPath(t, "go"); p == "" {
		t.Error("LookPath returned no path for go")
	}
	const dsn = "postgres://example/test"
	t.Setenv("ENROLLKIT_POSTGRES_DSN", dsn)
	if got := PostgresDSN(t); got != dsn {
		t.Errorf("PostgresDSN = %q, want %q", got, dsn)
	}
	if !InCI() {
		t.Error("InCI is false with CI=true")
	}
}
