package enroll_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
)

// TestSweepRetention: Sweep deletes a finished enrollment with its audit
// trail once Retention.Audit has passed since it finished, and never a live
// one; a negative Audit keeps everything.
func TestSweepRetention(t *testing.T) {
	ctx := context.Background()
	day := 24 * time.Hour
	tests := []struct {
		name      string
		retention enroll.Retention
		after     time.Duration // from the revocation to the sweep
		gone      bool
	}{
		{"default, a day before", enroll.Retention{}, enroll.DefaultAuditRetention - day, false},
		{"default, after a year", enroll.Retention{}, enroll.DefaultAuditRetention + time.Second, true},
		{"30 days", enroll.Retention{Audit: 30 * day}, 31 * day, true},
		{"for ever", enroll.Retention{Audit: -1}, 10 * enroll.DefaultAuditRetention, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newCoreFixture(t, func(c *enroll.Config) { c.Retention = tt.retention })
			live := f.invite(t, "alice")
			done := f.invite(t, "bob")
			if _, err := f.svc.Revoke(ctx, enroll.Meta{}, done.EnrollmentID, "left"); err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(tt.after)
			if _, err := f.svc.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			_, err := f.store.Get(ctx, done.EnrollmentID)
			_, aerr := f.store.Audit(ctx, done.EnrollmentID)
			if gone := errors.Is(err, enroll.ErrNotFound) && errors.Is(aerr, enroll.ErrNotFound); gone != tt.gone {
				t.Fatalf("revoked enrollment after Sweep: Get %v, Audit %v; want gone %v", err, aerr, tt.gone)
			}
			// The other invitation expired in this Sweep (or stays
			// invited): finished just now, or live, it is kept.
			if _, err := f.store.Get(ctx, live.EnrollmentID); err != nil {
				t.Fatalf("enrollment finished by this Sweep: %v", err)
			}
		})
	}
}
