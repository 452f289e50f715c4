package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/store/internal/rows"
)

var _ enroll.Store = (*EnrollStore)(nil)

// EnrollStore is the enroll.Store of a DB. Get it with DB.Enroll.
type EnrollStore struct{ db *DB }

// Enroll returns the database's enroll.Store.
func (db *DB) Enroll() *EnrollStore { return &EnrollStore{db: db} }

var (
	enrollInsert = "INSERT INTO enrollments (" + rows.EnrollSelect + ") VALUES (" +
		strings.TrimSuffix(strings.Repeat("?, ", len(rows.EnrollColumns)), ", ") + ")"
	enrollUpdate = func() string {
		var b strings.Builder
		b.WriteString("UPDATE enrollments SET ")
		for i, c := range rows.EnrollColumns[1:] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(c + " = ?")
		}
		b.WriteString(" WHERE id = ? AND version = ?")
		return b.String()
	}()
	auditInsert = "INSERT INTO audit_events (enrollment, n, " + rows.AuditSelect + ") VALUES (?, ?, " +
		strings.TrimSuffix(strings.Repeat("?, ", len(rows.AuditColumns)), ", ") + ")"
)

// Create implements enroll.Store.
func (s *EnrollStore) Create(ctx context.Context, e *enroll.Enrollment, events ...enroll.AuditEvent) error {
	const op = "sqlite: create enrollment"
	if e == nil || e.ID == "" {
		return fmt.Errorf("%s: enrollment without ID: %w", op, enroll.ErrInvalidInput)
	}
	err := s.db.writeTx(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, enrollInsert+" ON CONFLICT (id) DO NOTHING", rows.EnrollValues(e, 1)...)
		if err != nil {
			return s.db.wrap(op, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%s %s: %w", op, e.ID, enroll.ErrExists)
		}
		seq, err := res.LastInsertId()
		if err != nil {
			return s.db.wrap(op, err)
		}
		return s.appendAudit(ctx, tx, op, seq, 0, events)
	})
	if err != nil {
		return err
	}
	e.Version = 1
	return nil
}

// appendAudit stores events after the first n events of enrollment seq.
func (s *EnrollStore) appendAudit(ctx context.Context, tx *sql.Tx, op string, seq int64, n int, events []enroll.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, auditInsert)
	if err != nil {
		return s.db.wrap(op, err)
	}
	defer stmt.Close()
	for i := range events {
		args := append([]any{seq, n + i}, rows.AuditValues(&events[i])...)
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return s.db.wrap(op, err)
		}
	}
	return nil
}

// Get implements enroll.Store.
func (s *EnrollStore) Get(ctx context.Context, id string) (*enroll.Enrollment, error) {
	const op = "sqlite: get enrollment"
	r, err := s.db.reader(op)
	if err != nil {
		return nil, err
	}
	e, err := rows.ScanEnroll(r.QueryRowContext(ctx, "SELECT "+rows.EnrollSelect+" FROM enrollments WHERE id = ?", id).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s %s: %w", op, id, enroll.ErrNotFound)
	}
	if err != nil {
		return nil, s.db.wrap(op, err)
	}
	return e, nil
}

// Find implements enroll.Store.
func (s *EnrollStore) Find(ctx context.Context, index enroll.Index, key string) (*enroll.Enrollment, error) {
	const op = "sqlite: find enrollment"
	col, err := rows.IndexColumn(index)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	r, err := s.db.reader(op)
	if err != nil {
		return nil, err
	}
	if key == "" {
		return nil, fmt.Errorf("%s by %s: empty key: %w", op, index, enroll.ErrNotFound)
	}
	// The "!= ''" term lets SQLite use the partial index.
	q := "SELECT " + rows.EnrollSelect + " FROM enrollments WHERE " + col + " = ? AND " + col +
		" != '' ORDER BY created_us DESC NULLS LAST, id DESC LIMIT 1"
	e, err := rows.ScanEnroll(r.QueryRowContext(ctx, q, key).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s by %s: %w", op, index, enroll.ErrNotFound)
	}
	if err != nil {
		return nil, s.db.wrap(op, err)
	}
	return e, nil
}

// Update implements enroll.Store.
func (s *EnrollStore) Update(ctx context.Context, e *enroll.Enrollment, expectedVersion int64, events ...enroll.AuditEvent) error {
	const op = "sqlite: update enrollment"
	if e == nil || e.ID == "" {
		return fmt.Errorf("%s: enrollment without ID: %w", op, enroll.ErrInvalidInput)
	}
	next := expectedVersion + 1
	err := s.db.writeTx(ctx, op, func(tx *sql.Tx) error {
		args := append(rows.EnrollValues(e, next)[1:], e.ID, expectedVersion)
		res, err := tx.ExecContext(ctx, enrollUpdate, args...)
		if err != nil {
			return s.db.wrap(op, err)
		}
		var (
			seq     int64
			version int64
		)
		err = tx.QueryRowContext(ctx, `SELECT seq, version FROM enrollments WHERE id = ?`, e.ID).Scan(&seq, &version)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%s %s: %w", op, e.ID, enroll.ErrNotFound)
		}
		if err != nil {
			return s.db.wrap(op, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%s %s: version %d, expected %d: %w", op, e.ID, version, expectedVersion, enroll.ErrVersionConflict)
		}
		if len(events) == 0 {
			return nil
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(n) + 1, 0) FROM audit_events WHERE enrollment = ?`, seq).Scan(&n); err != nil {
			return s.db.wrap(op, err)
		}
		return s.appendAudit(ctx, tx, op, seq, n, events)
	})
	if err != nil {
		return err
	}
	e.Version = next
	return nil
}

// List implements enroll.Store.
func (s *EnrollStore) List(ctx context.Context, o enroll.ListOptions) ([]*enroll.Enrollment, error) {
	const op = "sqlite: list enrollments"
	r, err := s.db.reader(op)
	if err != nil {
		return nil, err
	}
	var (
		where []string
		args  []any
	)
	if o.UserID != "" {
		where, args = append(where, "user_id = ?"), append(args, o.UserID)
	}
	if o.ManagedAppleID != "" {
		where, args = append(where, "managed_apple_id = ?"), append(args, o.ManagedAppleID)
	}
	if len(o.States) > 0 {
		where = append(where, "state IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(o.States)), ", ")+")")
		for _, st := range o.States {
			args = append(args, string(st))
		}
	}
	if !o.ExpiresBefore.IsZero() {
		where, args = append(where, "expires_us IS NOT NULL AND expires_us <= ?"), append(args, o.ExpiresBefore.UnixMicro())
	}
	q := "SELECT " + rows.EnrollSelect + " FROM enrollments"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_us NULLS FIRST, id"
	if o.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, o.Limit)
	}
	rs, err := r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.db.wrap(op, err)
	}
	defer rs.Close()
	var out []*enroll.Enrollment
	for rs.Next() {
		e, err := rows.ScanEnroll(rs.Scan)
		if err != nil {
			return nil, s.db.wrap(op, err)
		}
		out = append(out, e)
	}
	if err := rs.Err(); err != nil {
		return nil, s.db.wrap(op, err)
	}
	return out, nil
}

// Audit implements enroll.Store.
func (s *EnrollStore) Audit(ctx context.Context, id string) ([]enroll.AuditEvent, error) {
	const op = "sqlite: audit"
	r, err := s.db.reader(op)
	if err != nil {
		return nil, err
	}
	// One read transaction, so the existence check and the events come
	// from the same snapshot.
	tx, err := r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, s.db.wrap(op, err)
	}
	defer tx.Rollback()
	var seq int64
	err = tx.QueryRowContext(ctx, `SELECT seq FROM enrollments WHERE id = ?`, id).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s %s: %w", op, id, enroll.ErrNotFound)
	}
	if err != nil {
		return nil, s.db.wrap(op, err)
	}
	rs, err := tx.QueryContext(ctx, "SELECT "+rows.AuditSelect+" FROM audit_events WHERE enrollment = ? ORDER BY n", seq)
	if err != nil {
		return nil, s.db.wrap(op, err)
	}
	defer rs.Close()
	out := []enroll.AuditEvent{}
	for rs.Next() {
		ev, err := rows.ScanAudit(rs.Scan, id)
		if err != nil {
			return nil, s.db.wrap(op, err)
		}
		out = append(out, ev)
	}
	if err := rs.Err(); err != nil {
		return nil, s.db.wrap(op, err)
	}
	return out, nil
}
