package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/store/internal/rows"
)

var _ enroll.Store = (*EnrollStore)(nil)

// EnrollStore is the enroll.Store of a DB. Get it with DB.Enroll.
type EnrollStore struct{ db *DB }

// Enroll returns the database's enroll.Store.
func (db *DB) Enroll() *EnrollStore { return &EnrollStore{db: db} }

// indexedColumns are the enrollment columns some index covers. Update
// rewrites them only when one of them changes: an index entry rewritten to
// the same value still costs a page write.
var indexedColumns = []string{
	"invitation_hash", "download_hash", "access_token_hash", "challenge_hash",
	"certificate_hash", "device_id", "user_id", "expires_us",
}

// setList returns "c1 = ?, c2 = ?, …" for the enrollment columns after id,
// leaving out the indexed ones unless withIndexed.
func setList(withIndexed bool) string {
	var set []string
	for _, c := range rows.EnrollColumns[1:] {
		if withIndexed || !slices.Contains(indexedColumns, c) {
			set = append(set, c+" = ?")
		}
	}
	return strings.Join(set, ", ")
}

// updateArgs returns the SET arguments for setList(withIndexed) from
// values (EnrollValues, compacted).
func updateArgs(values []any, withIndexed bool) []any {
	args := make([]any, 0, len(values))
	for i, c := range rows.EnrollColumns[1:] {
		if withIndexed || !slices.Contains(indexedColumns, c) {
			args = append(args, values[i+1])
		}
	}
	return args
}

var (
	enrollInsert = writeQuery("INSERT INTO enrollments (" + rows.EnrollSelect + ") VALUES (" +
		strings.TrimSuffix(strings.Repeat("?, ", len(rows.EnrollColumns)), ", ") + ") ON CONFLICT (id) DO NOTHING")
	// enrollCurrent reads what Update compares before it writes.
	enrollCurrent = writeQuery("SELECT seq, version, " + strings.Join(indexedColumns, ", ") +
		" FROM enrollments WHERE id = ?")
	// enrollUpdateSame is the common case in one statement: the version
	// matches and no indexed column changes.
	enrollUpdateSame = writeQuery("UPDATE enrollments SET " + setList(false) + " WHERE id = ? AND version = ? AND " +
		strings.Join(indexedColumns, " IS ? AND ") + " IS ? RETURNING seq")
	enrollUpdateAll = writeQuery("UPDATE enrollments SET " + setList(true) + " WHERE seq = ?")
	// auditInsert appends one event after the enrollment's last.
	auditInsert = writeQuery("INSERT INTO audit_events (enrollment, n, " + rows.AuditSelect + ") VALUES (?1, " +
		"(SELECT COALESCE(MAX(n) + 1, 0) FROM audit_events WHERE enrollment = ?1), " +
		strings.TrimSuffix(strings.Repeat("?, ", len(rows.AuditColumns)), ", ") + ")")
	textSelect = writeQuery(`SELECT id FROM texts WHERE value = ?`)
	textInsert = writeQuery(`INSERT INTO texts (value) VALUES (?) RETURNING id`)
)

// Create implements enroll.Store.
func (s *EnrollStore) Create(ctx context.Context, e *enroll.Enrollment, events ...enroll.AuditEvent) error {
	const op = "sqlite: create enrollment"
	if e == nil || e.ID == "" {
		return fmt.Errorf("%s: enrollment without ID: %w", op, enroll.ErrInvalidInput)
	}
	err := s.db.writeTx(ctx, op, func(tx *wtx) error { return s.insert(ctx, tx, op, e, events) })
	if err != nil {
		return err
	}
	e.Version = 1
	return nil
}

// insert stores a new enrollment at version 1 with its events in tx.
func (s *EnrollStore) insert(ctx context.Context, tx *wtx, op string, e *enroll.Enrollment, events []enroll.AuditEvent) error {
	st, err := s.db.txStmt(ctx, tx, enrollInsert)
	if err != nil {
		return s.db.wrap(op, err)
	}
	res, err := st.ExecContext(ctx, rows.CompactEnrollValues(rows.EnrollValues(e, 1))...)
	if err != nil {
		return s.db.wrap(op, deviceInUse(op, e, err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%s %s: %w", op, e.ID, enroll.ErrExists)
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return s.db.wrap(op, err)
	}
	return s.appendAudit(ctx, tx, op, seq, events)
}

// appendAudit appends events to the audit trail of enrollment seq, their
// strings interned in texts.
func (s *EnrollStore) appendAudit(ctx context.Context, tx *wtx, op string, seq int64, events []enroll.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	st, err := s.db.txStmt(ctx, tx, auditInsert)
	if err != nil {
		return s.db.wrap(op, err)
	}
	for i := range events {
		args := append([]any{seq}, rows.AuditValues(&events[i])...)
		for k := 2; k < len(args); k++ { // after enrollment and time
			if args[k], err = s.db.textID(ctx, tx, args[k].(string)); err != nil {
				return s.db.wrap(op, err)
			}
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return s.db.wrap(op, err)
		}
	}
	return nil
}

// Get implements enroll.Store.
func (s *EnrollStore) Get(ctx context.Context, id string) (*enroll.Enrollment, error) {
	const op = "sqlite: get enrollment"
	st, err := s.db.readStmt(ctx, op, "SELECT "+rows.EnrollSelect+" FROM enrollments WHERE id = ?")
	if err != nil {
		return nil, err
	}
	e, err := rows.ScanEnroll(st.QueryRowContext(ctx, id).Scan, true)
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
	if key == "" {
		if _, err := s.db.reader(op); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%s by %s: empty key: %w", op, index, enroll.ErrNotFound)
	}
	var arg any = key
	if rows.IsHexColumn(col) {
		arg = rows.CompactHex(key)
	}
	// The "!= ''" term lets SQLite use the partial index. A key almost
	// always names one row, so the newest of several is picked here rather
	// than by an ORDER BY, which would make SQLite build a temporary b-tree
	// for every look-up.
	st, err := s.db.readStmt(ctx, op, "SELECT "+rows.EnrollSelect+" FROM enrollments WHERE "+col+" = ? AND "+col+" != ''")
	if err != nil {
		return nil, err
	}
	rs, err := st.QueryContext(ctx, arg)
	if err != nil {
		return nil, s.db.wrap(op, err)
	}
	defer rs.Close()
	var newest *enroll.Enrollment
	for rs.Next() {
		e, err := rows.ScanEnroll(rs.Scan, true)
		if err != nil {
			return nil, s.db.wrap(op, err)
		}
		if newest == nil || newer(e, newest) {
			newest = e
		}
	}
	if err := rs.Err(); err != nil {
		return nil, s.db.wrap(op, err)
	}
	if newest == nil {
		return nil, fmt.Errorf("%s by %s: %w", op, index, enroll.ErrNotFound)
	}
	return newest, nil
}

// newer reports whether a comes before b in Find's order: the latest
// creation time first, enrollments without one last, then the greatest ID.
func newer(a, b *enroll.Enrollment) bool {
	switch {
	case a.CreatedAt.IsZero() != b.CreatedAt.IsZero():
		return b.CreatedAt.IsZero()
	case !a.CreatedAt.Equal(b.CreatedAt):
		return a.CreatedAt.After(b.CreatedAt)
	}
	return a.ID > b.ID
}

// Update implements enroll.Store.
func (s *EnrollStore) Update(ctx context.Context, e *enroll.Enrollment, expectedVersion int64, events ...enroll.AuditEvent) error {
	const op = "sqlite: update enrollment"
	if e == nil || e.ID == "" {
		return fmt.Errorf("%s: enrollment without ID: %w", op, enroll.ErrInvalidInput)
	}
	next := expectedVersion + 1
	err := s.db.writeTx(ctx, op, func(tx *wtx) error {
		values := rows.CompactEnrollValues(rows.EnrollValues(e, next))
		indexed := make([]any, len(indexedColumns))
		for i, c := range indexedColumns {
			indexed[i] = values[slices.Index(rows.EnrollColumns, c)]
		}
		same, err := s.db.txStmt(ctx, tx, enrollUpdateSame)
		if err != nil {
			return s.db.wrap(op, err)
		}
		var seq int64
		args := append(append(updateArgs(values, false), e.ID, expectedVersion), indexed...)
		switch err := same.QueryRowContext(ctx, args...).Scan(&seq); {
		case err == nil:
			return s.appendAudit(ctx, tx, op, seq, events)
		case !errors.Is(err, sql.ErrNoRows):
			return s.db.wrap(op, deviceInUse(op, e, err))
		}
		// Missing, a version conflict, or an indexed column changes.
		// The write transaction holds SQLite's write lock from its
		// first statement, so the version read here cannot change
		// before the UPDATE: the compare-and-swap is the read.
		cur, err := s.db.txStmt(ctx, tx, enrollCurrent)
		if err != nil {
			return s.db.wrap(op, err)
		}
		old := make([]any, 2+len(indexedColumns))
		dest := make([]any, len(old))
		for i := range old {
			dest[i] = &old[i]
		}
		err = cur.QueryRowContext(ctx, e.ID).Scan(dest...)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%s %s: %w", op, e.ID, enroll.ErrNotFound)
		}
		if err != nil {
			return s.db.wrap(op, err)
		}
		seq, version := old[0].(int64), old[1].(int64)
		if version != expectedVersion {
			return fmt.Errorf("%s %s: version %d, expected %d: %w", op, e.ID, version, expectedVersion, enroll.ErrVersionConflict)
		}
		st, err := s.db.txStmt(ctx, tx, enrollUpdateAll)
		if err != nil {
			return s.db.wrap(op, err)
		}
		if _, err := st.ExecContext(ctx, append(updateArgs(values, true), seq)...); err != nil {
			return s.db.wrap(op, deviceInUse(op, e, err))
		}
		return s.appendAudit(ctx, tx, op, seq, events)
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
	q, args := rows.ListQuery(o, qmark, "id")
	rs, err := r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.db.wrap(op, err)
	}
	defer rs.Close()
	out, err := rows.CollectEnroll(rs, true)
	if err != nil {
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
	rs, err := tx.QueryContext(ctx, auditSelect, seq)
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

// auditSelect reads an enrollment's events with their strings resolved.
var auditSelect = func() string {
	cols := []string{"a.time_us"}
	for _, c := range rows.AuditColumns[1:] {
		cols = append(cols, "COALESCE((SELECT value FROM texts WHERE id = a."+c+"), '')")
	}
	return "SELECT " + strings.Join(cols, ", ") + " FROM audit_events a WHERE a.enrollment = ? ORDER BY a.n"
}()

// deviceInUse maps a violation of the unique index on the device ids of
// live enrollments (enrollments_device_live) to enroll.ErrDeviceInUse, and
// returns any other error as it is.
func deviceInUse(op string, e *enroll.Enrollment, err error) error {
	if isUniqueViolation(err) && strings.Contains(err.Error(), "enrollments.device_id") {
		return fmt.Errorf("%s %s: device %q: %w", op, e.ID, e.DeviceID, enroll.ErrDeviceInUse)
	}
	return err
}
