package enroll_test

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
)

// TestOnTransition: Config.OnTransition is told every stored transition
// once, with the audit event stored with it, in order; a refused step
// tells it nothing.
func TestOnTransition(t *testing.T) {
	var (
		mu  sync.Mutex
		got = map[string][]enroll.AuditEvent{}
	)
	f := newCoreFixture(t, func(c *enroll.Config) {
		c.OnTransition = func(_ context.Context, ev enroll.AuditEvent) {
			mu.Lock()
			defer mu.Unlock()
			got[ev.EnrollmentID] = append(got[ev.EnrollmentID], ev)
		}
	})
	ctx := context.Background()
	consented := f.invite(t, "alice")
	f.toConsented(t, consented, "alice", enroll.OwnershipEmployee)
	// A step the state forbids stores nothing and is not told.
	revoked := f.invite(t, "bob")
	if _, err := f.svc.AcknowledgeInfo(ctx, coreMeta, revoked.EnrollmentID); err == nil {
		t.Fatal("AcknowledgeInfo before sign-in succeeded")
	}
	if _, err := f.svc.Revoke(ctx, enroll.Meta{Actor: "admin"}, revoked.EnrollmentID, "left"); err != nil {
		t.Fatal(err)
	}
	expired := f.invite(t, "bob")
	f.clock.Advance(enroll.DefaultInvitationTTL + time.Minute)
	if n, err := f.svc.Sweep(ctx); err != nil || n != 2 {
		t.Fatalf("Sweep = %d, %v; want 2", n, err)
	}

	mu.Lock()
	defer mu.Unlock()
	for _, id := range []string{consented.EnrollmentID, revoked.EnrollmentID, expired.EnrollmentID} {
		trail, err := f.svc.Audit(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(trail) < 2 {
			t.Fatalf("%s: audit trail of %d events", id, len(trail))
		}
		if !reflect.DeepEqual(got[id], trail) {
			t.Errorf("%s: OnTransition saw\n%+v\nthe audit trail is\n%+v", id, got[id], trail)
		}
	}
	if last := got[expired.EnrollmentID][len(got[expired.EnrollmentID])-1]; last.Event != enroll.EventExpire || last.To != enroll.StateExpired {
		t.Errorf("the sweep's expiry was told as %+v", last)
	}
}
