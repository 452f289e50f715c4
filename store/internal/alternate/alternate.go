// Package alternate spreads the calls of one logical store over several
// stores that share one database, one call to each in turn. Running the
// conformance suites through it checks that the guarantees hold between
// processes (separate connections and caches), not only within one.
package alternate

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
)

// EnrollStore calls its stores in turn.
type EnrollStore struct {
	Stores []enroll.Store
	n      atomic.Uint64
}

var _ enroll.Store = (*EnrollStore)(nil)

func (a *EnrollStore) next() enroll.Store { return a.Stores[(a.n.Add(1)-1)%uint64(len(a.Stores))] }

// Create implements enroll.Store.
func (a *EnrollStore) Create(ctx context.Context, e *enroll.Enrollment, events ...enroll.AuditEvent) error {
	return a.next().Create(ctx, e, events...)
}

// Get implements enroll.Store.
func (a *EnrollStore) Get(ctx context.Context, id string) (*enroll.Enrollment, error) {
	return a.next().Get(ctx, id)
}

// Find implements enroll.Store.
func (a *EnrollStore) Find(ctx context.Context, index enroll.Index, key string) (*enroll.Enrollment, error) {
	return a.next().Find(ctx, index, key)
}

// Update implements enroll.Store.
func (a *EnrollStore) Update(ctx context.Context, e *enroll.Enrollment, expectedVersion int64, events ...enroll.AuditEvent) error {
	return a.next().Update(ctx, e, expectedVersion, events...)
}

// List implements enroll.Store.
func (a *EnrollStore) List(ctx context.Context, o enroll.ListOptions) ([]*enroll.Enrollment, error) {
	return a.next().List(ctx, o)
}

// Audit implements enroll.Store.
func (a *EnrollStore) Audit(ctx context.Context, id string) ([]enroll.AuditEvent, error) {
	return a.next().Audit(ctx, id)
}

// Prune implements enroll.Store.
func (a *EnrollStore) Prune(ctx context.Context, before time.Time, limit int) (int, error) {
	return a.next().Prune(ctx, before, limit)
}

// MDMStore calls its stores in turn.
type MDMStore struct {
	Stores []mdm.Store
	n      atomic.Uint64
}

var _ mdm.Store = (*MDMStore)(nil)

func (a *MDMStore) next() mdm.Store { return a.Stores[(a.n.Add(1)-1)%uint64(len(a.Stores))] }

// PutEnrollment implements mdm.Store.
func (a *MDMStore) PutEnrollment(ctx context.Context, rec *mdm.EnrollmentRecord) error {
	return a.next().PutEnrollment(ctx, rec)
}

// Enrollment implements mdm.Store.
func (a *MDMStore) Enrollment(ctx context.Context, id mdm.EnrollmentID) (*mdm.EnrollmentRecord, error) {
	return a.next().Enrollment(ctx, id)
}

// Enrollments implements mdm.Store.
func (a *MDMStore) Enrollments(ctx context.Context, ids []mdm.EnrollmentID) (map[mdm.EnrollmentID]*mdm.EnrollmentRecord, error) {
	return a.next().Enrollments(ctx, ids)
}

// EnrollmentByCertificate implements mdm.Store.
func (a *MDMStore) EnrollmentByCertificate(ctx context.Context, fp mdm.Fingerprint) (mdm.EnrollmentID, error) {
	return a.next().EnrollmentByCertificate(ctx, fp)
}

// MarkTokenDead implements mdm.Store.
func (a *MDMStore) MarkTokenDead(ctx context.Context, id mdm.EnrollmentID, token []byte) error {
	return a.next().MarkTokenDead(ctx, id, token)
}

// Enqueue implements mdm.Store.
func (a *MDMStore) Enqueue(ctx context.Context, cmd *mdm.Command, ids []mdm.EnrollmentID) error {
	return a.next().Enqueue(ctx, cmd, ids)
}

// NextCommand implements mdm.Store.
func (a *MDMStore) NextCommand(ctx context.Context, id mdm.EnrollmentID, now time.Time, lease time.Duration) (*mdm.Command, error) {
	return a.next().NextCommand(ctx, id, now, lease)
}

// PutResult implements mdm.Store.
func (a *MDMStore) PutResult(ctx context.Context, id mdm.EnrollmentID, res *mdm.CommandResult) error {
	return a.next().PutResult(ctx, id, res)
}

// ResetNotNow implements mdm.Store.
func (a *MDMStore) ResetNotNow(ctx context.Context, ids []mdm.EnrollmentID) error {
	return a.next().ResetNotNow(ctx, ids)
}

// Result implements mdm.Store.
func (a *MDMStore) Result(ctx context.Context, id mdm.EnrollmentID, uuid string) (*mdm.CommandResult, error) {
	return a.next().Result(ctx, id, uuid)
}

// ExpireCommands implements mdm.Store.
func (a *MDMStore) ExpireCommands(ctx context.Context, now time.Time, limit int) (int, error) {
	return a.next().ExpireCommands(ctx, now, limit)
}

// ClaimLapsedLeases implements mdm.Store.
func (a *MDMStore) ClaimLapsedLeases(ctx context.Context, now time.Time, limit int, wait func(int) time.Duration) ([]mdm.EnrollmentID, error) {
	return a.next().ClaimLapsedLeases(ctx, now, limit, wait)
}

// Prune implements mdm.Store.
func (a *MDMStore) Prune(ctx context.Context, before mdm.Cutoffs, limit int) (int, error) {
	return a.next().Prune(ctx, before, limit)
}

// QueueStats implements mdm.Store.
func (a *MDMStore) QueueStats(ctx context.Context) (mdm.QueueStats, error) {
	return a.next().QueueStats(ctx)
}
