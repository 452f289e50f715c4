package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/store/internal/rows"
)

var _ enroll.FailureStore = (*EnrollStore)(nil)

var (
	// failureAdd counts one failure in one statement, atomic by itself:
	// a row whose latest failure is before the cut-off (?3) starts again.
	// SET expressions read the row as it was, so prev_us gets the old
	// last_us.
	failureAdd = writeQuery(`INSERT INTO sign_in_failures (key, failures, last_us) VALUES (?1, 1, ?2)
ON CONFLICT (key) DO UPDATE SET
	failures = CASE WHEN last_us < ?3 THEN 1 ELSE failures + 1 END,
	prev_us  = CASE WHEN last_us < ?3 THEN NULL ELSE last_us END,
	last_us  = CASE WHEN last_us < ?3 THEN ?2 ELSE MAX(last_us, ?2) END
RETURNING failures, prev_us`)
	failureReset = writeQuery(`DELETE FROM sign_in_failures WHERE key = ?`)
	failurePrune = writeQuery(`DELETE FROM sign_in_failures WHERE last_us < ?`)
)

// AddFailure implements enroll.FailureStore.
func (s *EnrollStore) AddFailure(ctx context.Context, key string, now time.Time, window time.Duration) (enroll.Failures, error) {
	const op = "sqlite: add sign-in failure"
	var (
		n    int64
		prev sql.NullInt64
	)
	err := s.db.writeTx(ctx, op, func(tx *wtx) error {
		st, err := s.db.txStmt(ctx, tx, failureAdd)
		if err != nil {
			return s.db.wrap(op, err)
		}
		return s.db.wrap(op, st.QueryRowContext(ctx, key, now.UnixMicro(), now.Add(-window).UnixMicro()).Scan(&n, &prev))
	})
	if err != nil {
		return enroll.Failures{}, err
	}
	return rows.FailuresBefore(n, prev), nil
}

// Failures implements enroll.FailureStore.
func (s *EnrollStore) Failures(ctx context.Context, key string) (enroll.Failures, error) {
	const op = "sqlite: read sign-in failures"
	st, err := s.db.readStmt(ctx, op, `SELECT failures, last_us FROM sign_in_failures WHERE key = ?`)
	if err != nil {
		return enroll.Failures{}, err
	}
	var n, last int64
	err = st.QueryRowContext(ctx, key).Scan(&n, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return enroll.Failures{}, nil
	}
	if err != nil {
		return enroll.Failures{}, s.db.wrap(op, err)
	}
	return rows.FailuresRow(n, last), nil
}

// ResetFailures implements enroll.FailureStore.
func (s *EnrollStore) ResetFailures(ctx context.Context, key string) error {
	return s.execFailures(ctx, "sqlite: reset sign-in failures", failureReset, key)
}

// PruneFailures implements enroll.FailureStore.
func (s *EnrollStore) PruneFailures(ctx context.Context, before time.Time) error {
	return s.execFailures(ctx, "sqlite: prune sign-in failures", failurePrune, before.UnixMicro())
}

// execFailures runs one write statement q of the throttle's table.
func (s *EnrollStore) execFailures(ctx context.Context, op, q string, arg any) error {
	return s.db.writeTx(ctx, op, func(tx *wtx) error {
		st, err := s.db.txStmt(ctx, tx, q)
		if err != nil {
			return s.db.wrap(op, err)
		}
		_, err = st.ExecContext(ctx, arg)
		return s.db.wrap(op, err)
	})
}
