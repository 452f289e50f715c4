package memory

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/enrollkit/enrollkit/ddm"
	"github.com/enrollkit/enrollkit/mdm"
)

var _ ddm.Store = (*DDMStore)(nil)

// DDMStore keeps declarative management state in memory. It implements
// ddm.Store; the zero value is not usable, call NewDDMStore. It is safe for
// concurrent use.
type DDMStore struct {
	mu          sync.Mutex
	revision    int64
	decls       map[string]*ddm.Declaration
	sets        map[string][]string
	assignments map[mdm.EnrollmentID]*ddm.Assignment
	facts       map[mdm.EnrollmentID]ddm.Facts
	factsRev    map[mdm.EnrollmentID]int64
	sync        map[mdm.EnrollmentID]*ddm.SyncState
	status      map[mdm.EnrollmentID]*ddm.Status
}

// NewDDMStore returns an empty DDMStore.
func NewDDMStore() *DDMStore {
	return &DDMStore{
		decls: map[string]*ddm.Declaration{}, sets: map[string][]string{},
		assignments: map[mdm.EnrollmentID]*ddm.Assignment{}, facts: map[mdm.EnrollmentID]ddm.Facts{}, factsRev: map[mdm.EnrollmentID]int64{},
		sync: map[mdm.EnrollmentID]*ddm.SyncState{}, status: map[mdm.EnrollmentID]*ddm.Status{},
	}
}

// Revision implements ddm.Store.
func (s *DDMStore) Revision(ctx context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.revision, nil
}

// Catalog implements ddm.Store.
func (s *DDMStore) Catalog(ctx context.Context) (*ddm.Catalog, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.catalog(), nil
}

func (s *DDMStore) catalog() *ddm.Catalog {
	c := &ddm.Catalog{Revision: s.revision, Declarations: make(map[string]*ddm.Declaration, len(s.decls)), Sets: make(map[string][]string, len(s.sets))}
	for k, d := range s.decls {
		c.Declarations[k] = d.Clone()
	}
	for k, m := range s.sets {
		c.Sets[k] = slices.Clone(m)
	}
	return c
}

// Snapshot implements ddm.Store.
func (s *DDMStore) Snapshot(ctx context.Context, id mdm.EnrollmentID) (*ddm.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := &ddm.Snapshot{Catalog: *s.catalog()}
	if a, ok := s.assignments[id]; ok {
		snap.Assignment = cloneAssignment(a)
	}
	if f, ok := s.facts[id]; ok {
		snap.Facts = &f
		snap.FactsRevision = s.factsRev[id]
	}
	return snap, nil
}

// Snapshots implements ddm.Store.
func (s *DDMStore) Snapshots(ctx context.Context, ids []mdm.EnrollmentID) (*ddm.Snapshots, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := &ddm.Snapshots{Catalog: *s.catalog(), Assignments: map[mdm.EnrollmentID]*ddm.Assignment{},
		Facts: map[mdm.EnrollmentID]ddm.Facts{}, FactsRevisions: map[mdm.EnrollmentID]int64{}, States: map[mdm.EnrollmentID]*ddm.SyncState{}}
	for _, id := range ids {
		if a, ok := s.assignments[id]; ok {
			snap.Assignments[id] = cloneAssignment(a)
		}
		if f, ok := s.facts[id]; ok {
			snap.Facts[id] = f
			snap.FactsRevisions[id] = s.factsRev[id]
		}
		if st, ok := s.sync[id]; ok {
			snap.States[id] = cloneSync(st)
		}
	}
	return snap, nil
}

func cloneAssignment(a *ddm.Assignment) *ddm.Assignment {
	return &ddm.Assignment{Enrollment: a.Enrollment, Sets: slices.Clone(a.Sets), Declarations: slices.Clone(a.Declarations)}
}

// Declaration implements ddm.Store.
func (s *DDMStore) Declaration(ctx context.Context, identifier string) (*ddm.Declaration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.decls[identifier]
	if !ok {
		return nil, fmt.Errorf("memory: declaration %q: %w", identifier, ddm.ErrNotFound)
	}
	return d.Clone(), nil
}

// Assignments implements ddm.Store.
func (s *DDMStore) Assignments(ctx context.Context) ([]*ddm.Assignment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*ddm.Assignment, 0, len(s.assignments))
	for _, id := range slices.Sorted(maps.Keys(s.assignments)) {
		out = append(out, cloneAssignment(s.assignments[id]))
	}
	return out, nil
}

// Apply implements ddm.Store.
func (s *DDMStore) Apply(ctx context.Context, revision int64, ch *ddm.Change) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if revision != s.revision {
		return 0, fmt.Errorf("memory: apply at revision %d (now %d): %w", revision, s.revision, ddm.ErrConflict)
	}
	for _, id := range ch.DeleteDeclarations {
		delete(s.decls, id)
	}
	for _, name := range ch.DeleteSets {
		delete(s.sets, name)
	}
	for _, d := range ch.PutDeclarations {
		s.decls[d.Identifier] = d.Clone()
	}
	for name, m := range ch.PutSets {
		s.sets[name] = slices.Clone(m)
	}
	for _, a := range ch.PutAssignments {
		if len(a.Sets) == 0 && len(a.Declarations) == 0 {
			delete(s.assignments, a.Enrollment)
			continue
		}
		s.assignments[a.Enrollment] = cloneAssignment(a)
	}
	s.revision++
	return s.revision, nil
}

// Revisions implements ddm.Store.
func (s *DDMStore) Revisions(ctx context.Context, id mdm.EnrollmentID) (catalog, facts int64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.revision, s.factsRev[id], nil
}

// PutFacts implements ddm.Store.
func (s *DDMStore) PutFacts(ctx context.Context, facts map[mdm.EnrollmentID]ddm.Facts) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, f := range facts {
		if old, ok := s.facts[id]; ok && old == f {
			continue
		}
		s.facts[id] = f
		s.factsRev[id]++
	}
	return nil
}

// SyncState implements ddm.Store.
func (s *DDMStore) SyncState(ctx context.Context, id mdm.EnrollmentID) (*ddm.SyncState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.sync[id]
	if !ok {
		return nil, fmt.Errorf("memory: sync state of %s: %w", id, ddm.ErrNotFound)
	}
	return cloneSync(st), nil
}

func cloneSync(st *ddm.SyncState) *ddm.SyncState {
	c := *st
	c.Items = slices.Clone(st.Items)
	c.Withheld = slices.Clone(st.Withheld)
	return &c
}

// PutSyncState implements ddm.Store.
func (s *DDMStore) PutSyncState(ctx context.Context, st *ddm.SyncState) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.putSync(st), nil
}

// PutSyncStates implements ddm.Store.
func (s *DDMStore) PutSyncStates(ctx context.Context, sts []*ddm.SyncState) ([]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	stored := make([]bool, len(sts))
	for i, st := range sts {
		stored[i] = s.putSync(st)
	}
	return stored, nil
}

func (s *DDMStore) putSync(st *ddm.SyncState) bool {
	if old, ok := s.sync[st.Enrollment]; ok && (old.Revision > st.Revision || old.Revision == st.Revision && old.FactsRevision >= st.FactsRevision) {
		return false
	}
	s.sync[st.Enrollment] = cloneSync(st)
	return true
}

// Status implements ddm.Store.
func (s *DDMStore) Status(ctx context.Context, id mdm.EnrollmentID) (*ddm.Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.status[id]
	if !ok {
		return nil, fmt.Errorf("memory: status of %s: %w", id, ddm.ErrNotFound)
	}
	return cloneStatus(st), nil
}

func cloneStatus(st *ddm.Status) *ddm.Status {
	c := *st
	c.Items = maps.Clone(st.Items)
	c.Declarations = maps.Clone(st.Declarations)
	c.Errors = slices.Clone(st.Errors)
	return &c
}

// PutStatus implements ddm.Store.
func (s *DDMStore) PutStatus(ctx context.Context, st *ddm.Status) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status[st.Enrollment] = cloneStatus(st)
	return nil
}
