package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/store/internal/rows"
)

// The statements of the sweep: each touches at most its LIMIT of rows,
// found through an index that holds only the rows it looks for
// (migration 0004), so that the write lock is held briefly.
var (
	queueExpire = writeQuery(`UPDATE mdm_queue SET state = 2, raw = NULL, lease_us = NULL, repush_us = NULL,
		result_status = '` + rows.ExpiredStatus + `', result_raw = NULL, result_meta = NULL, result_us = ?1
		WHERE seq IN (SELECT seq FROM mdm_queue WHERE state <> 2 AND expires_us IS NOT NULL AND expires_us <= ?1
			ORDER BY expires_us LIMIT ?2)`)
	queueLapsed = writeQuery(`SELECT seq, enrollment, repushes FROM mdm_queue
		WHERE state = 0 AND repush_us IS NOT NULL AND repush_us <= ?1 AND (expires_us IS NULL OR expires_us > ?1)
		ORDER BY repush_us LIMIT ?2`)
	queueRepushed = writeQuery(`UPDATE mdm_queue SET repushes = ?, repush_us = ? WHERE seq = ?`)
	queuePrune    = writeQuery(`DELETE FROM mdm_queue WHERE seq IN
		(SELECT seq FROM mdm_queue WHERE state = 2 AND result_us < ? ORDER BY result_us LIMIT ?)`)
	checkedOut = writeQuery(`SELECT id FROM mdm_enrollments WHERE checked_out = 1 AND updated_us < ?
		ORDER BY updated_us LIMIT ?`)
	queueDropAll  = writeQuery(`DELETE FROM mdm_queue WHERE enrollment = ?`)
	mdmDelete     = writeQuery(`DELETE FROM mdm_enrollments WHERE id = ?`)
	finishedOlder = writeQuery(`SELECT seq FROM enrollments WHERE state IN (` + rows.Finished + `) AND updated_us < ?
		ORDER BY updated_us LIMIT ?`)
	auditDelete  = writeQuery(`DELETE FROM audit_events WHERE enrollment = ?`)
	enrollDelete = writeQuery(`DELETE FROM enrollments WHERE seq = ?`)
)

// ExpireCommands implements mdm.Store.
func (s *MDMStore) ExpireCommands(ctx context.Context, now time.Time, limit int) (int, error) {
	const op = "sqlite: expire commands"
	n := 0
	err := s.db.writeTx(ctx, op, func(tx *wtx) error {
		st, err := s.db.txStmt(ctx, tx, queueExpire)
		if err != nil {
			return s.db.wrap(op, err)
		}
		res, err := st.ExecContext(ctx, now.UnixMicro(), limit)
		if err != nil {
			return s.db.wrap(op, err)
		}
		m, err := res.RowsAffected()
		n = int(m)
		return s.db.wrap(op, err)
	})
	return n, err
}

// ClaimLapsedLeases implements mdm.Store.
func (s *MDMStore) ClaimLapsedLeases(ctx context.Context, now time.Time, limit int, wait func(int) time.Duration) ([]mdm.EnrollmentID, error) {
	const op = "sqlite: claim lapsed leases"
	var out []mdm.EnrollmentID
	err := s.db.writeTx(ctx, op, func(tx *wtx) error {
		out = out[:0]
		sel, err := s.db.txStmt(ctx, tx, queueLapsed)
		if err != nil {
			return s.db.wrap(op, err)
		}
		type lapsed struct {
			seq      int64
			id       string
			repushes int
		}
		var found []lapsed
		rs, err := sel.QueryContext(ctx, now.UnixMicro(), limit)
		if err != nil {
			return s.db.wrap(op, err)
		}
		for rs.Next() {
			var l lapsed
			if err := rs.Scan(&l.seq, &l.id, &l.repushes); err != nil {
				rs.Close()
				return s.db.wrap(op, err)
			}
			found = append(found, l)
		}
		if err := rs.Close(); err != nil {
			return s.db.wrap(op, err)
		}
		upd, err := s.db.txStmt(ctx, tx, queueRepushed)
		if err != nil {
			return s.db.wrap(op, err)
		}
		for _, l := range found {
			n := l.repushes + 1
			if _, err := upd.ExecContext(ctx, n, now.Add(wait(n)).UnixMicro(), l.seq); err != nil {
				return s.db.wrap(op, err)
			}
			out = append(out, mdm.EnrollmentID(l.id))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Prune implements mdm.Store: one write transaction deletes completed
// commands, another checked-out records with their queues.
func (s *MDMStore) Prune(ctx context.Context, before mdm.Cutoffs, limit int) (int, error) {
	const op = "sqlite: prune"
	n := 0
	if !before.Results.IsZero() {
		err := s.db.writeTx(ctx, op, func(tx *wtx) error {
			st, err := s.db.txStmt(ctx, tx, queuePrune)
			if err != nil {
				return s.db.wrap(op, err)
			}
			res, err := st.ExecContext(ctx, before.Results.UnixMicro(), limit)
			if err != nil {
				return s.db.wrap(op, err)
			}
			m, err := res.RowsAffected()
			n = int(m)
			return s.db.wrap(op, err)
		})
		if err != nil {
			return 0, err
		}
	}
	if before.CheckedOut.IsZero() || n >= limit {
		return n, nil
	}
	var ids []string
	err := s.db.writeTx(ctx, op, func(tx *wtx) error {
		ids = ids[:0]
		var err error
		ids, err = s.selectKeys(ctx, tx, checkedOut, ids, before.CheckedOut.UnixMicro(), limit-n)
		if err != nil {
			return s.db.wrap(op, err)
		}
		return deleteEach(ctx, s.db, tx, op, ids, queueDropAll, mdmDelete)
	})
	if err != nil {
		return 0, err
	}
	return n + len(ids), nil
}

// Prune implements enroll.Store: one write transaction deletes up to limit
// finished enrollments with their audit trails.
func (s *EnrollStore) Prune(ctx context.Context, before time.Time, limit int) (int, error) {
	const op = "sqlite: prune enrollments"
	var seqs []int64
	err := s.db.writeTx(ctx, op, func(tx *wtx) error {
		st, err := s.db.txStmt(ctx, tx, finishedOlder)
		if err != nil {
			return s.db.wrap(op, err)
		}
		seqs = seqs[:0]
		rs, err := st.QueryContext(ctx, before.UnixMicro(), limit)
		if err != nil {
			return s.db.wrap(op, err)
		}
		for rs.Next() {
			var seq int64
			if err := rs.Scan(&seq); err != nil {
				rs.Close()
				return s.db.wrap(op, err)
			}
			seqs = append(seqs, seq)
		}
		if err := rs.Close(); err != nil {
			return s.db.wrap(op, err)
		}
		return deleteEach(ctx, s.db, tx, op, seqs, auditDelete, enrollDelete)
	})
	if err != nil {
		return 0, err
	}
	return len(seqs), nil
}

// selectKeys appends to dst the first column of the rows q selects.
func (s *MDMStore) selectKeys(ctx context.Context, tx *wtx, q string, dst []string, args ...any) ([]string, error) {
	st, err := s.db.txStmt(ctx, tx, q)
	if err != nil {
		return nil, err
	}
	rs, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	for rs.Next() {
		var k string
		if err := rs.Scan(&k); err != nil {
			return nil, err
		}
		dst = append(dst, k)
	}
	return dst, rs.Err()
}

// deleteEach runs every statement of stmts, in order, for each key.
func deleteEach[K any](ctx context.Context, db *DB, tx *wtx, op string, keys []K, stmts ...string) error {
	prepared := make([]*sql.Stmt, len(stmts))
	for i, q := range stmts {
		st, err := db.txStmt(ctx, tx, q)
		if err != nil {
			return db.wrap(op, err)
		}
		prepared[i] = st
	}
	for _, k := range keys {
		for _, st := range prepared {
			if _, err := st.ExecContext(ctx, k); err != nil {
				return db.wrap(op, err)
			}
		}
	}
	return nil
}
