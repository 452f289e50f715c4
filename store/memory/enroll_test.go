package memory_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/enroll/enrolltest"
	"github.com/enrollkit/enrollkit/store/memory"
)

func TestEnrollStoreConformance(t *testing.T) {
	enrolltest.Run(t, func(*testing.T) enroll.Store { return memory.NewEnrollStore() })
}

// BenchmarkEnrollStoreUpdate is one read-modify-write of an enrollment
// among 1,000, as every enrollment step does.
func BenchmarkEnrollStoreUpdate(b *testing.B) {
	ctx := context.Background()
	s := memory.NewEnrollStore()
	for i := range 1000 {
		if err := s.Create(ctx, enrolltest.Sample(fmt.Sprintf("e%04d", i))); err != nil {
			b.Fatal(err)
		}
	}
	ev := enroll.AuditEvent{EnrollmentID: "e0500", Event: enroll.EventInfoSeen}
	b.ReportAllocs()
	for b.Loop() {
		e, err := s.Get(ctx, "e0500")
		if err != nil {
			b.Fatal(err)
		}
		e.InfoSeenAt = e.InfoSeenAt.Add(1)
		if err := s.Update(ctx, e, e.Version, ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEnrollStoreFind is a look-up by token hash among 1,000
// enrollments.
func BenchmarkEnrollStoreFind(b *testing.B) {
	ctx := context.Background()
	s := memory.NewEnrollStore()
	for i := range 1000 {
		if err := s.Create(ctx, enrolltest.Sample(fmt.Sprintf("e%04d", i))); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Find(ctx, enroll.IndexAccessToken, "at-e0500"); err != nil {
			b.Fatal(err)
		}
	}
}
