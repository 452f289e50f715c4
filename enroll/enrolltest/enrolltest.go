// Package enrolltest is the conformance suite for implementations of
// enroll.Store. A store proves itself in one line:
//
//	func TestConformance(t *testing.T) {
//		enrolltest.Run(t, func(t *testing.T) enroll.Store { return memory.NewEnrollStore() })
//	}
//
// The suite checks every method's contract as documented on enroll.Store:
// copies in and out, ErrNotFound, ErrExists, the compare-and-swap of Update
// under concurrency (exactly one of many racing writers wins, and a
// read-modify-write loop loses no update), index look-ups, list filters and
// order, the audit trail, time precision, and that a device id belongs to at
// most one live enrollment (also between racing writers), pruning of
// finished enrollments in bounded batches; and for a Store
// that is an enroll.FailureStore, the sign-in throttle's counts (exact under
// racing).
package enrolltest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/passcode"
)

// NewStore returns an empty store for one subtest. It may register cleanup
// with t.Cleanup.
type NewStore func(t *testing.T) enroll.Store

// base is an instant with nanoseconds, to check that stores keep at least
// microseconds.
var base = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)

// Run runs the conformance suite against stores made by newStore, each
// subtest on a fresh store.
func Run(t *testing.T, newStore NewStore) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s enroll.Store)
	}{
		{"CreateGet", testCreateGet},
		{"CreateExisting", testCreateExisting},
		{"GetMissing", testGetMissing},
		{"Copies", testCopies},
		{"Find", testFind},
		{"FindNewest", testFindNewest},
		{"Update", testUpdate},
		{"UpdateConflict", testUpdateConflict},
		{"UpdateMissing", testUpdateMissing},
		{"ConcurrentUpdateOneWinner", testConcurrentOneWinner},
		{"ConcurrentReadModifyWrite", testConcurrentRMW},
		{"List", testList},
		{"Audit", testAudit},
		{"Failures", testFailures},
		{"Prune", testPrune},
		{"PruneLimit", testPruneLimit},
	}
	tests = append(tests, deviceTests...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newStore(t))
		})
	}
}

// Sample returns a fully populated enrollment with the given ID, every
// field set (times with nanoseconds), for round-trip tests.
func Sample(id string) *enroll.Enrollment {
	return &enroll.Enrollment{
		ID:             id,
		State:          enroll.StateProfileIssued,
		UserID:         "user-" + id,
		ManagedAppleID: id + "@example.appleaccount.com",
		Ownership:      enroll.OwnershipEmployee,
		Flow:           enroll.FlowProfile,
		InvitationHash: "inv-" + id,
		Passcode: passcode.State{
			Hash:      "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
			ExpiresAt: base.Add(72 * time.Hour),
			Attempts:  2,
			Used:      true,
		},
		InfoSeenAt:         base.Add(time.Minute),
		TermsVersion:       "2026-01",
		TermsDigest:        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		ConsentedAt:        base.Add(2 * time.Minute),
		DownloadHash:       "dl-" + id,
		DownloadExpiresAt:  base.Add(10 * time.Minute),
		DownloadUsed:       true,
		AccessTokenHash:    "at-" + id,
		ChallengeHash:      "ch-" + id,
		ChallengeExpiresAt: base.Add(time.Hour),
		ChallengeUsed:      true,
		CertificateHash:    "cert-" + id,
		DeviceID:           "dev-" + id,
		CreatedAt:          base,
		UpdatedAt:          base.Add(3 * time.Minute),
		ExpiresAt:          base.Add(24 * time.Hour),
	}
}

// normalize returns a copy of e with times truncated to microseconds in
// UTC, so that stores with microsecond precision compare equal.
func normalize(e *enroll.Enrollment) *enroll.Enrollment {
	c := e.Clone()
	for _, p := range []*time.Time{&c.Passcode.ExpiresAt, &c.InfoSeenAt, &c.ConsentedAt, &c.DownloadExpiresAt,
		&c.ChallengeExpiresAt, &c.CreatedAt, &c.UpdatedAt, &c.ExpiresAt} {
		*p = normTime(*p)
	}
	return c
}

func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Truncate(time.Microsecond).UTC()
}

func normAudit(a []enroll.AuditEvent) []enroll.AuditEvent {
	out := make([]enroll.AuditEvent, len(a))
	for i, ev := range a {
		ev.Time = normTime(ev.Time)
		out[i] = ev
	}
	return out
}

// Equal reports whether two enrollments are equal up to the time precision
// the Store contract allows.
func Equal(a, b *enroll.Enrollment) bool {
	return reflect.DeepEqual(normalize(a), normalize(b))
}

func mustEqual(t *testing.T, what string, got, want *enroll.Enrollment) {
	t.Helper()
	if !Equal(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, normalize(got), normalize(want))
	}
}

func event(id string, ev enroll.Event, from, to enroll.State, at time.Time) enroll.AuditEvent {
	return enroll.AuditEvent{
		EnrollmentID: id, Time: at, Event: ev, From: from, To: to,
		Actor: "user:u1", ClientIP: "192.0.2.1", UserAgent: "Mozilla/5.0 (iPhone)",
	}
}

func create(t *testing.T, s enroll.Store, e *enroll.Enrollment, events ...enroll.AuditEvent) {
	t.Helper()
	if err := s.Create(context.Background(), e, events...); err != nil {
		t.Fatalf("Create(%s): %v", e.ID, err)
	}
}

func testCreateGet(t *testing.T, s enroll.Store) {
	ctx := context.Background()
	e := Sample("e1")
	e.Version = 42 // Create must ignore it
	create(t, s, e)
	if e.Version != 1 {
		t.Errorf("after Create, e.Version = %d, want 1", e.Version)
	}
	got, err := s.Get(ctx, "e1")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	want := Sample("e1")
	want.Version = 1
	mustEqual(t, "Get after Create", got, want)

	// A minimal enrollment (zero times, empty keys) round-trips too.
	m := &enroll.Enrollment{ID: "e2", State: enroll.StateInvited, UserID: "u2", CreatedAt: base}
	create(t, s, m)
	got, err = s.Get(ctx, "e2")
	if err != nil {
		t.Fatalf("Get minimal: %v", err)
	}
	mustEqual(t, "Get minimal", got, m)
}

func testCreateExisting(t *testing.T, s enroll.Store) {
	create(t, s, Sample("e1"))
	other := Sample("e1")
	other.UserID = "someone-else"
	if err := s.Create(context.Background(), other); !errors.Is(err, enroll.ErrExists) {
		t.Fatalf("Create of an existing ID: err = %v, want ErrExists", err)
	}
	got, err := s.Get(context.Background(), "e1")
	if err != nil {
		t.Fatal(err)
	}
	if got.UserID != "user-e1" {
		t.Errorf("failed Create changed the stored enrollment: UserID = %q", got.UserID)
	}
}

func testGetMissing(t *testing.T, s enroll.Store) {
	if _, err := s.Get(context.Background(), "nope"); !errors.Is(err, enroll.ErrNotFound) {
		t.Fatalf("Get(missing): err = %v, want ErrNotFound", err)
	}
	if _, err := s.Audit(context.Background(), "nope"); !errors.Is(err, enroll.ErrNotFound) {
		t.Fatalf("Audit(missing): err = %v, want ErrNotFound", err)
	}
}

func testCopies(t *testing.T, s enroll.Store) {
	ctx := context.Background()
	e := Sample("e1")
	create(t, s, e)
	e.UserID = "changed-after-create"
	got, err := s.Get(ctx, "e1")
	if err != nil {
		t.Fatal(err)
	}
	if got.UserID != "user-e1" {
		t.Fatalf("store kept the caller's value: UserID = %q", got.UserID)
	}
	got.UserID = "changed-after-get"
	again, _ := s.Get(ctx, "e1")
	if again.UserID != "user-e1" {
		t.Fatalf("store returned its own value: UserID = %q", again.UserID)
	}
	found, err := s.Find(ctx, enroll.IndexDevice, "dev-e1")
	if err != nil {
		t.Fatal(err)
	}
	found.UserID = "changed-after-find"
	list, err := s.List(ctx, enroll.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	list[0].UserID = "changed-after-list"
	upd := again.Clone()
	upd.State = enroll.StateCheckedIn
	if err := s.Update(ctx, upd, 1); err != nil {
		t.Fatal(err)
	}
	upd.State = enroll.StateRemoved
	final, _ := s.Get(ctx, "e1")
	if final.UserID != "user-e1" || final.State != enroll.StateCheckedIn {
		t.Fatalf("store shares memory with callers: %+v", final)
	}
}

func testFind(t *testing.T, s enroll.Store) {
	ctx := context.Background()
	create(t, s, Sample("e1"))
	create(t, s, Sample("e2"))
	for _, i := range enroll.Indexes() {
		t.Run(string(i), func(t *testing.T) {
			for _, id := range []string{"e1", "e2"} {
				key := Sample(id).Key(i)
				got, err := s.Find(ctx, i, key)
				if err != nil {
					t.Fatalf("Find(%s, %q): %v", i, key, err)
				}
				if got.ID != id {
					t.Fatalf("Find(%s, %q) = %s, want %s", i, key, got.ID, id)
				}
			}
			if _, err := s.Find(ctx, i, "no-such-key"); !errors.Is(err, enroll.ErrNotFound) {
				t.Errorf("Find(%s, unknown): err = %v, want ErrNotFound", i, err)
			}
			if _, err := s.Find(ctx, i, ""); !errors.Is(err, enroll.ErrNotFound) {
				t.Errorf("Find(%s, empty): err = %v, want ErrNotFound", i, err)
			}
		})
	}

	// Changing and clearing keys moves and removes them from the index.
	e, _ := s.Get(ctx, "e1")
	e.DownloadHash = "dl-new"
	e.AccessTokenHash = ""
	if err := s.Update(ctx, e, e.Version); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Find(ctx, enroll.IndexDownload, "dl-e1"); !errors.Is(err, enroll.ErrNotFound) {
		t.Errorf("Find by replaced key: err = %v, want ErrNotFound", err)
	}
	if got, err := s.Find(ctx, enroll.IndexDownload, "dl-new"); err != nil || got.ID != "e1" {
		t.Errorf("Find by new key = %v, %v; want e1", got, err)
	}
	if _, err := s.Find(ctx, enroll.IndexAccessToken, "at-e1"); !errors.Is(err, enroll.ErrNotFound) {
		t.Errorf("Find by cleared key: err = %v, want ErrNotFound", err)
	}
}

func testFindNewest(t *testing.T, s enroll.Store) {
	ctx := context.Background()
	// The same device identifier on several enrollments (a device
	// re-enrolled after removal; at most one of them is live): the newest
	// wins, whatever the insertion order.
	older := Sample("b-older")
	older.State = enroll.StateRemoved
	newer := Sample("a-newer")
	newer.State = enroll.StateRemoved
	newer.CreatedAt = base.Add(time.Hour)
	newer.DeviceID = older.DeviceID
	create(t, s, newer)
	create(t, s, older)
	got, err := s.Find(ctx, enroll.IndexDevice, older.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "a-newer" {
		t.Fatalf("Find with two matches = %s, want the newest (a-newer)", got.ID)
	}
	// Equal creation times: the greater ID wins.
	tie := Sample("c-tie")
	tie.CreatedAt = newer.CreatedAt
	tie.DeviceID = older.DeviceID
	create(t, s, tie)
	if got, err := s.Find(ctx, enroll.IndexDevice, older.DeviceID); err != nil || got.ID != "c-tie" {
		t.Fatalf("Find with a creation-time tie = %v, %v; want c-tie", got, err)
	}
}

func testUpdate(t *testing.T, s enroll.Store) {
	ctx := context.Background()
	create(t, s, Sample("e1"))
	e, _ := s.Get(ctx, "e1")
	for v := int64(1); v <= 3; v++ {
		e.State = enroll.StateCheckedIn
		e.DeviceID = fmt.Sprintf("device-%d", v)
		e.UpdatedAt = base.Add(time.Duration(v) * time.Hour)
		if err := s.Update(ctx, e, v); err != nil {
			t.Fatalf("Update at version %d: %v", v, err)
		}
		if e.Version != v+1 {
			t.Fatalf("after Update, e.Version = %d, want %d", e.Version, v+1)
		}
		got, err := s.Get(ctx, "e1")
		if err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "Get after Update", got, e)
	}
}

func testUpdateConflict(t *testing.T, s enroll.Store) {
	ctx := context.Background()
	create(t, s, Sample("e1"), event("e1", enroll.EventInvite, "", enroll.StateInvited, base))
	e, _ := s.Get(ctx, "e1")
	stale := e.Clone()
	e.UserID = "first"
	if err := s.Update(ctx, e, 1, event("e1", enroll.EventAuthenticate, enroll.StateInvited, enroll.StateAuthenticated, base)); err != nil {
		t.Fatal(err)
	}
	for _, v := range []int64{0, 1, 3} {
		stale.UserID = "stale"
		err := s.Update(ctx, stale, v, event("e1", enroll.EventRevoke, enroll.StateInvited, enroll.StateRevoked, base))
		if !errors.Is(err, enroll.ErrVersionConflict) {
			t.Fatalf("Update with expected version %d (stored 2): err = %v, want ErrVersionConflict", v, err)
		}
		if stale.Version != 1 {
			t.Fatalf("failed Update changed e.Version to %d", stale.Version)
		}
	}
	got, _ := s.Get(ctx, "e1")
	if got.UserID != "first" || got.Version != 2 {
		t.Fatalf("failed Update wrote: UserID %q version %d", got.UserID, got.Version)
	}
	a, err := s.Audit(ctx, "e1")
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 2 {
		t.Fatalf("failed Update appended audit events: %d events, want 2", len(a))
	}
}

func testUpdateMissing(t *testing.T, s enroll.Store) {
	e := Sample("ghost")
	if err := s.Update(context.Background(), e, 1); !errors.Is(err, enroll.ErrNotFound) {
		t.Fatalf("Update(missing): err = %v, want ErrNotFound", err)
	}
	if _, err := s.Get(context.Background(), "ghost"); !errors.Is(err, enroll.ErrNotFound) {
		t.Fatalf("Update(missing) created it: err = %v", err)
	}
}

func testConcurrentOneWinner(t *testing.T, s enroll.Store) {
	ctx := context.Background()
	create(t, s, Sample("e1"))
	const n = 16
	var (
		wg              sync.WaitGroup
		mu              sync.Mutex
		wins, conflicts int
		winner          string
	)
	for i := range n {
		wg.Go(func() {
			e := Sample("e1")
			e.DeviceID = fmt.Sprintf("racer-%d", i)
			err := s.Update(ctx, e, 1, event("e1", enroll.EventCheckIn, enroll.StateProfileIssued, enroll.StateCheckedIn, base))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
				winner = e.DeviceID
			case errors.Is(err, enroll.ErrVersionConflict):
				conflicts++
			default:
				t.Errorf("racing Update: %v", err)
			}
		})
	}
	wg.Wait()
	if wins != 1 || conflicts != n-1 {
		t.Fatalf("%d racing Updates of version 1: %d won, %d conflicted; want 1 and %d", n, wins, conflicts, n-1)
	}
	got, _ := s.Get(ctx, "e1")
	if got.DeviceID != winner || got.Version != 2 {
		t.Fatalf("stored %q at version %d, want the winner %q at 2", got.DeviceID, got.Version, winner)
	}
	a, _ := s.Audit(ctx, "e1")
	if len(a) != 1 {
		t.Fatalf("audit has %d events after one winning Update, want 1", len(a))
	}
}

func testConcurrentRMW(t *testing.T, s enroll.Store) {
	ctx := context.Background()
	e := Sample("e1")
	e.Passcode.Attempts = 0
	create(t, s, e)
	const workers, each = 8, 10
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				for {
					cur, err := s.Get(ctx, "e1")
					if err != nil {
						t.Error(err)
						return
					}
					cur.Passcode.Attempts++
					err = s.Update(ctx, cur, cur.Version, event("e1", enroll.EventPasscodeRejected, enroll.StateAuthenticated, enroll.StateAuthenticated, base))
					if err == nil {
						break
					}
					if !errors.Is(err, enroll.ErrVersionConflict) {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	got, _ := s.Get(ctx, "e1")
	if got.Passcode.Attempts != workers*each || got.Version != workers*each+1 {
		t.Fatalf("after %d increments: attempts %d, version %d; want %d and %d",
			workers*each, got.Passcode.Attempts, got.Version, workers*each, workers*each+1)
	}
	a, _ := s.Audit(ctx, "e1")
	if len(a) != workers*each {
		t.Fatalf("audit has %d events, want %d", len(a), workers*each)
	}
}

func testList(t *testing.T, s enroll.Store) {
	ctx := context.Background()
	mk := func(id, user string, st enroll.State, created, expires time.Duration) {
		e := &enroll.Enrollment{
			ID: id, UserID: user, ManagedAppleID: user + "@example.com", State: st,
			CreatedAt: base.Add(created),
		}
		if expires != 0 {
			e.ExpiresAt = base.Add(expires)
		}
		create(t, s, e)
	}
	// Inserted out of order on purpose.
	mk("d", "bob", enroll.StateEnrolled, 3*time.Hour, 0)
	mk("a", "alice", enroll.StateInvited, 0, time.Hour)
	mk("c", "alice", enroll.StateAuthenticated, 2*time.Hour, 3*time.Hour)
	mk("b", "bob", enroll.StateInvited, time.Hour, 2*time.Hour)
	mk("b2", "carol", enroll.StateInvited, time.Hour, 2*time.Hour) // same CreatedAt as b: ID order

	tests := []struct {
		name string
		o    enroll.ListOptions
		want []string
	}{
		{"all", enroll.ListOptions{}, []string{"a", "b", "b2", "c", "d"}},
		{"user", enroll.ListOptions{UserID: "alice"}, []string{"a", "c"}},
		{"managed Apple ID", enroll.ListOptions{ManagedAppleID: "bob@example.com"}, []string{"b", "d"}},
		{"states", enroll.ListOptions{States: []enroll.State{enroll.StateInvited, enroll.StateEnrolled}}, []string{"a", "b", "b2", "d"}},
		{"expires before", enroll.ListOptions{ExpiresBefore: base.Add(2 * time.Hour)}, []string{"a", "b", "b2"}},
		{"expires before, exact", enroll.ListOptions{ExpiresBefore: base.Add(time.Hour)}, []string{"a"}},
		{"combined", enroll.ListOptions{UserID: "bob", States: []enroll.State{enroll.StateInvited}, ExpiresBefore: base.Add(5 * time.Hour)}, []string{"b"}},
		{"limit", enroll.ListOptions{Limit: 2}, []string{"a", "b"}},
		{"none", enroll.ListOptions{UserID: "nobody"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.List(ctx, tt.o)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, e := range got {
				ids = append(ids, e.ID)
			}
			if !reflect.DeepEqual(ids, tt.want) {
				t.Fatalf("List(%+v) = %v, want %v", tt.o, ids, tt.want)
			}
		})
	}
}

func testAudit(t *testing.T, s enroll.Store) {
	ctx := context.Background()
	inv := event("e1", enroll.EventInvite, "", enroll.StateInvited, base)
	inv.Actor = "host"
	create(t, s, &enroll.Enrollment{ID: "e1", State: enroll.StateInvited, CreatedAt: base}, inv)
	create(t, s, &enroll.Enrollment{ID: "quiet", State: enroll.StateInvited, CreatedAt: base})

	e, _ := s.Get(ctx, "e1")
	e.State = enroll.StateConsented
	consent := event("e1", enroll.EventConsent, enroll.StatePasscodeVerified, enroll.StateConsented, base.Add(time.Minute))
	consent.TermsVersion = "v7"
	consent.TermsDigest = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	consent.Detail = "accepted on iPhone"
	// Two events in one Update keep their order.
	seen := event("e1", enroll.EventInfoSeen, enroll.StatePasscodeVerified, enroll.StatePasscodeVerified, base.Add(time.Minute))
	if err := s.Update(ctx, e, 1, seen, consent); err != nil {
		t.Fatal(err)
	}
	got, err := s.Audit(ctx, "e1")
	if err != nil {
		t.Fatal(err)
	}
	want := []enroll.AuditEvent{inv, seen, consent}
	if !reflect.DeepEqual(normAudit(got), normAudit(want)) {
		t.Fatalf("Audit:\n got %+v\nwant %+v", got, want)
	}
	got[0].Actor = "tampered"
	again, _ := s.Audit(ctx, "e1")
	if again[0].Actor != "host" {
		t.Fatal("Audit returned the store's own slice")
	}
	q, err := s.Audit(ctx, "quiet")
	if err != nil || len(q) != 0 {
		t.Fatalf("Audit of an enrollment without events = %v, %v; want empty, nil", q, err)
	}
}
