// Package ddmtest is the conformance suite every ddm.Store implementation
// runs in one line:
//
//	func TestDDMStore(t *testing.T) {
//		ddmtest.Run(t, func(t *testing.T) ddm.Store { return memory.NewDDMStore() })
//	}
//
// RunReplicas checks what several replicas sharing one database rely on:
// two Services on two handles assigning and syncing at once lose no write,
// and every state served has a DeclarationsToken that matches its items.
package ddmtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/ddm"
	"github.com/enrollkit/enrollkit/mdm"
)

// Run runs the conformance suite. newStore must return an empty store for
// each call.
func Run(t *testing.T, newStore func(t *testing.T) ddm.Store) {
	t.Run("Catalog", func(t *testing.T) { testCatalog(t, newStore(t)) })
	t.Run("ApplyConflict", func(t *testing.T) { testApplyConflict(t, newStore(t)) })
	t.Run("SyncState", func(t *testing.T) { testSyncState(t, newStore(t)) })
	t.Run("Status", func(t *testing.T) { testStatus(t, newStore(t)) })
	t.Run("Snapshots", func(t *testing.T) { testSnapshots(t, newStore(t)) })
	t.Run("Facts", func(t *testing.T) { testFacts(t, newStore(t)) })
	t.Run("FactsStaleOnlyTheirs", func(t *testing.T) { testFactsStaleOnlyTheirs(t, newStore(t)) })
	t.Run("ConcurrentApply", func(t *testing.T) {
		s := newStore(t)
		testConcurrentApply(t, s, s)
	})
}

// RunReplicas runs the checks that need two handles on one database:
// newPair returns two stores sharing the same, empty, state.
func RunReplicas(t *testing.T, newPair func(t *testing.T) (ddm.Store, ddm.Store)) {
	t.Run("ConcurrentApplyTwoHandles", func(t *testing.T) {
		a, b := newPair(t)
		testConcurrentApply(t, a, b)
	})
	t.Run("AssignAndSync", func(t *testing.T) {
		a, b := newPair(t)
		testAssignAndSync(t, a, b)
	})
	t.Run("FactsAndSync", func(t *testing.T) {
		a, b := newPair(t)
		testFactsAndSync(t, a, b)
	})
}

var ctx = context.Background()

func decl(id, typ, payload string) *ddm.Declaration {
	return &ddm.Declaration{Identifier: id, Type: typ, Payload: json.RawMessage(payload)}
}

func apply(t *testing.T, s ddm.Store, ch *ddm.Change) int64 {
	t.Helper()
	rev, err := s.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.Apply(ctx, rev, ch)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if n != rev+1 {
		t.Fatalf("Apply returned revision %d after %d", n, rev)
	}
	return n
}

func testCatalog(t *testing.T, s ddm.Store) {
	if rev, err := s.Revision(ctx); err != nil || rev != 0 {
		t.Fatalf("empty store: revision %d, %v", rev, err)
	}
	if _, err := s.Declaration(ctx, "x"); !errors.Is(err, ddm.ErrNotFound) {
		t.Fatalf("Declaration of nothing: %v, want ErrNotFound", err)
	}
	pass := decl("pass", "com.apple.configuration.passcode.settings", `{"MinimumLength":6}`)
	act := decl("act", "com.apple.activation.simple", `{"StandardConfigurations":["pass"]}`)
	apply(t, s, &ddm.Change{
		PutDeclarations: []*ddm.Declaration{pass, act},
		PutSets:         map[string][]string{"byod": {"act"}, "empty": {}},
		PutAssignments:  []*ddm.Assignment{{Enrollment: "e1", Sets: []string{"byod"}}, {Enrollment: "e2", Declarations: []string{"pass"}}},
	})
	if err := s.PutFacts(ctx, map[mdm.EnrollmentID]ddm.Facts{"e1": {Platform: "iOS", OSVersion: "17.5"}}); err != nil {
		t.Fatal(err)
	}
	pass.Payload[0] = 'X' // the store kept its own copy
	cat, err := s.Catalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cat.Revision != 1 || len(cat.Declarations) != 2 || string(cat.Declarations["pass"].Payload) != `{"MinimumLength":6}` ||
		cat.Declarations["act"].Type != "com.apple.activation.simple" {
		t.Fatalf("catalog = %+v", cat)
	}
	if !slices.Equal(cat.Sets["byod"], []string{"act"}) || cat.Sets["empty"] == nil && len(cat.Sets) != 2 {
		t.Fatalf("sets = %v", cat.Sets)
	}
	if _, ok := cat.Sets["empty"]; !ok {
		t.Fatalf("an empty set was lost: %v", cat.Sets)
	}
	snap, err := s.Snapshot(ctx, "e1")
	if err != nil {
		t.Fatal(err)
	}
	if snap.Revision != 1 || snap.Assignment == nil || !slices.Equal(snap.Assignment.Sets, []string{"byod"}) ||
		snap.Facts == nil || *snap.Facts != (ddm.Facts{Platform: "iOS", OSVersion: "17.5"}) || snap.FactsRevision != 1 {
		t.Fatalf("snapshot e1 = %+v (assignment %+v, facts %+v)", snap, snap.Assignment, snap.Facts)
	}
	if snap, err := s.Snapshot(ctx, "nobody"); err != nil || snap.Assignment != nil || snap.Facts != nil || snap.FactsRevision != 0 || len(snap.Declarations) != 2 {
		t.Fatalf("snapshot of an unassigned enrollment = %+v, %v", snap, err)
	}
	as, err := s.Assignments(ctx)
	if err != nil || len(as) != 2 || as[0].Enrollment != "e1" || as[1].Enrollment != "e2" || !slices.Equal(as[1].Declarations, []string{"pass"}) {
		t.Fatalf("assignments = %+v, %v", as, err)
	}
	// Replace, delete, and an empty assignment removes it.
	apply(t, s, &ddm.Change{
		DeleteDeclarations: []string{"act"},
		DeleteSets:         []string{"byod"},
		PutDeclarations:    []*ddm.Declaration{decl("pass", "com.apple.configuration.passcode.settings", `{"MinimumLength":8}`)},
		PutAssignments:     []*ddm.Assignment{{Enrollment: "e1"}},
	})
	d, err := s.Declaration(ctx, "pass")
	if err != nil || string(d.Payload) != `{"MinimumLength":8}` {
		t.Fatalf("replaced declaration = %+v, %v", d, err)
	}
	cat, _ = s.Catalog(ctx)
	if _, ok := cat.Declarations["act"]; ok || cat.Sets["byod"] != nil || cat.Revision != 2 {
		t.Fatalf("after deletes: %+v", cat)
	}
	if as, _ := s.Assignments(ctx); len(as) != 1 || as[0].Enrollment != "e2" {
		t.Fatalf("assignments after removing e1's = %+v", as)
	}
}

func testApplyConflict(t *testing.T, s ddm.Store) {
	apply(t, s, &ddm.Change{PutSets: map[string][]string{"a": {}}})
	_, err := s.Apply(ctx, 0, &ddm.Change{PutSets: map[string][]string{"b": {}}})
	if !errors.Is(err, ddm.ErrConflict) {
		t.Fatalf("Apply at a stale revision: %v, want ErrConflict", err)
	}
	cat, _ := s.Catalog(ctx)
	if _, ok := cat.Sets["b"]; ok || cat.Revision != 1 {
		t.Fatalf("a refused Apply wrote: %+v", cat)
	}
}

func testSyncState(t *testing.T, s ddm.Store) {
	if _, err := s.SyncState(ctx, "e1"); !errors.Is(err, ddm.ErrNotFound) {
		t.Fatalf("SyncState of nothing: %v", err)
	}
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st := &ddm.SyncState{Enrollment: "e1", Revision: 3, DeclarationsToken: "t3", Timestamp: ts,
		Items:    []ddm.Item{{Class: ddm.ClassConfiguration, Identifier: "pass", ServerToken: "p1"}},
		Withheld: []ddm.Withheld{{Identifier: "vpn", Type: "com.apple.configuration.network.vpn.ikev2", Reason: ddm.ReasonEnrollmentType, Detail: "d"}},
		Device:   ddm.Device{Platform: "iOS", OSVersion: "17.5", Enrollment: "user", Scope: "system"}}
	for _, tc := range []struct {
		rev   int64
		token string
		want  bool
	}{{3, "t3", true}, {3, "other", false}, {2, "older", false}, {4, "t4", true}} {
		c := *st
		c.Revision, c.DeclarationsToken = tc.rev, tc.token
		ok, err := s.PutSyncState(ctx, &c)
		if err != nil || ok != tc.want {
			t.Fatalf("PutSyncState(revision %d) = %v, %v; want %v", tc.rev, ok, err, tc.want)
		}
	}
	got, err := s.SyncState(ctx, "e1")
	if err != nil || got.Revision != 4 || got.DeclarationsToken != "t4" || !got.Timestamp.Equal(ts) ||
		!slices.Equal(got.Items, st.Items) || !slices.Equal(got.Withheld, st.Withheld) || got.Device != st.Device {
		t.Fatalf("SyncState = %+v, %v", got, err)
	}
}

// testSnapshots reads many enrollments at once (more than a database
// lists in one statement) and writes their states in one batch.
func testSnapshots(t *testing.T, s ddm.Store) {
	const n = 1200
	ch := &ddm.Change{PutDeclarations: []*ddm.Declaration{decl("pass", "com.apple.configuration.passcode.settings", `{"MinimumLength":6}`)},
		PutSets: map[string][]string{"byod": {"pass"}}}
	facts := map[mdm.EnrollmentID]ddm.Facts{}
	ids := make([]mdm.EnrollmentID, n)
	for i := range ids {
		ids[i] = mdm.EnrollmentID(fmt.Sprintf("e%04d", i))
		if i%3 != 2 { // every third has no assignment
			ch.PutAssignments = append(ch.PutAssignments, &ddm.Assignment{Enrollment: ids[i], Sets: []string{"byod"}, Declarations: []string{"pass"}[:i%2]})
		}
		if i%2 == 0 {
			facts[ids[i]] = ddm.Facts{Platform: "iOS", OSVersion: fmt.Sprintf("17.%d", i%7)}
		}
	}
	rev := apply(t, s, ch)
	if err := s.PutFacts(ctx, facts); err != nil {
		t.Fatal(err)
	}
	st := func(id mdm.EnrollmentID, rev int64, token string) *ddm.SyncState {
		return &ddm.SyncState{Enrollment: id, Revision: rev, DeclarationsToken: token, Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			Items: []ddm.Item{{Class: ddm.ClassConfiguration, Identifier: "pass", ServerToken: "p"}}}
	}
	if ok, err := s.PutSyncState(ctx, st(ids[1], rev+1, "newer")); err != nil || !ok {
		t.Fatalf("PutSyncState = %v, %v", ok, err)
	}
	batch := []*ddm.SyncState{st(ids[0], rev, "a"), st(ids[1], rev, "b"), st(ids[0], rev-1, "older"), st(ids[n-1], rev, "c")}
	stored, err := s.PutSyncStates(ctx, batch)
	if err != nil || !slices.Equal(stored, []bool{true, false, false, true}) {
		t.Fatalf("PutSyncStates = %v, %v; want [true false false true]", stored, err)
	}
	snap, err := s.Snapshots(ctx, append(ids, "nobody"))
	if err != nil {
		t.Fatal(err)
	}
	if snap.Revision != rev || len(snap.Declarations) != 1 || !slices.Equal(snap.Sets["byod"], []string{"pass"}) {
		t.Fatalf("Snapshots: catalog at revision %d (want %d) %+v", snap.Revision, rev, snap.Catalog)
	}
	for i, id := range ids {
		a, f := snap.Assignments[id], snap.Facts[id]
		if (a != nil) != (i%3 != 2) || a != nil && (a.Enrollment != id || !slices.Equal(a.Sets, []string{"byod"}) || len(a.Declarations) != i%2) {
			t.Fatalf("Snapshots: assignment of %s = %+v", id, a)
		}
		if _, ok := snap.Facts[id]; ok != (i%2 == 0) || ok && f.OSVersion != fmt.Sprintf("17.%d", i%7) {
			t.Fatalf("Snapshots: facts of %s = %+v", id, f)
		}
		if r, ok := snap.FactsRevisions[id]; ok != (i%2 == 0) || ok && r != 1 {
			t.Fatalf("Snapshots: facts revision of %s = %d (present %v)", id, r, ok)
		}
	}
	want := map[mdm.EnrollmentID]string{ids[0]: "a", ids[1]: "newer", ids[n-1]: "c"}
	if len(snap.States) != len(want) {
		t.Fatalf("Snapshots: %d states, want %d", len(snap.States), len(want))
	}
	for id, token := range want {
		if got := snap.States[id]; got == nil || got.DeclarationsToken != token || got.Items[0].Identifier != "pass" {
			t.Fatalf("Snapshots: state of %s = %+v, want token %q", id, got, token)
		}
	}
	if stored, err := s.PutSyncStates(ctx, nil); err != nil || len(stored) != 0 {
		t.Fatalf("PutSyncStates(nil) = %v, %v", stored, err)
	}
}

func testStatus(t *testing.T, s ddm.Store) {
	if _, err := s.Status(ctx, "e1"); !errors.Is(err, ddm.ErrNotFound) {
		t.Fatalf("Status of nothing: %v", err)
	}
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st := &ddm.Status{Enrollment: "e1", UpdatedAt: ts,
		Items: map[string]json.RawMessage{"device.operating-system.version": json.RawMessage(`"17.5"`)},
		Declarations: map[string]ddm.DeclarationStatus{"pass": {Class: ddm.ClassConfiguration, Identifier: "pass", ServerToken: "p1", Active: true, Valid: "valid",
			Reasons: []ddm.StatusReason{{Code: "Info", Description: "d", Details: json.RawMessage(`{"a":1}`)}}}},
		Errors: []ddm.StatusError{{StatusItem: "passcode.is-compliant", Reasons: []ddm.StatusReason{{Code: "Error.Unavailable"}}}},
	}
	if err := s.PutStatus(ctx, st); err != nil {
		t.Fatal(err)
	}
	got, err := s.Status(ctx, "e1")
	if err != nil || !got.UpdatedAt.Equal(ts) || string(got.Items["device.operating-system.version"]) != `"17.5"` ||
		got.Declarations["pass"].Valid != "valid" || !got.Declarations["pass"].Active || string(got.Declarations["pass"].Reasons[0].Details) != `{"a":1}` ||
		len(got.Errors) != 1 || got.Errors[0].StatusItem != "passcode.is-compliant" {
		t.Fatalf("Status = %+v, %v", got, err)
	}
	st.Items = map[string]json.RawMessage{}
	if err := s.PutStatus(ctx, st); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Status(ctx, "e1"); len(got.Items) != 0 {
		t.Fatalf("PutStatus did not replace: %+v", got.Items)
	}
}

// testConcurrentApply races writers on a and b: every Apply that succeeds
// is kept, and the revision counts them.
func testConcurrentApply(t *testing.T, a, b ddm.Store) {
	const writers, each = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; {
				rev, err := s.Revision(ctx)
				if err != nil {
					errs <- err
					return
				}
				_, err = s.Apply(ctx, rev, &ddm.Change{PutSets: map[string][]string{fmt.Sprintf("w%d-%d", w, i): {}}})
				if errors.Is(err, ddm.ErrConflict) {
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				i++
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	cat, err := b.Catalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.Sets) != writers*each || cat.Revision != writers*each {
		t.Fatalf("after %d successful writes: %d sets at revision %d", writers*each, len(cat.Sets), cat.Revision)
	}
}

// fakeMDM knows every enrollment as an enrolled iOS 17.5 User Enrollment
// and counts the DeclarativeManagement commands queued.
type fakeMDM struct {
	mu     sync.Mutex
	queued map[mdm.EnrollmentID]int
}

// Enrollment returns an enrolled iOS 17.5 User Enrollment record for id.
func (f *fakeMDM) Enrollment(_ context.Context, id mdm.EnrollmentID) (*mdm.EnrollmentRecord, error) {
	return &mdm.EnrollmentRecord{ID: id, Type: mdm.UserEnrollmentDevice, ProductName: "iPhone16,2", OSVersion: "17.5", Enrolled: true}, nil
}

// Enrollments returns Enrollment's record for each of ids.
func (f *fakeMDM) Enrollments(ctx context.Context, ids []mdm.EnrollmentID) (map[mdm.EnrollmentID]*mdm.EnrollmentRecord, error) {
	out := map[mdm.EnrollmentID]*mdm.EnrollmentRecord{}
	for _, id := range ids {
		out[id], _ = f.Enrollment(ctx, id)
	}
	return out, nil
}

// Enqueue counts the command for each id.
func (f *fakeMDM) Enqueue(_ context.Context, cmd *mdm.Command, ids ...mdm.EnrollmentID) ([]mdm.PushResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		f.queued[id]++
	}
	return nil, nil
}

// testAssignAndSync runs two Services, one per handle, assigning to the
// same enrollments and syncing them at once; afterwards every enrollment is
// served every declaration assigned to it, and every state read during the
// race had a DeclarationsToken that matches its items.
func testAssignAndSync(t *testing.T, a, b ddm.Store) {
	m := &fakeMDM{queued: map[mdm.EnrollmentID]int{}}
	sa, sb := services(t, m, a, b)
	const n = 6
	for i := range n {
		if err := sa.PutDeclaration(ctx, decl(fmt.Sprintf("pass%d", i), "com.apple.configuration.passcode.settings", fmt.Sprintf(`{"MinimumLength":%d}`, 4+i))); err != nil {
			t.Fatal(err)
		}
	}
	ids := []mdm.EnrollmentID{"e1", "e2"}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w, s := range []*ddm.Service{sa, sb} {
		wg.Add(2)
		go func() { // writer: adds its declarations one by one
			defer wg.Done()
			for i := w; i < n; i += 2 {
				for _, id := range ids {
					st, err := s.Sync(ctx, id)
					if err != nil {
						errs <- err
						return
					}
					_ = st
				}
				if err := addToAssignment(s, a, "e1", fmt.Sprintf("pass%d", i)); err != nil {
					errs <- err
					return
				}
				if err := addToAssignment(s, b, "e2", fmt.Sprintf("pass%d", i)); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() { // reader: syncs and checks every state it sees
			defer wg.Done()
			if err := syncChecked(s, ids, 30); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, id := range ids {
		for _, s := range []*ddm.Service{sa, sb} {
			st, err := s.Sync(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Check(); err != nil {
				t.Fatal(err)
			}
			for i := range n {
				want := fmt.Sprintf("pass%d", i)
				if !slices.ContainsFunc(st.Items, func(it ddm.Item) bool { return it.Identifier == want }) {
					t.Fatalf("%s is not served %s after the race: %+v", id, want, st.Items)
				}
			}
		}
	}
	if m.queued["e1"] == 0 || m.queued["e2"] == 0 {
		t.Fatalf("no DeclarativeManagement command queued: %v", m.queued)
	}
}

// services returns a Service on each of a and b, both on m.
func services(t *testing.T, m ddm.MDM, a, b ddm.Store) (*ddm.Service, *ddm.Service) {
	t.Helper()
	sa, err := ddm.New(a, m, ddm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := ddm.New(b, m, ddm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return sa, sb
}

// syncChecked syncs each of ids rounds times through s and checks that
// every state it is served has a DeclarationsToken that matches its items.
func syncChecked(s *ddm.Service, ids []mdm.EnrollmentID, rounds int) error {
	for range rounds {
		for _, id := range ids {
			st, err := s.Sync(ctx, id)
			if err != nil {
				return err
			}
			if err := st.Check(); err != nil {
				return err
			}
		}
	}
	return nil
}

// addToAssignment adds identifier to id's assignment, reading the current
// one from r; Assign replaces, so a lost race is retried until the
// identifier is in.
func addToAssignment(s *ddm.Service, r ddm.Store, id mdm.EnrollmentID, identifier string) error {
	for range 100 {
		snap, err := r.Snapshot(ctx, id)
		if err != nil {
			return err
		}
		var a ddm.Assignment
		if snap.Assignment != nil {
			a = *snap.Assignment
		}
		a.Enrollment = id
		a.Declarations = append(slices.Clone(a.Declarations), identifier)
		if err := s.AssignIf(ctx, snap.Revision, a); errors.Is(err, ddm.ErrConflict) {
			continue
		} else if err != nil {
			return err
		}
		return nil
	}
	return fmt.Errorf("ddmtest: could not add %s to %s", identifier, id)
}

// testFacts writes facts outside the catalog: they leave the catalog's
// revision alone and move only their enrollment's facts revision, and a
// sync state is replaced by one of the same catalog revision and a higher
// facts revision.
func testFacts(t *testing.T, s ddm.Store) {
	rev := apply(t, s, &ddm.Change{PutSets: map[string][]string{"a": {}}})
	revisions := func(id mdm.EnrollmentID, wantFacts int64) {
		t.Helper()
		cat, facts, err := s.Revisions(ctx, id)
		if err != nil || cat != rev || facts != wantFacts {
			t.Fatalf("Revisions(%s) = %d, %d, %v; want %d, %d", id, cat, facts, err, rev, wantFacts)
		}
	}
	revisions("e1", 0)
	ios17 := ddm.Facts{Platform: "iOS", OSVersion: "17.5"}
	ios18 := ddm.Facts{Platform: "iOS", OSVersion: "18.1"}
	for _, tc := range []struct {
		name   string
		facts  map[mdm.EnrollmentID]ddm.Facts
		e1, e2 int64
	}{
		{"first report", map[mdm.EnrollmentID]ddm.Facts{"e1": ios17}, 1, 0},
		{"the same again", map[mdm.EnrollmentID]ddm.Facts{"e1": ios17}, 1, 0},
		{"an OS update and another device's first", map[mdm.EnrollmentID]ddm.Facts{"e1": ios18, "e2": ios17}, 2, 1},
		{"only the platform", map[mdm.EnrollmentID]ddm.Facts{"e2": {Platform: "iPadOS", OSVersion: "17.5"}}, 2, 2},
		{"nothing", nil, 2, 2},
	} {
		if err := s.PutFacts(ctx, tc.facts); err != nil {
			t.Fatalf("%s: PutFacts: %v", tc.name, err)
		}
		revisions("e1", tc.e1)
		revisions("e2", tc.e2)
	}
	if snap, err := s.Snapshot(ctx, "e1"); err != nil || snap.Revision != rev || snap.Facts == nil || *snap.Facts != ios18 || snap.FactsRevision != 2 {
		t.Fatalf("Snapshot(e1) = %+v, %v", snap, err)
	}
	st := &ddm.SyncState{Enrollment: "e1", Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	for _, tc := range []struct {
		rev, facts int64
		want       bool
	}{{3, 1, true}, {3, 1, false}, {3, 0, false}, {2, 9, false}, {3, 2, true}, {4, 0, true}, {4, 0, false}, {3, 5, false}} {
		c := *st
		c.Revision, c.FactsRevision, c.DeclarationsToken = tc.rev, tc.facts, fmt.Sprintf("t%d.%d", tc.rev, tc.facts)
		ok, err := s.PutSyncState(ctx, &c)
		if err != nil || ok != tc.want {
			t.Fatalf("PutSyncState(revision %d, facts revision %d) = %v, %v; want %v", tc.rev, tc.facts, ok, err, tc.want)
		}
	}
	if got, err := s.SyncState(ctx, "e1"); err != nil || got.Revision != 4 || got.FactsRevision != 0 || got.DeclarationsToken != "t4.0" {
		t.Fatalf("SyncState = %+v, %v", got, err)
	}
	stored, err := s.PutSyncStates(ctx, []*ddm.SyncState{
		{Enrollment: "e1", Revision: 4, FactsRevision: 1, DeclarationsToken: "t4.1"},
		{Enrollment: "e1", Revision: 4, FactsRevision: 1, DeclarationsToken: "again"},
	})
	if err != nil || !slices.Equal(stored, []bool{true, false}) {
		t.Fatalf("PutSyncStates = %v, %v; want [true false]", stored, err)
	}
	snaps, err := s.Snapshots(ctx, []mdm.EnrollmentID{"e1", "e2", "e3"})
	if err != nil || snaps.FactsRevisions["e1"] != 2 || snaps.FactsRevisions["e2"] != 2 || len(snaps.FactsRevisions) != 2 ||
		snaps.States["e1"] == nil || snaps.States["e1"].FactsRevision != 1 || snaps.States["e1"].DeclarationsToken != "t4.1" {
		t.Fatalf("Snapshots = %+v, %v", snaps, err)
	}
}

// countingStore counts the sync states stored per enrollment.
type countingStore struct {
	ddm.Store
	mu     sync.Mutex
	stored map[mdm.EnrollmentID]int
}

func (c *countingStore) count(sts []*ddm.SyncState, stored []bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, st := range sts {
		if stored[i] {
			c.stored[st.Enrollment]++
		}
	}
}

// PutSyncState counts st when it is stored.
func (c *countingStore) PutSyncState(ctx context.Context, st *ddm.SyncState) (bool, error) {
	ok, err := c.Store.PutSyncState(ctx, st)
	c.count([]*ddm.SyncState{st}, []bool{ok})
	return ok, err
}

// PutSyncStates counts each of sts stored.
func (c *countingStore) PutSyncStates(ctx context.Context, sts []*ddm.SyncState) ([]bool, error) {
	stored, err := c.Store.PutSyncStates(ctx, sts)
	if err == nil {
		c.count(sts, stored)
	}
	return stored, err
}

// testFactsStaleOnlyTheirs checks that a device reporting a new OS release
// makes only its own enrollment's state stale: the next sync of another
// enrollment serves the state it had without computing it again, while its
// own is recomputed for the new release.
func testFactsStaleOnlyTheirs(t *testing.T, store ddm.Store) {
	s := &countingStore{Store: store, stored: map[mdm.EnrollmentID]int{}}
	svc, err := ddm.New(s, &fakeMDM{queued: map[mdm.EnrollmentID]int{}}, ddm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.PutDeclaration(ctx, decl("pass", "com.apple.configuration.passcode.settings", `{"MinimumLength":6}`)); err != nil {
		t.Fatal(err)
	}
	ids := []mdm.EnrollmentID{"a", "b"}
	for _, id := range ids {
		if err := svc.Assign(ctx, ddm.Assignment{Enrollment: id, Declarations: []string{"pass"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutFacts(ctx, map[mdm.EnrollmentID]ddm.Facts{"a": {Platform: "iOS", OSVersion: "17.6"}, "b": {Platform: "iOS", OSVersion: "17.6"}}); err != nil {
		t.Fatal(err)
	}
	before := map[mdm.EnrollmentID]*ddm.SyncState{}
	for _, id := range ids {
		if before[id], err = svc.Sync(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	s.stored = map[mdm.EnrollmentID]int{}
	if err := s.PutFacts(ctx, map[mdm.EnrollmentID]ddm.Facts{"a": {Platform: "iOS", OSVersion: "18.1"}}); err != nil {
		t.Fatal(err)
	}
	b, err := svc.Sync(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if s.stored["b"] != 0 || b.Revision != before["b"].Revision || b.FactsRevision != before["b"].FactsRevision || b.Device.OSVersion != "17.6" {
		t.Fatalf("b's state after a's OS update: stored %d times, %+v; want the state it had, %+v", s.stored["b"], b, before["b"])
	}
	a, err := svc.Sync(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if s.stored["a"] != 1 || a.Device.OSVersion != "18.1" || a.FactsRevision != before["a"].FactsRevision+1 || a.Revision != before["a"].Revision {
		t.Fatalf("a's state after its OS update: stored %d times, %+v; want it recomputed for 18.1", s.stored["a"], a)
	}
	if err := a.Check(); err != nil {
		t.Fatal(err)
	}
	// A catalog change still makes both stale.
	if err := svc.PutDeclaration(ctx, decl("unassigned", "com.apple.configuration.passcode.settings", `{"MinimumLength":8}`)); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[mdm.EnrollmentID]int{"a": 2, "b": 1} {
		st, err := svc.Sync(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if s.stored[id] != want || st.Revision != before[id].Revision+1 {
			t.Fatalf("%s after a catalog change: stored %d times, %+v", id, s.stored[id], st)
		}
	}
}

// testFactsAndSync races a device's OS updates written through a with
// assignments and syncs through two Services, one per handle: every state
// served matches its items, and afterwards the enrollment is served for
// the release it reported last and every declaration assigned.
func testFactsAndSync(t *testing.T, a, b ddm.Store) {
	m := &fakeMDM{queued: map[mdm.EnrollmentID]int{}}
	sa, sb := services(t, m, a, b)
	const n, updates = 4, 20
	for i := range n {
		if err := sa.PutDeclaration(ctx, decl(fmt.Sprintf("pass%d", i), "com.apple.configuration.passcode.settings", fmt.Sprintf(`{"MinimumLength":%d}`, 4+i))); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	wg.Add(4)
	go func() { // the device updates its OS, one release after another
		defer wg.Done()
		for i := range updates {
			if err := a.PutFacts(ctx, map[mdm.EnrollmentID]ddm.Facts{"e1": {Platform: "iOS", OSVersion: fmt.Sprintf("18.%d", i)}}); err != nil {
				errs <- err
				return
			}
		}
	}()
	go func() { // a host assigns declarations through b
		defer wg.Done()
		for i := range n {
			if err := addToAssignment(sb, b, "e1", fmt.Sprintf("pass%d", i)); err != nil {
				errs <- err
				return
			}
		}
	}()
	for _, s := range []*ddm.Service{sa, sb} {
		go func() { // a reader syncs and checks every state it sees
			defer wg.Done()
			if err := syncChecked(s, []mdm.EnrollmentID{"e1"}, 30); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, s := range []*ddm.Service{sa, sb} {
		st, err := s.Sync(ctx, "e1")
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Check(); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("18.%d", updates-1); st.Device.OSVersion != want || st.FactsRevision != updates {
			t.Fatalf("after the race e1 is served for %s at facts revision %d; want %s at %d", st.Device.OSVersion, st.FactsRevision, want, updates)
		}
		for i := range n {
			want := fmt.Sprintf("pass%d", i)
			if !slices.ContainsFunc(st.Items, func(it ddm.Item) bool { return it.Identifier == want }) {
				t.Fatalf("e1 is not served %s after the race: %+v", want, st.Items)
			}
		}
	}
}
