package profile_test

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/profile"
)

var benchKinds = []struct{ name, kind string }{{"RSA-2048", "rsa"}, {"P-256", "ecdsa"}}

// BenchmarkBuildAndSign measures what serving one enrollment profile
// costs: build and validate the account-driven profile, encode it and
// sign it with a long-lived Signer. Compare with BenchmarkRawSign.
func BenchmarkBuildAndSign(b *testing.B) {
	for _, k := range benchKinds {
		b.Run(k.name, func(b *testing.B) {
			ca := testPKI(b, k.kind, "Corp")
			s, err := profile.NewSigner(ca.leafKey, ca.chain())
			if err != nil {
				b.Fatal(err)
			}
			e := testEnrollment()
			b.ReportAllocs()
			for b.Loop() {
				p, err := profile.NewAccountDrivenUserEnrollment(e, "jane@example.com")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.SignProfile(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRawSign is the floor for BenchmarkBuildAndSign: one bare
// crypto.Signer.Sign of a SHA-256 digest with the same key.
func BenchmarkRawSign(b *testing.B) {
	for _, k := range benchKinds {
		b.Run(k.name, func(b *testing.B) {
			key := testPKI(b, k.kind, "Corp").leafKey
			digest := sha256.Sum256([]byte("profile"))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := key.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSignOverhead alternates one bare signature and one build and
// sign with the same key, so that both see the same machine load, and
// reports their costs and the ratio (the target is at most 1.5).
func BenchmarkSignOverhead(b *testing.B) {
	for _, k := range benchKinds {
		b.Run(k.name, func(b *testing.B) {
			ca := testPKI(b, k.kind, "Corp")
			s, err := profile.NewSigner(ca.leafKey, ca.chain())
			if err != nil {
				b.Fatal(err)
			}
			e := testEnrollment()
			digest := sha256.Sum256([]byte("profile"))
			var raw, full time.Duration
			b.ReportAllocs()
			for b.Loop() {
				t0 := time.Now()
				if _, err := ca.leafKey.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				p, err := profile.NewAccountDrivenUserEnrollment(e, "jane@example.com")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.SignProfile(p); err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()
				raw += t1.Sub(t0)
				full += t2.Sub(t1)
			}
			b.ReportMetric(float64(raw.Nanoseconds())/float64(b.N), "raw-ns/op")
			b.ReportMetric(float64(full.Nanoseconds())/float64(b.N), "build+sign-ns/op")
			b.ReportMetric(float64(full)/float64(raw), "ratio")
		})
	}
}

// BenchmarkParse measures reading a signed profile and verifying its
// signature and chain.
func BenchmarkParse(b *testing.B) {
	for _, k := range benchKinds {
		b.Run(k.name, func(b *testing.B) {
			ca := testPKI(b, k.kind, "Corp")
			signed, err := profile.SignProfile(testProfile(b), ca.leafKey, ca.chain())
			if err != nil {
				b.Fatal(err)
			}
			opts := profile.ParseOptions{Roots: ca.roots()}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := profile.Parse(signed, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
