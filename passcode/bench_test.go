package passcode

import (
	"testing"
	"time"
)

// BenchmarkVerify measures one verification with DefaultParams: the CPU time
// and memory (B/op is dominated by argon2id's memory parameter) a portal
// spends per passcode attempt.
func BenchmarkVerify(b *testing.B) {
	enc, err := Hash("12345678", Params{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := Verify(enc, "12345678"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyParallel runs verifications from many goroutines at once, as
// a portal under load does: throughput is bounded by the cores, and memory by
// one argon2id buffer per core however many requests wait.
func BenchmarkVerifyParallel(b *testing.B) {
	enc, err := Hash("12345678", Params{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := Verify(enc, "12345678"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkCheck measures a wrong attempt through Policy.Check, the path a
// guessing attacker drives.
func BenchmarkCheck(b *testing.B) {
	_, st, err := Policy{}.Issue(time.Now())
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Check(st, "not it", now); err == nil {
			b.Fatal("accepted")
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Generate(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParsePHC(b *testing.B) {
	const enc = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParsePHC(enc); err != nil {
			b.Fatal(err)
		}
	}
}
