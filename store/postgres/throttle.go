package postgres

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/store/internal/rows"
)

var _ enroll.FailureStore = (*EnrollStore)(nil)

// failureAdd counts one failure in one statement, atomic by itself (the
// conflicting row is locked until commit, so racing calls queue): a row
// whose latest failure is before the cut-off ($3) starts again. SET
// expressions read the row as it was, so prev_us gets the old last_us.
const failureAdd = `INSERT INTO sign_in_failures AS f (key, failures, last_us) VALUES ($1, 1, $2)
ON CONFLICT (key) DO UPDATE SET
	failures = CASE WHEN f.last_us < $3 THEN 1 ELSE f.failures + 1 END,
	prev_us  = CASE WHEN f.last_us < $3 THEN NULL ELSE f.last_us END,
	last_us  = CASE WHEN f.last_us < $3 THEN $2 ELSE GREATEST(f.last_us, $2) END
RETURNING f.failures, f.prev_us`

// AddFailure implements enroll.FailureStore.
func (s *EnrollStore) AddFailure(ctx context.Context, key string, now time.Time, window time.Duration) (enroll.Failures, error) {
	const op = "postgres: add sign-in failure"
	pool, err := s.db.q(op)
	if err != nil {
		return enroll.Failures{}, err
	}
	var (
		n    int64
		prev sql.NullInt64
	)
	if err := pool.QueryRow(ctx, failureAdd, key, now.UnixMicro(), now.Add(-window).UnixMicro()).Scan(&n, &prev); err != nil {
		return enroll.Failures{}, s.db.wrap(op, err)
	}
	return rows.FailuresBefore(n, prev), nil
}

// Failures implements enroll.FailureStore.
func (s *EnrollStore) Failures(ctx context.Context, key string) (enroll.Failures, error) {
	const op = "postgres: read sign-in failures"
	pool, err := s.db.q(op)
	if err != nil {
		return enroll.Failures{}, err
	}
	var n, last int64
	err = pool.QueryRow(ctx, `SELECT failures, last_us FROM sign_in_failures WHERE key = $1`, key).Scan(&n, &last)
	if errors.Is(err, pgx.ErrNoRows) {
		return enroll.Failures{}, nil
	}
	if err != nil {
		return enroll.Failures{}, s.db.wrap(op, err)
	}
	return rows.FailuresRow(n, last), nil
}

// ResetFailures implements enroll.FailureStore.
func (s *EnrollStore) ResetFailures(ctx context.Context, key string) error {
	return s.execFailures(ctx, "postgres: reset sign-in failures", `DELETE FROM sign_in_failures WHERE key = $1`, key)
}

// PruneFailures implements enroll.FailureStore.
func (s *EnrollStore) PruneFailures(ctx context.Context, before time.Time) error {
	return s.execFailures(ctx, "postgres: prune sign-in failures", `DELETE FROM sign_in_failures WHERE last_us < $1`, before.UnixMicro())
}

// execFailures runs one statement q of the throttle's table.
func (s *EnrollStore) execFailures(ctx context.Context, op, q string, arg any) error {
	pool, err := s.db.q(op)
	if err != nil {
		return err
	}
	_, err = pool.Exec(ctx, q, arg)
	return s.db.wrap(op, err)
}
