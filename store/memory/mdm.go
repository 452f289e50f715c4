package memory

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/enrollkit/enrollkit/mdm"
)

var _ mdm.Store = (*MDMStore)(nil)

// MDMStore keeps MDM enrollments, certificate bindings, command queues and
// results in memory. It implements mdm.Store; the zero value is not usable,
// call NewMDMStore. It is safe for concurrent use.
type MDMStore struct {
	mu          sync.Mutex
	enrollments map[mdm.EnrollmentID]*mdm.EnrollmentRecord
	certs       map[mdm.Fingerprint]mdm.EnrollmentID
	queues      map[mdm.EnrollmentID]*mdmQueue
	results     map[resultKey]*mdm.CommandResult
}

type resultKey struct {
	id   mdm.EnrollmentID
	uuid string
}

// mdmQueue is one enrollment's pending commands, in order, and every UUID
// ever queued for it.
type mdmQueue struct {
	pending []*queuedCommand
	seen    map[string]struct{}
}

type queuedCommand struct {
	cmd        *mdm.Command // private copy, never handed out
	notNow     bool
	leaseUntil time.Time
	// repushes counts the re-pushes ClaimLapsedLeases recorded; the next
	// is due at repushAt.
	repushes int
	repushAt time.Time
}

// expired reports whether qc must not be delivered at now.
func (qc *queuedCommand) expired(now time.Time) bool {
	return !qc.cmd.ExpiresAt.IsZero() && !qc.cmd.ExpiresAt.After(now)
}

// NewMDMStore returns an empty MDMStore.
func NewMDMStore() *MDMStore {
	return &MDMStore{
		enrollments: make(map[mdm.EnrollmentID]*mdm.EnrollmentRecord),
		certs:       make(map[mdm.Fingerprint]mdm.EnrollmentID),
		queues:      make(map[mdm.EnrollmentID]*mdmQueue),
		results:     make(map[resultKey]*mdm.CommandResult),
	}
}

// PutEnrollment implements mdm.Store.
func (s *MDMStore) PutEnrollment(ctx context.Context, rec *mdm.EnrollmentRecord) error {
	if rec == nil || rec.ID == "" {
		return fmt.Errorf("memory: put enrollment: empty enrollment ID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !rec.Certificate.IsZero() {
		if owner, ok := s.certs[rec.Certificate]; ok && owner != rec.ID {
			return fmt.Errorf("memory: put enrollment %s: %w", rec.ID, mdm.ErrCertificateInUse)
		}
	}
	if old, ok := s.enrollments[rec.ID]; ok && !old.Certificate.IsZero() && old.Certificate != rec.Certificate {
		delete(s.certs, old.Certificate)
	}
	if !rec.Certificate.IsZero() {
		s.certs[rec.Certificate] = rec.ID
	}
	s.enrollments[rec.ID] = rec.Clone()
	return nil
}

// Enrollment implements mdm.Store.
func (s *MDMStore) Enrollment(ctx context.Context, id mdm.EnrollmentID) (*mdm.EnrollmentRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.enrollments[id]
	if !ok {
		return nil, fmt.Errorf("memory: enrollment %s: %w", id, mdm.ErrNotFound)
	}
	return rec.Clone(), nil
}

// Enrollments implements mdm.Store.
func (s *MDMStore) Enrollments(ctx context.Context, ids []mdm.EnrollmentID) (map[mdm.EnrollmentID]*mdm.EnrollmentRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[mdm.EnrollmentID]*mdm.EnrollmentRecord, len(ids))
	for _, id := range ids {
		if rec, ok := s.enrollments[id]; ok {
			out[id] = rec.Clone()
		}
	}
	return out, nil
}

// EnrollmentByCertificate implements mdm.Store.
func (s *MDMStore) EnrollmentByCertificate(ctx context.Context, fp mdm.Fingerprint) (mdm.EnrollmentID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.certs[fp]
	if !ok {
		return "", fmt.Errorf("memory: certificate %s: %w", fp, mdm.ErrNotFound)
	}
	return id, nil
}

// MarkTokenDead implements mdm.Store.
func (s *MDMStore) MarkTokenDead(ctx context.Context, id mdm.EnrollmentID, token []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec, ok := s.enrollments[id]; ok && len(token) > 0 && bytes.Equal(rec.Token, token) {
		rec.TokenDead = true
	}
	return nil
}

// Enqueue implements mdm.Store.
func (s *MDMStore) Enqueue(ctx context.Context, cmd *mdm.Command, ids []mdm.EnrollmentID) error {
	if cmd == nil || cmd.UUID == "" {
		return fmt.Errorf("memory: enqueue: empty command UUID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, id := range ids {
		if q := s.queues[id]; q != nil {
			if _, dup := q.seen[cmd.UUID]; dup {
				return fmt.Errorf("memory: enqueue %s to %s: %w", cmd.UUID, id, mdm.ErrCommandExists)
			}
		}
		if slices.Contains(ids[:i], id) {
			return fmt.Errorf("memory: enqueue %s: %s listed twice: %w", cmd.UUID, id, mdm.ErrCommandExists)
		}
	}
	c := cloneCommand(cmd)
	for _, id := range ids {
		q := s.queues[id]
		if q == nil {
			q = &mdmQueue{seen: make(map[string]struct{})}
			s.queues[id] = q
		}
		q.seen[c.UUID] = struct{}{}
		q.pending = append(q.pending, &queuedCommand{cmd: c})
	}
	return nil
}

// NextCommand implements mdm.Store.
func (s *MDMStore) NextCommand(ctx context.Context, id mdm.EnrollmentID, now time.Time, lease time.Duration) (*mdm.Command, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.queues[id]; q != nil {
		for _, qc := range q.pending {
			if qc.notNow || qc.expired(now) {
				continue
			}
			if now.Before(qc.leaseUntil) {
				break // the oldest deliverable command is out with another request
			}
			qc.leaseUntil = now.Add(lease)
			return cloneCommand(qc.cmd), nil
		}
	}
	return nil, mdm.ErrQueueEmpty
}

// PutResult implements mdm.Store.
func (s *MDMStore) PutResult(ctx context.Context, id mdm.EnrollmentID, res *mdm.CommandResult) error {
	if res == nil || res.CommandUUID == "" {
		return fmt.Errorf("memory: put result: empty CommandUUID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[id]
	i := -1
	if q != nil {
		i = slices.IndexFunc(q.pending, func(qc *queuedCommand) bool { return qc.cmd.UUID == res.CommandUUID })
	}
	if i < 0 {
		return fmt.Errorf("memory: result %s for %s: %w", res.CommandUUID, id, mdm.ErrNotFound)
	}
	if res.Status.Final() {
		q.pending = slices.Delete(q.pending, i, i+1)
	} else {
		q.pending[i].notNow = res.Status == mdm.StatusNotNow
		q.pending[i].leaseUntil = time.Time{}
	}
	s.results[resultKey{id, res.CommandUUID}] = cloneResult(res)
	return nil
}

// ResetNotNow implements mdm.Store.
func (s *MDMStore) ResetNotNow(ctx context.Context, ids []mdm.EnrollmentID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if q := s.queues[id]; q != nil {
			for _, qc := range q.pending {
				qc.notNow = false
			}
		}
	}
	return nil
}

// Result implements mdm.Store.
func (s *MDMStore) Result(ctx context.Context, id mdm.EnrollmentID, uuid string) (*mdm.CommandResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.results[resultKey{id, uuid}]
	if !ok {
		return nil, fmt.Errorf("memory: result %s for %s: %w", uuid, id, mdm.ErrNotFound)
	}
	return cloneResult(r), nil
}

// ExpireCommands implements mdm.Store.
func (s *MDMStore) ExpireCommands(ctx context.Context, now time.Time, limit int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, q := range s.queues {
		q.pending = slices.DeleteFunc(q.pending, func(qc *queuedCommand) bool {
			if n >= limit || !qc.expired(now) {
				return false
			}
			n++
			s.results[resultKey{id, qc.cmd.UUID}] = &mdm.CommandResult{CommandUUID: qc.cmd.UUID, Status: mdm.StatusExpired, ReceivedAt: now}
			return true
		})
	}
	return n, nil
}

// ClaimLapsedLeases implements mdm.Store.
func (s *MDMStore) ClaimLapsedLeases(ctx context.Context, now time.Time, limit int, wait func(int) time.Duration) ([]mdm.EnrollmentID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []mdm.EnrollmentID
	for id, q := range s.queues {
		for _, qc := range q.pending {
			if len(out) >= limit {
				return out, nil
			}
			if qc.notNow || qc.leaseUntil.IsZero() || now.Before(qc.leaseUntil) || qc.expired(now) || now.Before(qc.repushAt) {
				continue
			}
			qc.repushes++
			qc.repushAt = now.Add(wait(qc.repushes))
			out = append(out, id)
		}
	}
	return out, nil
}

// Prune implements mdm.Store.
func (s *MDMStore) Prune(ctx context.Context, before mdm.Cutoffs, limit int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	if !before.Results.IsZero() {
		for k, r := range s.results {
			if n >= limit {
				break
			}
			if !r.Status.Final() || !r.ReceivedAt.Before(before.Results) {
				continue
			}
			delete(s.results, k)
			if q := s.queues[k.id]; q != nil {
				delete(q.seen, k.uuid)
			}
			n++
		}
	}
	if !before.CheckedOut.IsZero() {
		for id, rec := range s.enrollments {
			if n >= limit {
				break
			}
			if !rec.CheckedOut || !rec.UpdatedAt.Before(before.CheckedOut) {
				continue
			}
			delete(s.enrollments, id)
			if !rec.Certificate.IsZero() {
				delete(s.certs, rec.Certificate)
			}
			delete(s.queues, id)
			for k := range s.results {
				if k.id == id {
					delete(s.results, k)
				}
			}
			n++
		}
	}
	return n, nil
}

func cloneCommand(c *mdm.Command) *mdm.Command {
	return &mdm.Command{UUID: c.UUID, RequestType: c.RequestType, Raw: bytes.Clone(c.Raw), ExpiresAt: c.ExpiresAt, EnqueuedAt: c.EnqueuedAt}
}

func cloneResult(r *mdm.CommandResult) *mdm.CommandResult {
	c := *r
	c.ErrorChain = slices.Clone(r.ErrorChain)
	c.Raw = bytes.Clone(r.Raw)
	return &c
}

// QueueStats implements mdm.Store.
func (s *MDMStore) QueueStats(ctx context.Context) (mdm.QueueStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var st mdm.QueueStats
	for _, q := range s.queues {
		for _, qc := range q.pending {
			st.Pending++
			if t := qc.cmd.EnqueuedAt; !t.IsZero() && (st.OldestEnqueuedAt.IsZero() || t.Before(st.OldestEnqueuedAt)) {
				st.OldestEnqueuedAt = t
			}
		}
	}
	return st, nil
}
