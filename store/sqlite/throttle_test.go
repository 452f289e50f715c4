package sqlite_test

import (
	"context"
	"testing"
	"time"
)

// BenchmarkSignInThrottle is the store work the sign-in throttle adds to
// one successful sign-in: the enrollment's and the address's counts read,
// the attempt counted, the enrollment's count reset.
func BenchmarkSignInThrottle(b *testing.B) {
	s := open(b).Enroll()
	ctx := context.Background()
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		for _, k := range []string{"enrollment:0123456789abcdef0123456789abcdef", "address:198.51.100.7"} {
			if _, err := s.Failures(ctx, k); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := s.AddFailure(ctx, "enrollment:0123456789abcdef0123456789abcdef", now, time.Hour); err != nil {
			b.Fatal(err)
		}
		if err := s.ResetFailures(ctx, "enrollment:0123456789abcdef0123456789abcdef"); err != nil {
			b.Fatal(err)
		}
	}
}
