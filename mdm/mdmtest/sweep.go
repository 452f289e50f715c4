package mdmtest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/mdm"
)

// sweepTests are the cases for what Service.Sweep asks of a store:
// expiry, re-pushes after lapsed leases, and pruning.
var sweepTests = []struct {
	name string
	fn   func(t *testing.T, s mdm.Store)
}{
	{"Expiry", testExpiry},
	{"ExpiryLimit", testExpiryLimit},
	{"LapsedLeases", testLapsedLeases},
	{"LapsedLeasesLimit", testLapsedLeasesLimit},
	{"Prune", testPrune},
	{"PruneLimit", testPruneLimit},
}

// expiring returns a command that expires at at.
func expiring(t *testing.T, uuid string, at time.Time) *mdm.Command {
	c := command(t, uuid, "ProfileList")
	c.ExpiresAt = at
	return c
}

// resultAt stores a result of status st received at at.
func resultAt(t *testing.T, s mdm.Store, id mdm.EnrollmentID, uuid string, st mdm.Status, at time.Time) {
	t.Helper()
	r := &mdm.CommandResult{Identifiers: mdm.Identifiers{EnrollmentID: string(id)}, Status: st, CommandUUID: uuid,
		Raw: []byte("<plist><dict/></plist>"), ReceivedAt: at}
	if err := s.PutResult(context.Background(), id, r); err != nil {
		t.Fatalf("PutResult(%s, %s, %s): %v", id, uuid, st, err)
	}
}

// wantResult fails unless Result(id, uuid) has status st (ErrNotFound for
// "") and, if at is not zero, that ReceivedAt.
func wantResult(t *testing.T, s mdm.Store, id mdm.EnrollmentID, uuid string, st mdm.Status, at time.Time, what string) {
	t.Helper()
	r, err := s.Result(context.Background(), id, uuid)
	if st == "" {
		if !errors.Is(err, mdm.ErrNotFound) {
			t.Fatalf("%s: Result(%s, %s) = %+v, %v; want ErrNotFound", what, id, uuid, r, err)
		}
		return
	}
	if err != nil || r.Status != st || r.CommandUUID != uuid {
		t.Fatalf("%s: Result(%s, %s) = %+v, %v; want %s", what, id, uuid, r, err, st)
	}
	if !at.IsZero() && !r.ReceivedAt.Equal(at.Truncate(time.Microsecond)) {
		t.Fatalf("%s: Result(%s, %s).ReceivedAt = %v, want %v", what, id, uuid, r.ReceivedAt, at)
	}
}

func expire(t *testing.T, s mdm.Store, now time.Time, limit int) int {
	t.Helper()
	n, err := s.ExpireCommands(context.Background(), now, limit)
	if err != nil {
		t.Fatalf("ExpireCommands: %v", err)
	}
	return n
}

// testExpiry: a command is not delivered from its ExpiresAt on, whether or
// not ExpireCommands ran; ExpireCommands records StatusExpired for pending
// and NotNow commands; a result reported in time is kept.
func testExpiry(t *testing.T, s mdm.Store) {
	ctx := context.Background()
	deadline := base.Add(10 * time.Minute)
	enqueue(t, s, expiring(t, "soon", deadline), "x")
	enqueue(t, s, command(t, "later", "ProfileList"), "x")
	enqueue(t, s, expiring(t, "notnow", deadline), "x")
	enqueue(t, s, expiring(t, "answered", deadline), "y")

	c, err := s.NextCommand(ctx, "x", base, time.Minute)
	if err != nil || c.UUID != "soon" || !c.ExpiresAt.Equal(deadline) {
		t.Fatalf("NextCommand before the expiry = %+v, %v; want soon with ExpiresAt %v", c, err, deadline)
	}
	// The device answered "answered" before its expiry; the answer stays.
	wantNext(t, s, "y", base, "answered", "y before the expiry")
	resultAt(t, s, "y", "answered", mdm.StatusAcknowledged, base.Add(time.Minute))

	// At the expiry, "soon" (its lease ended) is skipped, not delivered.
	wantNext(t, s, "x", deadline, "later", "at the expiry, before ExpireCommands")
	resultAt(t, s, "x", "later", mdm.StatusAcknowledged, deadline)
	wantNext(t, s, "x", deadline, "", "only expired commands left")
	// A NotNow command that expires is not delivered after ResetNotNow.
	if err := s.ResetNotNow(ctx, []mdm.EnrollmentID{"x"}); err != nil {
		t.Fatal(err)
	}
	wantNext(t, s, "x", deadline.Add(time.Second), "", "expired commands after ResetNotNow")
	wantResult(t, s, "x", "soon", "", time.Time{}, "before ExpireCommands")

	if n := expire(t, s, deadline.Add(-time.Microsecond), 100); n != 0 {
		t.Fatalf("ExpireCommands before the expiry = %d, want 0", n)
	}
	now := deadline.Add(time.Minute)
	if n := expire(t, s, now, 100); n != 2 {
		t.Fatalf("ExpireCommands = %d, want 2 (soon, notnow)", n)
	}
	wantResult(t, s, "x", "soon", mdm.StatusExpired, now, "expired")
	wantResult(t, s, "x", "notnow", mdm.StatusExpired, now, "expired after NotNow")
	wantResult(t, s, "x", "later", mdm.StatusAcknowledged, time.Time{}, "not expiring")
	wantResult(t, s, "y", "answered", mdm.StatusAcknowledged, base.Add(time.Minute), "answered in time")
	if n := expire(t, s, now.Add(time.Hour), 100); n != 0 {
		t.Fatalf("ExpireCommands again = %d, want 0", n)
	}
	// An expired command is complete: a late answer is refused, and its
	// UUID is not queued again.
	late := &mdm.CommandResult{Identifiers: mdm.Identifiers{EnrollmentID: "x"}, Status: mdm.StatusAcknowledged, CommandUUID: "soon"}
	if err := s.PutResult(ctx, "x", late); !errors.Is(err, mdm.ErrNotFound) {
		t.Fatalf("PutResult after the expiry = %v, want ErrNotFound", err)
	}
	if err := s.Enqueue(ctx, command(t, "soon", "ProfileList"), []mdm.EnrollmentID{"x"}); !errors.Is(err, mdm.ErrCommandExists) {
		t.Fatalf("Enqueue of an expired UUID = %v, want ErrCommandExists", err)
	}
}

// testExpiryLimit: ExpireCommands completes at most limit commands a call.
func testExpiryLimit(t *testing.T, s mdm.Store) {
	for _, u := range []string{"e1", "e2", "e3"} {
		enqueue(t, s, expiring(t, u, base), "l1", "l2")
	}
	total := 0
	for range 10 {
		n := expire(t, s, base, 4)
		if n > 4 {
			t.Fatalf("ExpireCommands(limit 4) = %d", n)
		}
		total += n
		if n < 4 {
			break
		}
	}
	if total != 6 {
		t.Fatalf("ExpireCommands expired %d commands in all, want 6", total)
	}
	for _, id := range []mdm.EnrollmentID{"l1", "l2"} {
		for _, u := range []string{"e1", "e2", "e3"} {
			wantResult(t, s, id, u, mdm.StatusExpired, base, "after the batches")
		}
	}
}

// claim returns the sorted enrollments ClaimLapsedLeases claims at now;
// the wait after the n-th re-push is n times five minutes.
func claim(t *testing.T, s mdm.Store, now time.Time, limit int) []mdm.EnrollmentID {
	t.Helper()
	ids, err := s.ClaimLapsedLeases(context.Background(), now, limit, func(n int) time.Duration { return time.Duration(n) * 5 * time.Minute })
	if err != nil {
		t.Fatalf("ClaimLapsedLeases: %v", err)
	}
	slices.Sort(ids)
	return ids
}

func wantClaim(t *testing.T, s mdm.Store, now time.Time, what string, want ...mdm.EnrollmentID) {
	t.Helper()
	if got := claim(t, s, now, 100); !slices.Equal(got, want) {
		t.Fatalf("%s: ClaimLapsedLeases = %v, want %v", what, got, want)
	}
}

// testLapsedLeases: a command handed out and not answered is claimed when
// its lease ends, then after each wait; a new lease, an answer, NotNow and
// expiry stop the claims.
func testLapsedLeases(t *testing.T, s mdm.Store) {
	min := func(m float64) time.Time { return base.Add(time.Duration(m * float64(time.Minute))) }
	enqueue(t, s, command(t, "lost", "ProfileList"), "p")
	enqueue(t, s, command(t, "queued", "ProfileList"), "q")
	enqueue(t, s, command(t, "nn", "ProfileList"), "n")
	enqueue(t, s, expiring(t, "exp", min(3)), "e")
	wantClaim(t, s, min(5), "nothing handed out")

	for _, id := range []mdm.EnrollmentID{"p", "n", "e"} {
		next(t, s, id, base)
	}
	resultAt(t, s, "n", "nn", mdm.StatusNotNow, min(0.5))
	wantClaim(t, s, min(0.5), "during the lease")
	wantClaim(t, s, min(1), "lease ended", "e", "p")
	wantClaim(t, s, min(1), "claimed already")
	wantClaim(t, s, min(5.9), "before the first wait (5 min)")
	// "e" expired at 3 minutes: not claimed any more.
	wantClaim(t, s, min(6), "after the first wait", "p")
	// The device asks again: a new lease, during which nothing is claimed;
	// the back-off goes on (second wait: 10 min after the claim at 6).
	wantNext(t, s, "p", min(6.5), "lost", "after the re-push")
	wantClaim(t, s, min(7.5), "second lease ended, but the back-off runs")
	wantClaim(t, s, min(16), "after the second wait", "p")
	// An answer ends the claims.
	resultAt(t, s, "p", "lost", mdm.StatusAcknowledged, min(16.5))
	wantClaim(t, s, min(600), "answered")
	wantNext(t, s, "q", min(600), "queued", "q first delivered")
	wantClaim(t, s, min(600.5), "q during its lease")
	wantClaim(t, s, min(601), "q lease ended", "q")
}

// testLapsedLeasesLimit: ClaimLapsedLeases claims at most limit commands
// a call, each once.
func testLapsedLeasesLimit(t *testing.T, s mdm.Store) {
	ids := []mdm.EnrollmentID{"a", "b", "c"}
	enqueue(t, s, command(t, "c1", "ProfileList"), ids...)
	for _, id := range ids {
		next(t, s, id, base)
	}
	var all []mdm.EnrollmentID
	for range 5 {
		got := claim(t, s, base.Add(time.Minute), 2)
		if len(got) > 2 {
			t.Fatalf("ClaimLapsedLeases(limit 2) = %v", got)
		}
		all = append(all, got...)
	}
	slices.Sort(all)
	if !slices.Equal(all, ids) {
		t.Fatalf("claimed %v in all, want each of %v once", all, ids)
	}
}

// pruneScene stores what testPrune and testPruneLimit prune: old and recent
// results of a live enrollment, pending and NotNow commands, an old and a
// recent checked-out enrollment.
func pruneScene(t *testing.T, s mdm.Store) (cut mdm.Cutoffs) {
	day := 24 * time.Hour
	live := record("live", 1)
	put(t, s, live)
	for _, u := range []string{"old1", "old2", "new", "pending", "notnow"} {
		enqueue(t, s, command(t, u, "ProfileList"), "live")
	}
	for _, r := range []struct {
		uuid string
		st   mdm.Status
		at   time.Time
	}{{"old1", mdm.StatusAcknowledged, base}, {"old2", mdm.StatusError, base.Add(day)}, {"new", mdm.StatusAcknowledged, base.Add(40 * day)}} {
		wantNext(t, s, "live", base, r.uuid, "scene")
		resultAt(t, s, "live", r.uuid, r.st, r.at)
	}
	wantNext(t, s, "live", base, "pending", "scene")
	resultAt(t, s, "live", "pending", mdm.StatusNotNow, base) // pending, with an old NotNow result
	// An expired command completes too, and is pruned by its expiry time.
	enqueue(t, s, expiring(t, "expired", base.Add(time.Hour)), "live")
	expire(t, s, base.Add(time.Hour), 10)

	gone := record("gone", 2)
	gone.CheckedOut, gone.UpdatedAt = true, base.Add(day)
	put(t, s, gone)
	enqueue(t, s, command(t, "g-done", "ProfileList"), "gone")
	enqueue(t, s, command(t, "g-pending", "ProfileList"), "gone")
	wantNext(t, s, "gone", base, "g-done", "scene")
	resultAt(t, s, "gone", "g-done", mdm.StatusAcknowledged, base.Add(40*day))

	recent := record("recent", 3)
	recent.CheckedOut, recent.UpdatedAt = true, base.Add(40*day)
	put(t, s, recent)
	enqueue(t, s, command(t, "r-pending", "ProfileList"), "recent")

	// The live record itself is old: it is never pruned for that.
	return mdm.Cutoffs{Results: base.Add(30 * day), CheckedOut: base.Add(30 * day)}
}

// checkPruned checks the scene of pruneScene after pruning with its
// cutoffs.
func checkPruned(t *testing.T, s mdm.Store) {
	t.Helper()
	ctx := context.Background()
	for _, u := range []string{"old1", "old2", "expired"} {
		wantResult(t, s, "live", u, "", time.Time{}, "old result pruned")
	}
	wantResult(t, s, "live", "new", mdm.StatusAcknowledged, time.Time{}, "recent result kept")
	wantResult(t, s, "live", "pending", mdm.StatusNotNow, time.Time{}, "NotNow result of a pending command kept")
	if _, err := s.Enrollment(ctx, "live"); err != nil {
		t.Fatalf("live record: %v", err)
	}
	if id, err := s.EnrollmentByCertificate(ctx, fp(1)); err != nil || id != "live" {
		t.Fatalf("live binding = %q, %v", id, err)
	}
	if err := s.ResetNotNow(ctx, []mdm.EnrollmentID{"live"}); err != nil {
		t.Fatal(err)
	}
	wantNext(t, s, "live", base.Add(50*24*time.Hour), "pending", "pending command kept")
	resultAt(t, s, "live", "pending", mdm.StatusAcknowledged, base)
	wantNext(t, s, "live", base.Add(50*24*time.Hour), "notnow", "pending command kept")

	if _, err := s.Enrollment(ctx, "gone"); !errors.Is(err, mdm.ErrNotFound) {
		t.Fatalf("checked-out record after its retention: %v, want ErrNotFound", err)
	}
	if _, err := s.EnrollmentByCertificate(ctx, fp(2)); !errors.Is(err, mdm.ErrNotFound) {
		t.Fatalf("its binding: %v, want ErrNotFound", err)
	}
	wantResult(t, s, "gone", "g-done", "", time.Time{}, "result of a pruned record")
	wantNext(t, s, "gone", base.Add(50*24*time.Hour), "", "queue of a pruned record")
	if _, err := s.Enrollment(ctx, "recent"); err != nil {
		t.Fatalf("recently checked-out record: %v", err)
	}
	wantNext(t, s, "recent", base.Add(50*24*time.Hour), "r-pending", "queue of a recently checked-out record")
	// A pruned UUID may be queued again.
	enqueue(t, s, command(t, "old1", "ProfileList"), "live")
}

func testPrune(t *testing.T, s mdm.Store) {
	ctx := context.Background()
	cut := pruneScene(t, s)
	if n, err := s.Prune(ctx, mdm.Cutoffs{}, 100); err != nil || n != 0 {
		t.Fatalf("Prune(zero cutoffs) = %d, %v; want 0", n, err)
	}
	n, err := s.Prune(ctx, cut, 100)
	if err != nil || n < 4 {
		t.Fatalf("Prune = %d, %v; want at least 4 (three results, one record)", n, err)
	}
	if n, err := s.Prune(ctx, cut, 100); err != nil || n != 0 {
		t.Fatalf("Prune again = %d, %v; want 0", n, err)
	}
	checkPruned(t, s)
}

func testPruneLimit(t *testing.T, s mdm.Store) {
	cut := pruneScene(t, s)
	for i := 0; ; i++ {
		n, err := s.Prune(context.Background(), cut, 1)
		if err != nil || n > 1 {
			t.Fatalf("Prune(limit 1) = %d, %v", n, err)
		}
		if n == 0 {
			break
		}
		if i > 10 {
			t.Fatal("Prune(limit 1) does not finish")
		}
	}
	checkPruned(t, s)
}
