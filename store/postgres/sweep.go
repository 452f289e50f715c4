package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/store/internal/rows"
)

// ExpireCommands implements mdm.Store. Rows another transaction holds
// are skipped; the next call takes them.
func (s *MDMStore) ExpireCommands(ctx context.Context, now time.Time, limit int) (int, error) {
	const op = "postgres: expire commands"
	p, err := s.db.q(op)
	if err != nil {
		return 0, err
	}
	tag, err := p.Exec(ctx, `WITH due AS (
		SELECT seq FROM mdm_queue WHERE state <> 2 AND expires_us IS NOT NULL AND expires_us <= $1
		ORDER BY expires_us LIMIT $2 FOR UPDATE SKIP LOCKED)
	UPDATE mdm_queue q SET state = 2, raw = NULL, lease_us = NULL, repush_us = NULL,
		result_status = '`+rows.ExpiredStatus+`', result_raw = NULL, result_meta = NULL, result_us = $1
	FROM due WHERE q.seq = due.seq AND q.state <> 2`, now.UnixMicro(), limit)
	if err != nil {
		return 0, s.db.wrap(op, err)
	}
	return int(tag.RowsAffected()), nil
}

// ClaimLapsedLeases implements mdm.Store. The rows are locked while they
// are claimed (others are skipped), so replicas claim each re-push once.
func (s *MDMStore) ClaimLapsedLeases(ctx context.Context, now time.Time, limit int, wait func(int) time.Duration) ([]mdm.EnrollmentID, error) {
	const op = "postgres: claim lapsed leases"
	var out []mdm.EnrollmentID
	err := s.db.tx(ctx, op, func(tx pgx.Tx) error {
		out = out[:0]
		rs, err := tx.Query(ctx, `SELECT seq, enrollment, repushes FROM mdm_queue
			WHERE state = 0 AND repush_us IS NOT NULL AND repush_us <= $1 AND (expires_us IS NULL OR expires_us > $1)
			ORDER BY repush_us LIMIT $2 FOR UPDATE SKIP LOCKED`, now.UnixMicro(), limit)
		if err != nil {
			return s.db.wrap(op, err)
		}
		var seqs, due []int64
		var counts []int32
		for rs.Next() {
			var (
				seq int64
				id  string
				n   int32
			)
			if err := rs.Scan(&seq, &id, &n); err != nil {
				rs.Close()
				return s.db.wrap(op, err)
			}
			n++
			seqs, counts, due = append(seqs, seq), append(counts, n), append(due, now.Add(wait(int(n))).UnixMicro())
			out = append(out, mdm.EnrollmentID(id))
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return s.db.wrap(op, err)
		}
		if len(seqs) == 0 {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE mdm_queue q SET repushes = t.n, repush_us = t.due
			FROM unnest($1::bigint[], $2::integer[], $3::bigint[]) AS t (seq, n, due) WHERE q.seq = t.seq`, seqs, counts, due)
		return s.db.wrap(op, err)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Prune implements mdm.Store: one statement deletes completed commands,
// another checked-out records with their queues.
func (s *MDMStore) Prune(ctx context.Context, before mdm.Cutoffs, limit int) (int, error) {
	const op = "postgres: prune"
	p, err := s.db.q(op)
	if err != nil {
		return 0, err
	}
	n := 0
	if !before.Results.IsZero() {
		tag, err := p.Exec(ctx, `DELETE FROM mdm_queue WHERE seq IN (
			SELECT seq FROM mdm_queue WHERE state = 2 AND result_us < $1 ORDER BY result_us LIMIT $2 FOR UPDATE SKIP LOCKED)`,
			before.Results.UnixMicro(), limit)
		if err != nil {
			return 0, s.db.wrap(op, err)
		}
		n = int(tag.RowsAffected())
	}
	if before.CheckedOut.IsZero() || n >= limit {
		return n, nil
	}
	var m int
	err = p.QueryRow(ctx, `WITH gone AS (
		SELECT id FROM mdm_enrollments WHERE checked_out AND updated_us < $1 ORDER BY updated_us LIMIT $2
		FOR UPDATE SKIP LOCKED
	), q AS (
		DELETE FROM mdm_queue WHERE enrollment IN (SELECT id FROM gone)
	), d AS (
		DELETE FROM mdm_enrollments WHERE id IN (SELECT id FROM gone) RETURNING 1
	) SELECT count(*) FROM d`, before.CheckedOut.UnixMicro(), limit-n).Scan(&m)
	if err != nil {
		return 0, s.db.wrap(op, err)
	}
	return n + m, nil
}

// Prune implements enroll.Store: one statement deletes up to limit
// finished enrollments with their audit trails.
func (s *EnrollStore) Prune(ctx context.Context, before time.Time, limit int) (int, error) {
	const op = "postgres: prune enrollments"
	p, err := s.db.q(op)
	if err != nil {
		return 0, err
	}
	var n int
	err = p.QueryRow(ctx, `WITH gone AS (
		SELECT seq FROM enrollments WHERE state IN (`+rows.Finished+`) AND updated_us < $1 ORDER BY updated_us LIMIT $2
		FOR UPDATE SKIP LOCKED
	), a AS (
		DELETE FROM audit_events WHERE enrollment IN (SELECT seq FROM gone)
	), d AS (
		DELETE FROM enrollments WHERE seq IN (SELECT seq FROM gone) RETURNING 1
	) SELECT count(*) FROM d`, before.UnixMicro(), limit).Scan(&n)
	if err != nil {
		return 0, s.db.wrap(op, err)
	}
	return n, nil
}
