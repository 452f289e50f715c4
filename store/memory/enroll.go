package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/internal/failures"
)

var _ enroll.Store = (*EnrollStore)(nil)

// EnrollStore keeps enrollments and their audit trails in memory. It
// implements enroll.Store; the zero value is not usable, call NewEnrollStore.
// It is safe for concurrent use.
type EnrollStore struct {
	mu          sync.RWMutex
	enrollments map[string]*enroll.Enrollment
	audit       map[string][]enroll.AuditEvent
	// index maps an index and a key to the IDs of the enrollments that
	// have that key.
	index map[enroll.Index]map[string]map[string]struct{}
	// failures are the sign-in throttle's counts (throttle.go).
	failures failures.Counts
}

// NewEnrollStore returns an empty EnrollStore.
func NewEnrollStore() *EnrollStore {
	s := &EnrollStore{
		enrollments: make(map[string]*enroll.Enrollment),
		audit:       make(map[string][]enroll.AuditEvent),
		index:       make(map[enroll.Index]map[string]map[string]struct{}),
	}
	for _, i := range enroll.Indexes() {
		s.index[i] = make(map[string]map[string]struct{})
	}
	return s
}

// Create implements enroll.Store.
func (s *EnrollStore) Create(ctx context.Context, e *enroll.Enrollment, events ...enroll.AuditEvent) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if e == nil || e.ID == "" {
		return fmt.Errorf("memory: create: enrollment without ID: %w", enroll.ErrInvalidInput)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.enrollments[e.ID]; ok {
		return fmt.Errorf("memory: create %s: %w", e.ID, enroll.ErrExists)
	}
	if err := s.checkDevice(e); err != nil {
		return fmt.Errorf("memory: create %s: %w", e.ID, err)
	}
	e.Version = 1
	c := e.Clone()
	s.enrollments[c.ID] = c
	s.addIndex(c)
	s.audit[c.ID] = append(s.audit[c.ID], events...)
	return nil
}

// Get implements enroll.Store.
func (s *EnrollStore) Get(ctx context.Context, id string) (*enroll.Enrollment, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.enrollments[id]
	if !ok {
		return nil, fmt.Errorf("memory: get %s: %w", id, enroll.ErrNotFound)
	}
	return e.Clone(), nil
}

// Find implements enroll.Store.
func (s *EnrollStore) Find(ctx context.Context, index enroll.Index, key string) (*enroll.Enrollment, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, ok := s.index[index]
	if !ok {
		return nil, fmt.Errorf("memory: find: unknown index %q: %w", index, enroll.ErrInvalidInput)
	}
	var best *enroll.Enrollment
	for id := range m[key] {
		e := s.enrollments[id]
		if best == nil || newer(e, best) {
			best = e
		}
	}
	if key == "" || best == nil {
		return nil, fmt.Errorf("memory: find by %s: %w", index, enroll.ErrNotFound)
	}
	return best.Clone(), nil
}

// newer reports whether a was created after b (ties: greater ID).
func newer(a, b *enroll.Enrollment) bool {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c > 0
	}
	return a.ID > b.ID
}

// Update implements enroll.Store.
func (s *EnrollStore) Update(ctx context.Context, e *enroll.Enrollment, expectedVersion int64, events ...enroll.AuditEvent) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.enrollments[e.ID]
	if !ok {
		return fmt.Errorf("memory: update %s: %w", e.ID, enroll.ErrNotFound)
	}
	if old.Version != expectedVersion {
		return fmt.Errorf("memory: update %s: version %d, expected %d: %w", e.ID, old.Version, expectedVersion, enroll.ErrVersionConflict)
	}
	if err := s.checkDevice(e); err != nil {
		return fmt.Errorf("memory: update %s: %w", e.ID, err)
	}
	c := e.Clone()
	c.Version = expectedVersion + 1
	s.enrollments[c.ID] = c
	for _, i := range enroll.Indexes() {
		if ok, nk := old.Key(i), c.Key(i); ok != nk {
			s.unindex(i, ok, c.ID)
			s.index1(i, nk, c.ID)
		}
	}
	s.audit[c.ID] = append(s.audit[c.ID], events...)
	e.Version = c.Version
	return nil
}

// List implements enroll.Store.
func (s *EnrollStore) List(ctx context.Context, o enroll.ListOptions) ([]*enroll.Enrollment, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	var out []*enroll.Enrollment
	for _, e := range s.enrollments {
		if o.Match(e) {
			out = append(out, e.Clone())
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b *enroll.Enrollment) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if o.Limit > 0 && len(out) > o.Limit {
		out = out[:o.Limit]
	}
	return out, nil
}

// Audit implements enroll.Store.
func (s *EnrollStore) Audit(ctx context.Context, id string) ([]enroll.AuditEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, ok := s.enrollments[id]; !ok {
		return nil, fmt.Errorf("memory: audit %s: %w", id, enroll.ErrNotFound)
	}
	out := slices.Clone(s.audit[id])
	if out == nil {
		out = []enroll.AuditEvent{}
	}
	return out, nil
}

// checkDevice refuses to store e live with a device id that another live
// enrollment has (ErrDeviceInUse). The caller holds s.mu.
func (s *EnrollStore) checkDevice(e *enroll.Enrollment) error {
	if e.DeviceID == "" || e.State.Terminal() {
		return nil
	}
	for id := range s.index[enroll.IndexDevice][e.DeviceID] {
		if id != e.ID && !s.enrollments[id].State.Terminal() {
			return fmt.Errorf("device %q of enrollment %s: %w", e.DeviceID, id, enroll.ErrDeviceInUse)
		}
	}
	return nil
}

func (s *EnrollStore) addIndex(e *enroll.Enrollment) {
	for _, i := range enroll.Indexes() {
		s.index1(i, e.Key(i), e.ID)
	}
}

// index1 records that enrollment id has key k in index i.
func (s *EnrollStore) index1(i enroll.Index, k, id string) {
	if k == "" {
		return
	}
	ids := s.index[i][k]
	if ids == nil {
		ids = make(map[string]struct{}, 1)
		s.index[i][k] = ids
	}
	ids[id] = struct{}{}
}

// unindex removes enrollment id's key k from index i.
func (s *EnrollStore) unindex(i enroll.Index, k, id string) {
	if k == "" {
		return
	}
	delete(s.index[i][k], id)
	if len(s.index[i][k]) == 0 {
		delete(s.index[i], k)
	}
}

// Prune implements enroll.Store.
func (s *EnrollStore) Prune(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, e := range s.enrollments {
		if n >= limit {
			break
		}
		if !e.State.Terminal() || !e.UpdatedAt.Before(before) {
			continue
		}
		for _, i := range enroll.Indexes() {
			s.unindex(i, e.Key(i), id)
		}
		delete(s.enrollments, id)
		delete(s.audit, id)
		n++
	}
	return n, nil
}
