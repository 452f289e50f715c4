package enrolltest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/enrollkit/enrollkit/enroll"
)

// deviceTests check that a device id belongs to at most one live
// enrollment.
var deviceTests = []struct {
	name string
	fn   func(t *testing.T, s enroll.Store)
}{
	{"DeviceInUse", testDeviceInUse},
	{"DeviceInUseRace", testDeviceInUseRace},
}

// liveWithout returns Sample(id) in state, without a device id, created
// at base.
func liveWithout(id string, state enroll.State) *enroll.Enrollment {
	e := Sample(id)
	e.State = state
	e.DeviceID = ""
	return e
}

// mustBeUnchanged fails unless enrollment id is stored as want with an
// audit trail of n events.
func mustBeUnchanged(t *testing.T, s enroll.Store, want *enroll.Enrollment, n int) {
	t.Helper()
	got, err := s.Get(context.Background(), want.ID)
	if err != nil {
		t.Fatalf("Get(%s): %v", want.ID, err)
	}
	mustEqual(t, "after a refused write", got, want)
	if a, err := s.Audit(context.Background(), want.ID); err != nil || len(a) != n {
		t.Fatalf("audit of %s: %d events (%v), want %d", want.ID, len(a), err, n)
	}
}

func testDeviceInUse(t *testing.T, s enroll.Store) {
	ctx := context.Background()
	const dev = "UE-SHARED"
	alice := Sample("alice")
	alice.State, alice.DeviceID = enroll.StateEnrolled, dev
	create(t, s, alice)

	// A second live enrollment may not be created with the device id …
	second := Sample("second")
	second.DeviceID = dev
	if err := s.Create(ctx, second); !errors.Is(err, enroll.ErrDeviceInUse) {
		t.Fatalf("Create of a second live enrollment with the device id: err = %v, want ErrDeviceInUse", err)
	}
	if _, err := s.Get(ctx, "second"); !errors.Is(err, enroll.ErrNotFound) {
		t.Fatalf("refused Create stored the enrollment: %v", err)
	}

	// … nor be given it by an Update, whatever state it moves to.
	mallory := liveWithout("mallory", enroll.StateProfileIssued)
	create(t, s, mallory, event("mallory", enroll.EventInvite, "", enroll.StateInvited, base))
	for _, to := range []enroll.State{enroll.StateCheckedIn, enroll.StateEnrolled, enroll.StateProfileIssued} {
		upd := mallory.Clone()
		upd.State, upd.DeviceID = to, dev
		err := s.Update(ctx, upd, mallory.Version, event("mallory", enroll.EventCheckIn, mallory.State, to, base))
		if !errors.Is(err, enroll.ErrDeviceInUse) {
			t.Fatalf("Update giving the device id to a live enrollment (%s): err = %v, want ErrDeviceInUse", to, err)
		}
		mustBeUnchanged(t, s, mallory, 1)
	}
	if got, err := s.Find(ctx, enroll.IndexDevice, dev); err != nil || got.ID != "alice" {
		t.Fatalf("Find(device) after refused writes = %v, %v; want alice", got, err)
	}

	// The holder itself may be updated with its device id.
	upd := alice.Clone()
	upd.UserID = "alice-renamed"
	if err := s.Update(ctx, upd, alice.Version); err != nil {
		t.Fatalf("Update of the holder keeping its device id: %v", err)
	}
	alice = upd

	// Finished enrollments may share the device id with each other and
	// with one live enrollment.
	for i, st := range []enroll.State{enroll.StateRemoved, enroll.StateExpired, enroll.StateRevoked, enroll.StateLocked} {
		done := Sample(fmt.Sprintf("done-%d", i))
		done.State, done.DeviceID = st, dev
		if err := s.Create(ctx, done); err != nil {
			t.Fatalf("Create of a %s enrollment sharing the device id: %v", st, err)
		}
	}
	moved := mallory.Clone()
	moved.State, moved.DeviceID = enroll.StateRevoked, dev
	if err := s.Update(ctx, moved, mallory.Version); err != nil {
		t.Fatalf("Update of a revoked enrollment to the device id: %v", err)
	}

	// Once the holder is finished, another enrollment may take the id.
	done := alice.Clone()
	done.State = enroll.StateRemoved
	if err := s.Update(ctx, done, alice.Version); err != nil {
		t.Fatalf("Update of the holder to removed: %v", err)
	}
	next := liveWithout("next", enroll.StateTokenIssued)
	create(t, s, next)
	next.State, next.DeviceID = enroll.StateCheckedIn, dev
	if err := s.Update(ctx, next, 1); err != nil {
		t.Fatalf("Update giving a released device id to a live enrollment: %v", err)
	}
}

// testDeviceInUseRace races enrollments for one device id, by Update and
// by Create: exactly one wins, and every loser wrote nothing.
func testDeviceInUseRace(t *testing.T, s enroll.Store) {
	ctx := context.Background()
	const n = 8
	for i := range n {
		create(t, s, liveWithout(fmt.Sprintf("u%d", i), enroll.StateProfileIssued))
	}
	race := func(what string, write func(i int) error) int {
		t.Helper()
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			winner = -1
			wins   int
		)
		for i := range n {
			wg.Go(func() {
				err := write(i)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
					winner = i
				case !errors.Is(err, enroll.ErrDeviceInUse):
					t.Errorf("%s %d: err = %v, want nil or ErrDeviceInUse", what, i, err)
				}
			})
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d racing %ss for one device id: %d won, want exactly 1", n, what, wins)
		}
		return winner
	}

	w := race("Update", func(i int) error {
		id := fmt.Sprintf("u%d", i)
		e := liveWithout(id, enroll.StateCheckedIn)
		e.DeviceID = "UE-RACED"
		return s.Update(ctx, e, 1, event(id, enroll.EventCheckIn, enroll.StateProfileIssued, enroll.StateCheckedIn, base))
	})
	for i := range n {
		want := liveWithout(fmt.Sprintf("u%d", i), enroll.StateProfileIssued)
		want.Version = 1
		if i == w {
			want.State, want.DeviceID, want.Version = enroll.StateCheckedIn, "UE-RACED", 2
			mustBeUnchanged(t, s, want, 1)
			continue
		}
		mustBeUnchanged(t, s, want, 0)
	}

	w = race("Create", func(i int) error {
		e := Sample(fmt.Sprintf("c%d", i))
		e.DeviceID = "UE-CREATED"
		return s.Create(ctx, e, event(e.ID, enroll.EventInvite, "", enroll.StateInvited, base))
	})
	for i := range n {
		_, err := s.Get(ctx, fmt.Sprintf("c%d", i))
		if (i == w) != (err == nil) {
			t.Fatalf("after the racing Creates, Get(c%d): %v (winner c%d)", i, err, w)
		}
	}
	if got, err := s.Find(ctx, enroll.IndexDevice, "UE-CREATED"); err != nil || got.ID != fmt.Sprintf("c%d", w) {
		t.Fatalf("Find(device) = %v, %v; want the winner c%d", got, err, w)
	}
}
