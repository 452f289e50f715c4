package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/store/internal/rows"
)

var _ mdm.Store = (*MDMStore)(nil)

// MDMStore is the mdm.Store of a DB. Get it with DB.MDM.
type MDMStore struct{ db *DB }

// MDM returns the database's mdm.Store.
func (db *DB) MDM() *MDMStore { return &MDMStore{db: db} }

// qmark renders every argument of a statement as "?".
func qmark(int) string { return "?" }

var mdmUpsert = writeQuery(rows.MDMUpsert(qmark))

// The other statements of the MDM store's write transactions.
var (
	// mdmUpdateSameCert rewrites a record whose certificate stays the same
	// without touching the certificate index.
	mdmUpdateSameCert = writeQuery(func() string {
		var set []string
		for _, c := range rows.MDMColumns[1:] {
			if c != "certificate" {
				set = append(set, c+" = ?")
			}
		}
		return "UPDATE mdm_enrollments SET " + strings.Join(set, ", ") + " WHERE id = ? AND certificate IS ?"
	}())
	mdmTokenDead = writeQuery(`UPDATE mdm_enrollments SET token_dead = 1 WHERE id = ? AND token = ?`)
	queueInsert  = writeQuery(`INSERT INTO mdm_queue (enrollment, uuid, request_type, raw, expires_us, enqueued_us)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (enrollment, uuid) DO NOTHING`)
	// queueHead is the oldest deliverable command: pending, not NotNow,
	// not expired.
	queueHead = writeQuery(`SELECT seq, lease_us, uuid, request_type, raw, expires_us FROM mdm_queue
		WHERE enrollment = ? AND state = 0 AND (expires_us IS NULL OR expires_us > ?) ORDER BY seq LIMIT 1`)
	// queueLease leases a command and makes it due for a re-push when the
	// lease ends, or later if a re-push made it so.
	queueLease = writeQuery(`UPDATE mdm_queue SET lease_us = ?1, repush_us = max(coalesce(repush_us, 0), ?1) WHERE seq = ?2`)
	// resultUpdates store a result, by the queue state it moves the
	// command to (rows.ResultState).
	resultUpdates = [...]string{
		rows.QueuePending: writeQuery(rows.ResultUpdate(rows.QueuePending, qmark)),
		rows.QueueNotNow:  writeQuery(rows.ResultUpdate(rows.QueueNotNow, qmark)),
		rows.QueueDone:    writeQuery(rows.ResultUpdate(rows.QueueDone, qmark)),
	}
	queueResetNotNow = writeQuery(`UPDATE mdm_queue SET state = 0 WHERE enrollment = ? AND state = 1`)
)

// PutEnrollment implements mdm.Store.
func (s *MDMStore) PutEnrollment(ctx context.Context, rec *mdm.EnrollmentRecord) error {
	const op = "sqlite: put enrollment"
	if rec == nil || rec.ID == "" {
		return fmt.Errorf("%s: empty enrollment ID", op)
	}
	if done, err := s.rewrite(ctx, op, rec); done || err != nil {
		return err
	}
	return s.db.writeTx(ctx, op, func(tx *wtx) error { return s.put(ctx, tx, op, rec) })
}

// rewrite stores rec if its enrollment exists with the same certificate
// (every TokenUpdate and CheckOut of an enrolled device), and reports
// whether it did. It is the one UPDATE put tries first, run on its own: a
// single statement is a transaction of its own in SQLite, committed whole
// or not at all, so it needs no BEGIN and COMMIT around it. When the test
// hook beforeCommit is set it does nothing, leaving the write to writeTx.
func (s *MDMStore) rewrite(ctx context.Context, op string, rec *mdm.EnrollmentRecord) (bool, error) {
	if s.db.closed.Load() {
		return false, fmt.Errorf("%s: %w", op, ErrClosed)
	}
	if s.db.beforeCommit != nil {
		return false, nil
	}
	s.db.wstmts.mu.Lock()
	same := s.db.wstmts.m[mdmUpdateSameCert]
	s.db.wstmts.mu.Unlock()
	if same == nil {
		return false, nil
	}
	res, err := same.ExecContext(ctx, sameCertArgs(rows.MDMValues(rec))...)
	if err != nil {
		return false, s.db.wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, s.db.wrap(op, err)
	}
	return n == 1, nil
}

// sameCertArgs returns the arguments of mdmUpdateSameCert for a record's
// column values.
func sameCertArgs(values []any) []any {
	args := make([]any, 0, len(values)+1)
	for i, c := range rows.MDMColumns[1:] {
		if c != "certificate" {
			args = append(args, values[i+1])
		}
	}
	return append(args, values[0], values[3])
}

// put creates or replaces rec in tx. The unique index on certificates
// refuses a certificate bound to another enrollment.
func (s *MDMStore) put(ctx context.Context, tx *wtx, op string, rec *mdm.EnrollmentRecord) error {
	values := rows.MDMValues(rec)
	same, err := s.db.txStmt(ctx, tx, mdmUpdateSameCert)
	if err != nil {
		return s.db.wrap(op, err)
	}
	res, err := same.ExecContext(ctx, sameCertArgs(values)...)
	if err != nil {
		return s.db.wrap(op, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	st, err := s.db.txStmt(ctx, tx, mdmUpsert)
	if err != nil {
		return s.db.wrap(op, err)
	}
	if _, err := st.ExecContext(ctx, values...); err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("%s %s: %w", op, rec.ID, mdm.ErrCertificateInUse)
		}
		return s.db.wrap(op, err)
	}
	return nil
}

// Enrollment implements mdm.Store.
func (s *MDMStore) Enrollment(ctx context.Context, id mdm.EnrollmentID) (*mdm.EnrollmentRecord, error) {
	const op = "sqlite: enrollment"
	st, err := s.db.readStmt(ctx, op, "SELECT "+rows.MDMSelect+" FROM mdm_enrollments WHERE id = ?")
	if err != nil {
		return nil, err
	}
	rec, err := rows.ScanMDM(st.QueryRowContext(ctx, string(id)).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s %s: %w", op, id, mdm.ErrNotFound)
	}
	if err != nil {
		return nil, s.db.wrap(op, err)
	}
	return rec, nil
}

// enrollmentsChunk bounds the identifiers one statement of Enrollments
// lists.
const enrollmentsChunk = 500

// Enrollments implements mdm.Store: one statement per 500 identifiers on
// the read pool.
func (s *MDMStore) Enrollments(ctx context.Context, ids []mdm.EnrollmentID) (map[mdm.EnrollmentID]*mdm.EnrollmentRecord, error) {
	const op = "sqlite: enrollments"
	pool, err := s.db.reader(op)
	if err != nil {
		return nil, err
	}
	out := make(map[mdm.EnrollmentID]*mdm.EnrollmentRecord, len(ids))
	for chunk := range slices.Chunk(ids, enrollmentsChunk) {
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = string(id)
		}
		rs, err := pool.QueryContext(ctx, "SELECT "+rows.MDMSelect+" FROM mdm_enrollments WHERE id IN (?"+strings.Repeat(", ?", len(chunk)-1)+")", args...)
		if err != nil {
			return nil, s.db.wrap(op, err)
		}
		for rs.Next() {
			rec, err := rows.ScanMDM(rs.Scan)
			if err != nil {
				rs.Close()
				return nil, s.db.wrap(op, err)
			}
			out[rec.ID] = rec
		}
		err = rs.Err()
		rs.Close()
		if err != nil {
			return nil, s.db.wrap(op, err)
		}
	}
	return out, nil
}

// EnrollmentByCertificate implements mdm.Store.
func (s *MDMStore) EnrollmentByCertificate(ctx context.Context, fp mdm.Fingerprint) (mdm.EnrollmentID, error) {
	const op = "sqlite: enrollment by certificate"
	st, err := s.db.readStmt(ctx, op, `SELECT id FROM mdm_enrollments WHERE certificate = ?`)
	if err != nil {
		return "", err
	}
	var id string
	err = st.QueryRowContext(ctx, fp[:]).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%s %s: %w", op, fp, mdm.ErrNotFound)
	}
	if err != nil {
		return "", s.db.wrap(op, err)
	}
	return mdm.EnrollmentID(id), nil
}

// MarkTokenDead implements mdm.Store.
func (s *MDMStore) MarkTokenDead(ctx context.Context, id mdm.EnrollmentID, token []byte) error {
	const op = "sqlite: mark token dead"
	if len(token) == 0 {
		return nil
	}
	return s.db.writeTx(ctx, op, func(tx *wtx) error {
		st, err := s.db.txStmt(ctx, tx, mdmTokenDead)
		if err == nil {
			_, err = st.ExecContext(ctx, string(id), token)
		}
		return s.db.wrap(op, err)
	})
}

// Enqueue implements mdm.Store.
func (s *MDMStore) Enqueue(ctx context.Context, cmd *mdm.Command, ids []mdm.EnrollmentID) error {
	const op = "sqlite: enqueue"
	if cmd == nil || cmd.UUID == "" {
		return fmt.Errorf("%s: empty command UUID", op)
	}
	return s.db.writeTx(ctx, op, func(tx *wtx) error {
		stmt, err := s.db.txStmt(ctx, tx, queueInsert)
		if err != nil {
			return s.db.wrap(op, err)
		}
		for _, id := range ids {
			res, err := stmt.ExecContext(ctx, string(id), cmd.UUID, cmd.RequestType, cmd.Raw, rows.Micro(cmd.ExpiresAt), rows.Micro(cmd.EnqueuedAt))
			if err != nil {
				return s.db.wrap(op, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				// Already queued for id, or id listed twice: the
				// transaction is rolled back, nothing is queued.
				return fmt.Errorf("%s %s to %s: %w", op, cmd.UUID, id, mdm.ErrCommandExists)
			}
		}
		return nil
	})
}

// NextCommand implements mdm.Store.
func (s *MDMStore) NextCommand(ctx context.Context, id mdm.EnrollmentID, now time.Time, lease time.Duration) (*mdm.Command, error) {
	const op = "sqlite: next command"
	// Most polls find nothing to deliver: answer those from a reader
	// without queueing for the write lock. A command queued after this
	// snapshot is delivered at the next poll, as if this one came earlier.
	peek, err := s.db.readStmt(ctx, op, `SELECT lease_us FROM mdm_queue
		WHERE enrollment = ? AND state = 0 AND (expires_us IS NULL OR expires_us > ?) ORDER BY seq LIMIT 1`)
	if err != nil {
		return nil, err
	}
	var leaseUs sql.NullInt64
	switch err := peek.QueryRowContext(ctx, string(id), now.UnixMicro()).Scan(&leaseUs); {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("%s for %s: %w", op, id, mdm.ErrQueueEmpty)
	case err != nil:
		return nil, s.db.wrap(op, err)
	case leaseUs.Valid && now.Before(rows.Time(leaseUs)):
		return nil, fmt.Errorf("%s for %s: head is leased: %w", op, id, mdm.ErrQueueEmpty)
	}
	var cmd *mdm.Command
	err = s.db.writeTx(ctx, op, func(tx *wtx) error {
		var (
			seq              int64
			leaseUs, expires sql.NullInt64
			c                mdm.Command
		)
		head, err := s.db.txStmt(ctx, tx, queueHead)
		if err != nil {
			return s.db.wrap(op, err)
		}
		err = head.QueryRowContext(ctx, string(id), now.UnixMicro()).Scan(&seq, &leaseUs, &c.UUID, &c.RequestType, &c.Raw, &expires)
		c.ExpiresAt = rows.Time(expires)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%s for %s: %w", op, id, mdm.ErrQueueEmpty)
		}
		if err != nil {
			return s.db.wrap(op, err)
		}
		if leaseUs.Valid && now.Before(rows.Time(leaseUs)) {
			return fmt.Errorf("%s for %s: %s is leased: %w", op, id, c.UUID, mdm.ErrQueueEmpty)
		}
		upd, err := s.db.txStmt(ctx, tx, queueLease)
		if err != nil {
			return s.db.wrap(op, err)
		}
		if _, err := upd.ExecContext(ctx, now.Add(lease).UnixMicro(), seq); err != nil {
			return s.db.wrap(op, err)
		}
		cmd = &c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return cmd, nil
}

// PutResult implements mdm.Store.
func (s *MDMStore) PutResult(ctx context.Context, id mdm.EnrollmentID, res *mdm.CommandResult) error {
	const op = "sqlite: put result"
	if res == nil || res.CommandUUID == "" {
		return fmt.Errorf("%s: empty CommandUUID", op)
	}
	args, err := rows.ResultArgs(id, res)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	q := resultUpdates[rows.ResultState(res.Status)]
	return s.db.writeTx(ctx, op, func(tx *wtx) error {
		st, err := s.db.txStmt(ctx, tx, q)
		if err != nil {
			return s.db.wrap(op, err)
		}
		r, err := st.ExecContext(ctx, args...)
		if err != nil {
			return s.db.wrap(op, err)
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return fmt.Errorf("%s %s for %s: %w", op, res.CommandUUID, id, mdm.ErrNotFound)
		}
		return nil
	})
}

// ResetNotNow implements mdm.Store.
func (s *MDMStore) ResetNotNow(ctx context.Context, ids []mdm.EnrollmentID) error {
	const op = "sqlite: reset NotNow"
	if len(ids) == 0 {
		return nil
	}
	// Every Idle poll asks for this and almost none has a NotNow command:
	// look from a reader first and take the write lock only when there is
	// something to reset. A NotNow recorded after this look is reset at the
	// next poll, as if this one came earlier.
	peek, err := s.db.readStmt(ctx, op, `SELECT 1 FROM mdm_queue WHERE enrollment = ? AND state = 1 LIMIT 1`)
	if err != nil {
		return err
	}
	pending := false
	for _, id := range ids {
		var one int
		switch err := peek.QueryRowContext(ctx, string(id)).Scan(&one); {
		case errors.Is(err, sql.ErrNoRows):
			continue
		case err != nil:
			return s.db.wrap(op, err)
		}
		pending = true
		break
	}
	if !pending {
		return nil
	}
	return s.db.writeTx(ctx, op, func(tx *wtx) error {
		stmt, err := s.db.txStmt(ctx, tx, queueResetNotNow)
		if err != nil {
			return s.db.wrap(op, err)
		}
		for _, id := range ids {
			if _, err := stmt.ExecContext(ctx, string(id)); err != nil {
				return s.db.wrap(op, err)
			}
		}
		return nil
	})
}

// Result implements mdm.Store.
func (s *MDMStore) Result(ctx context.Context, id mdm.EnrollmentID, uuid string) (*mdm.CommandResult, error) {
	const op = "sqlite: result"
	st, err := s.db.readStmt(ctx, op, `SELECT result_status, result_raw, result_meta, result_us FROM mdm_queue
		WHERE enrollment = ? AND uuid = ? AND result_status IS NOT NULL`)
	if err != nil {
		return nil, err
	}
	var (
		status    string
		raw, meta []byte
		received  sql.NullInt64
	)
	err = st.QueryRowContext(ctx, string(id), uuid).Scan(&status, &raw, &meta, &received)
	if errors.Is(err, sql.ErrNoRows) {
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
	const op = "sqlite: queue stats"
	st, err := s.db.readStmt(ctx, op, `SELECT COUNT(*), MIN(enqueued_us) FROM mdm_queue WHERE state <> 2`)
	if err != nil {
		return mdm.QueueStats{}, err
	}
	var (
		n      int
		oldest sql.NullInt64
	)
	if err := st.QueryRowContext(ctx).Scan(&n, &oldest); err != nil {
		return mdm.QueueStats{}, s.db.wrap(op, err)
	}
	out := mdm.QueueStats{Pending: n}
	if oldest.Valid {
		out.OldestEnqueuedAt = rows.Time(oldest)
	}
	return out, nil
}
