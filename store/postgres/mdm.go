package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/store/internal/rows"
)

var _ mdm.Store = (*MDMStore)(nil)

// MDMStore is the mdm.Store of a DB. Get it with DB.MDM.
type MDMStore struct{ db *DB }

// MDM returns the database's mdm.Store.
func (db *DB) MDM() *MDMStore { return &MDMStore{db: db} }

// dollar renders a statement's n-th argument as "$n".
func dollar(n int) string { return "$" + strconv.Itoa(n) }

var (
	mdmUpsert = rows.MDMUpsert(dollar)
	// resultUpdates store a result, by the queue state it moves the
	// command to (rows.ResultState).
	resultUpdates = [...]string{
		rows.QueuePending: rows.ResultUpdate(rows.QueuePending, dollar),
		rows.QueueNotNow:  rows.ResultUpdate(rows.QueueNotNow, dollar),
		rows.QueueDone:    rows.ResultUpdate(rows.QueueDone, dollar),
	}
)

// PutEnrollment implements mdm.Store. The unique index on certificates
// makes the binding check and the write one atomic statement: of two
// replicas binding one certificate to different enrollments, one gets
// ErrCertificateInUse.
func (s *MDMStore) PutEnrollment(ctx context.Context, rec *mdm.EnrollmentRecord) error {
	const op = "postgres: put enrollment"
	if rec == nil || rec.ID == "" {
		return fmt.Errorf("%s: empty enrollment ID", op)
	}
	p, err := s.db.q(op)
	if err != nil {
		return err
	}
	_, err = p.Exec(ctx, mdmUpsert, rows.MDMValues(rec)...)
	if isUniqueViolation(err) {
		return fmt.Errorf("%s %s: %w", op, rec.ID, mdm.ErrCertificateInUse)
	}
	return s.db.wrap(op, err)
}

// Enrollment implements mdm.Store.
func (s *MDMStore) Enrollment(ctx context.Context, id mdm.EnrollmentID) (*mdm.EnrollmentRecord, error) {
	const op = "postgres: enrollment"
	p, err := s.db.q(op)
	if err != nil {
		return nil, err
	}
	rec, err := rows.ScanMDM(p.QueryRow(ctx, "SELECT "+rows.MDMSelect+" FROM mdm_enrollments WHERE id = $1", string(id)).Scan)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%s %s: %w", op, id, mdm.ErrNotFound)
	}
	if err != nil {
		return nil, s.db.wrap(op, err)
	}
	return rec, nil
}

// Enrollments implements mdm.Store: one statement for all of ids.
func (s *MDMStore) Enrollments(ctx context.Context, ids []mdm.EnrollmentID) (map[mdm.EnrollmentID]*mdm.EnrollmentRecord, error) {
	const op = "postgres: enrollments"
	p, err := s.db.q(op)
	if err != nil {
		return nil, err
	}
	out := make(map[mdm.EnrollmentID]*mdm.EnrollmentRecord, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = string(id)
	}
	rs, err := p.Query(ctx, "SELECT "+rows.MDMSelect+" FROM mdm_enrollments WHERE id = ANY($1)", keys)
	if err != nil {
		return nil, s.db.wrap(op, err)
	}
	defer rs.Close()
	for rs.Next() {
		rec, err := rows.ScanMDM(rs.Scan)
		if err != nil {
			return nil, s.db.wrap(op, err)
		}
		out[rec.ID] = rec
	}
	if err := rs.Err(); err != nil {
		return nil, s.db.wrap(op, err)
	}
	return out, nil
}

// EnrollmentByCertificate implements mdm.Store.
func (s *MDMStore) EnrollmentByCertificate(ctx context.Context, fp mdm.Fingerprint) (mdm.EnrollmentID, error) {
	const op = "postgres: enrollment by certificate"
	p, err := s.db.q(op)
	if err != nil {
		return "", err
	}
	var id string
	err = p.QueryRow(ctx, `SELECT id FROM mdm_enrollments WHERE certificate = $1`, fp[:]).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("%s %s: %w", op, fp, mdm.ErrNotFound)
	}
	if err != nil {
		return "", s.db.wrap(op, err)
	}
	return mdm.EnrollmentID(id), nil
}

// MarkTokenDead implements mdm.Store.
func (s *MDMStore) MarkTokenDead(ctx context.Context, id mdm.EnrollmentID, token []byte) error {
	const op = "postgres: mark token dead"
	if len(token) == 0 {
		return nil
	}
	p, err := s.db.q(op)
	if err != nil {
		return err
	}
	_, err = p.Exec(ctx, `UPDATE mdm_enrollments SET token_dead = true WHERE id = $1 AND token = $2`, string(id), token)
	return s.db.wrap(op, err)
}

// Enqueue implements mdm.Store. One INSERT queues the command for every
// enrollment; if any row already existed (or an ID is listed twice) the
// transaction is rolled back and nothing is queued.
func (s *MDMStore) Enqueue(ctx context.Context, cmd *mdm.Command, ids []mdm.EnrollmentID) error {
	const op = "postgres: enqueue"
	if cmd == nil || cmd.UUID == "" {
		return fmt.Errorf("%s: empty command UUID", op)
	}
	if len(ids) == 0 {
		return nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = string(id)
	}
	return s.db.tx(ctx, op, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO mdm_queue (enrollment, uuid, request_type, raw, expires_us, enqueued_us)
			SELECT e, $2, $3, $4, $5, $6 FROM unnest($1::text[]) WITH ORDINALITY AS t (e, n) ORDER BY n
			ON CONFLICT (enrollment, uuid) DO NOTHING`, keys, cmd.UUID, cmd.RequestType, cmd.Raw, rows.Micro(cmd.ExpiresAt), rows.Micro(cmd.EnqueuedAt))
		if err != nil {
			return s.db.wrap(op, err)
		}
		if tag.RowsAffected() != int64(len(keys)) {
			return fmt.Errorf("%s %s: already queued for %d of %d enrollments: %w",
				op, cmd.UUID, int64(len(keys))-tag.RowsAffected(), len(keys), mdm.ErrCommandExists)
		}
		return nil
	})
}

// nextCommand leases the head of one enrollment's queue. head finds the
// oldest deliverable row (pending, not expired) in the statement's
// snapshot; locked takes its row lock, skipping it if another transaction
// holds it (that request is leasing or completing it, so this one must not
// deliver it, nor anything behind it), and re-checks state and lease on the
// latest row version. The lease's end makes the command due for a re-push,
// unless a re-push made it due later.
const nextCommand = `
WITH head AS (
	SELECT seq FROM mdm_queue WHERE enrollment = $1 AND state = 0 AND (expires_us IS NULL OR expires_us > $2)
	ORDER BY seq LIMIT 1
), locked AS (
	SELECT q.seq FROM mdm_queue q
	WHERE q.seq = (SELECT seq FROM head) AND q.state = 0 AND (q.lease_us IS NULL OR q.lease_us <= $2)
	FOR UPDATE SKIP LOCKED
)
UPDATE mdm_queue q SET lease_us = $3, repush_us = greatest(coalesce(q.repush_us, 0), $3) FROM locked WHERE q.seq = locked.seq
RETURNING q.uuid, q.request_type, q.raw, q.expires_us`

// NextCommand implements mdm.Store. Replicas asking for the same
// enrollment's command at once never both get it: the row lock decides, and
// the loser sees the lease (or the skipped lock) and gets ErrQueueEmpty.
func (s *MDMStore) NextCommand(ctx context.Context, id mdm.EnrollmentID, now time.Time, lease time.Duration) (*mdm.Command, error) {
	const op = "postgres: next command"
	p, err := s.db.q(op)
	if err != nil {
		return nil, err
	}
	var (
		c       mdm.Command
		expires sql.NullInt64
	)
	err = p.QueryRow(ctx, nextCommand, string(id), now.UnixMicro(), now.Add(lease).UnixMicro()).Scan(&c.UUID, &c.RequestType, &c.Raw, &expires)
	c.ExpiresAt = rows.Time(expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%s for %s: %w", op, id, mdm.ErrQueueEmpty)
	}
	if err != nil {
		return nil, s.db.wrap(op, err)
	}
	return &c, nil
}

// PutResult implements mdm.Store.
func (s *MDMStore) PutResult(ctx context.Context, id mdm.EnrollmentID, res *mdm.CommandResult) error {
	const op = "postgres: put result"
	if res == nil || res.CommandUUID == "" {
		return fmt.Errorf("%s: empty CommandUUID", op)
	}
	args, err := rows.ResultArgs(id, res)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	p, err := s.db.q(op)
	if err != nil {
		return err
	}
	q := resultUpdates[rows.ResultState(res.Status)]
	tag, err := p.Exec(ctx, q, args...)
	if err != nil {
		return s.db.wrap(op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s %s for %s: %w", op, res.CommandUUID, id, mdm.ErrNotFound)
	}
	return nil
}

// ResetNotNow implements mdm.Store.
func (s *MDMStore) ResetNotNow(ctx context.Context, ids []mdm.EnrollmentID) error {
	const op = "postgres: reset NotNow"
	if len(ids) == 0 {
		return nil
	}
	p, err := s.db.q(op)
	if err != nil {
		return err
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = string(id)
	}
	_, err = p.Exec(ctx, `UPDATE mdm_queue SET state = 0 WHERE enrollment = ANY($1) AND state = 1`, keys)
	return s.db.wrap(op, err)
}

// Result implements mdm.Store.
func (s *MDMStore) Result(ctx context.Context, id mdm.EnrollmentID, uuid string) (*mdm.CommandResult, error) {
	const op = "postgres: result"
	p, err := s.db.q(op)
	if err != nil {
		return nil, err
	}
	var (
		status    string
		raw, meta []byte
		received  sql.NullInt64
	)
	err = p.QueryRow(ctx, `SELECT result_status, result_raw, result_meta, result_us FROM mdm_queue
		WHERE enrollment = $1 AND uuid = $2 AND result_status IS NOT NULL`, string(id), uuid).Scan(&status, &raw, &meta, &received)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%s %s for %s: %w", op, uuid, id, mdm.ErrNotFound)
	}
	if err != nil {
		return nil, s.db.wrap(op, err)
	}
	res, err := rows.Result(uuid, status, raw, meta, received)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return res, nil
}

// QueueStats implements mdm.Store.
func (s *MDMStore) QueueStats(ctx context.Context) (mdm.QueueStats, error) {
	const op = "postgres: queue stats"
	p, err := s.db.q(op)
	if err != nil {
		return mdm.QueueStats{}, err
	}
	var (
		n      int
		oldest sql.NullInt64
	)
	if err := p.QueryRow(ctx, `SELECT COUNT(*), MIN(enqueued_us) FROM mdm_queue WHERE state <> 2`).Scan(&n, &oldest); err != nil {
		return mdm.QueueStats{}, s.db.wrap(op, err)
	}
	out := mdm.QueueStats{Pending: n}
	if oldest.Valid {
		out.OldestEnqueuedAt = rows.Time(oldest)
	}
	return out, nil
}
