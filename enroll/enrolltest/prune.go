package enrolltest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
)

// testPrune: Prune deletes finished enrollments last updated before the
// cutoff, with their audit trails, at most limit a call, and never a live
// enrollment, however old.
func testPrune(t *testing.T, s enroll.Store) {
	ctx := context.Background()
	cut := base.Add(365 * 24 * time.Hour)
	old, recent := base, cut.Add(time.Hour)
	type row struct {
		id    string
		state enroll.State
		at    time.Time
		gone  bool
	}
	rows := []row{
		{"live-old", enroll.StateEnrolled, old, false},
		{"invited-old", enroll.StateInvited, old, false},
		{"removed-old", enroll.StateRemoved, old, true},
		{"expired-old", enroll.StateExpired, old.Add(time.Hour), true},
		{"revoked-old", enroll.StateRevoked, old.Add(2 * time.Hour), true},
		{"locked-old", enroll.StateLocked, cut.Add(-time.Microsecond), true},
		{"removed-recent", enroll.StateRemoved, recent, false},
		{"removed-at-cut", enroll.StateRemoved, cut, false},
	}
	for _, r := range rows {
		e := Sample(r.id)
		e.State, e.UpdatedAt = r.state, r.at
		e.DeviceID = "shared-device" // finished enrollments may share it with the one live one
		if r.id != "live-old" && !r.state.Terminal() {
			e.DeviceID = ""
		}
		create(t, s, e, event(r.id, enroll.EventInvite, "", enroll.StateInvited, base))
	}
	if n, err := s.Prune(ctx, cut, 100); err != nil || n != 4 {
		t.Fatalf("Prune = %d, %v; want 4", n, err)
	}
	if n := prunedAll(t, s, cut); n != 0 {
		t.Fatalf("Prune after a complete Prune deleted %d more", n)
	}
	for _, r := range rows {
		_, err := s.Get(ctx, r.id)
		_, aerr := s.Audit(ctx, r.id)
		switch {
		case r.gone && (!errors.Is(err, enroll.ErrNotFound) || !errors.Is(aerr, enroll.ErrNotFound)):
			t.Errorf("%s after Prune: Get %v, Audit %v; want ErrNotFound", r.id, err, aerr)
		case !r.gone && (err != nil || aerr != nil):
			t.Errorf("%s after Prune: Get %v, Audit %v; want it kept", r.id, err, aerr)
		}
		if r.gone {
			for _, i := range []enroll.Index{enroll.IndexInvitation, enroll.IndexChallenge, enroll.IndexCertificate} {
				if e, err := s.Find(ctx, i, Sample(r.id).Key(i)); !errors.Is(err, enroll.ErrNotFound) {
					t.Errorf("Find(%s) of pruned %s = %v, %v", i, r.id, e, err)
				}
			}
		}
	}
	if e, err := s.Find(ctx, enroll.IndexDevice, "shared-device"); err != nil || e.ID != "removed-recent" && e.ID != "removed-at-cut" && e.ID != "live-old" {
		t.Errorf("Find(device) after Prune = %v, %v", e, err)
	}
	if got := prunedAll(t, s, cut.Add(2*time.Hour)); got != 2 {
		t.Errorf("Prune at a later cutoff = %d, want 2 (the recent removed ones)", got)
	}
	if _, err := s.Get(ctx, "live-old"); err != nil {
		t.Errorf("live enrollment after every Prune: %v", err)
	}
}

// prunedAll prunes with limit 1 until nothing is left and returns how many
// enrollments went.
func prunedAll(t *testing.T, s enroll.Store, before time.Time) int {
	t.Helper()
	total := 0
	for range 20 {
		n, err := s.Prune(context.Background(), before, 1)
		if err != nil || n > 1 {
			t.Fatalf("Prune(limit 1) = %d, %v", n, err)
		}
		if n == 0 {
			return total
		}
		total += n
	}
	t.Fatal("Prune(limit 1) does not finish")
	return total
}

// testPruneLimit: Prune deletes at most limit enrollments a call and
// finishes.
func testPruneLimit(t *testing.T, s enroll.Store) {
	for _, id := range []string{"r1", "r2", "r3"} {
		e := Sample(id)
		e.State = enroll.StateRevoked
		create(t, s, e, event(id, enroll.EventInvite, "", enroll.StateInvited, base))
	}
	if n := prunedAll(t, s, base.Add(time.Hour)); n != 3 {
		t.Fatalf("Prune(limit 1) deleted %d in all, want 3", n)
	}
}
