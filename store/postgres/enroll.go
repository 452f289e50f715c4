package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/store/internal/rows"
)

var _ enroll.Store = (*EnrollStore)(nil)

// EnrollStore is the enroll.Store of a DB. Get it with DB.Enroll.
type EnrollStore struct{ db *DB }

// Enroll returns the database's enroll.Store.
func (db *DB) Enroll() *EnrollStore { return &EnrollStore{db: db} }

// placeholders returns "$from, $from+1, …" for n parameters.
func placeholders(from, n int) string {
	p := make([]string, n)
	for i := range p {
		p[i] = "$" + strconv.Itoa(from+i)
	}
	return strings.Join(p, ", ")
}

// auditUnnest selects the events passed as one array per audit column
// (parameters from, from+1, …) in their order, after the enrollment seq
// that CTE src returns.
func auditUnnest(src string, from int) string {
	arrays := make([]string, len(rows.AuditColumns))
	for i, c := range rows.AuditColumns {
		typ := "text[]"
		if strings.HasSuffix(c, "_us") {
			typ = "bigint[]"
		}
		arrays[i] = "$" + strconv.Itoa(from+i) + "::" + typ
	}
	return "INSERT INTO audit_events (enrollment, " + rows.AuditSelect + ") SELECT " + src + ".seq, " +
		prefixed("v.", rows.AuditColumns) + " FROM " + src + ", unnest(" + strings.Join(arrays, ", ") +
		") WITH ORDINALITY AS v (" + rows.AuditSelect + ", ord) ORDER BY v.ord"
}

// auditArrays returns events as the arrays auditUnnest expects.
func auditArrays(events []enroll.AuditEvent) []any {
	cols := make([][]any, len(rows.AuditColumns))
	for i := range events {
		for k, v := range rows.AuditValues(&events[i]) {
			cols[k] = append(cols[k], v)
		}
	}
	out := make([]any, len(cols))
	for k, c := range cols {
		if strings.HasSuffix(rows.AuditColumns[k], "_us") {
			a := make([]*int64, len(c))
			for i, v := range c {
				if n, ok := v.(int64); ok {
					a[i] = &n
				}
			}
			out[k] = a
			continue
		}
		a := make([]string, len(c))
		for i, v := range c {
			a[i] = v.(string)
		}
		out[k] = a
	}
	return out
}

// Create and Update are one statement each (one round trip, atomic by
// itself): the row and its audit events are written by data-modifying CTEs.
var (
	enrollInsert = "WITH c AS (INSERT INTO enrollments (" + rows.EnrollSelect + ") VALUES (" +
		placeholders(1, len(rows.EnrollColumns)) + ") ON CONFLICT (id) DO NOTHING RETURNING seq), a AS (" +
		auditUnnest("c", len(rows.EnrollColumns)+1) + ") SELECT seq FROM c"
	// enrollUpdate sets every column but id from $2…, matching id = $1 and
	// version = $N.
	enrollUpdate = func() string {
		set := make([]string, 0, len(rows.EnrollColumns)-1)
		for i, c := range rows.EnrollColumns[1:] {
			set = append(set, c+" = $"+strconv.Itoa(i+2))
		}
		n := len(rows.EnrollColumns) + 1
		return "WITH u AS (UPDATE enrollments SET " + strings.Join(set, ", ") +
			" WHERE id = $1 AND version = $" + strconv.Itoa(n) + " RETURNING seq), a AS (" +
			auditUnnest("u", n+1) + ") SELECT seq FROM u"
	}()
)

// Create implements enroll.Store.
func (s *EnrollStore) Create(ctx context.Context, e *enroll.Enrollment, events ...enroll.AuditEvent) error {
	const op = "postgres: create enrollment"
	if e == nil || e.ID == "" {
		return fmt.Errorf("%s: enrollment without ID: %w", op, enroll.ErrInvalidInput)
	}
	p, err := s.db.q(op)
	if err != nil {
		return err
	}
	var seq int64
	err = p.QueryRow(ctx, enrollInsert, append(rows.EnrollValues(e, 1), auditArrays(events)...)...).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s %s: %w", op, e.ID, enroll.ErrExists)
	}
	if err != nil {
		return s.db.wrap(op, deviceInUse(op, e, err))
	}
	e.Version = 1
	return nil
}

// Get implements enroll.Store.
func (s *EnrollStore) Get(ctx context.Context, id string) (*enroll.Enrollment, error) {
	const op = "postgres: get enrollment"
	p, err := s.db.q(op)
	if err != nil {
		return nil, err
	}
	e, err := rows.ScanEnroll(p.QueryRow(ctx, "SELECT "+rows.EnrollSelect+" FROM enrollments WHERE id = $1", id).Scan, false)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%s %s: %w", op, id, enroll.ErrNotFound)
	}
	if err != nil {
		return nil, s.db.wrap(op, err)
	}
	return e, nil
}

// Find implements enroll.Store.
func (s *EnrollStore) Find(ctx context.Context, index enroll.Index, key string) (*enroll.Enrollment, error) {
	const op = "postgres: find enrollment"
	col, err := rows.IndexColumn(index)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	p, err := s.db.q(op)
	if err != nil {
		return nil, err
	}
	if key == "" {
		return nil, fmt.Errorf("%s by %s: empty key: %w", op, index, enroll.ErrNotFound)
	}
	// The "<> ''" term lets the planner use the partial index.
	q := "SELECT " + rows.EnrollSelect + " FROM enrollments WHERE " + col + " = $1 AND " + col +
		" <> '' ORDER BY created_us DESC NULLS LAST, id DESC LIMIT 1"
	e, err := rows.ScanEnroll(p.QueryRow(ctx, q, key).Scan, false)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%s by %s: %w", op, index, enroll.ErrNotFound)
	}
	if err != nil {
		return nil, s.db.wrap(op, err)
	}
	return e, nil
}

// Update implements enroll.Store. The UPDATE matches the expected version,
// so of several replicas updating the same enrollment exactly one matches;
// the others wait for its row lock, then find the new version and write
// nothing (their audit events included: they are inserted only for the row
// the UPDATE returned).
func (s *EnrollStore) Update(ctx context.Context, e *enroll.Enrollment, expectedVersion int64, events ...enroll.AuditEvent) error {
	const op = "postgres: update enrollment"
	if e == nil || e.ID == "" {
		return fmt.Errorf("%s: enrollment without ID: %w", op, enroll.ErrInvalidInput)
	}
	p, err := s.db.q(op)
	if err != nil {
		return err
	}
	next := expectedVersion + 1
	args := append(append(rows.EnrollValues(e, next), expectedVersion), auditArrays(events)...)
	var seq int64
	err = p.QueryRow(ctx, enrollUpdate, args...).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		var version int64
		err := p.QueryRow(ctx, `SELECT version FROM enrollments WHERE id = $1`, e.ID).Scan(&version)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%s %s: %w", op, e.ID, enroll.ErrNotFound)
		}
		if err != nil {
			return s.db.wrap(op, err)
		}
		return fmt.Errorf("%s %s: version %d, expected %d: %w", op, e.ID, version, expectedVersion, enroll.ErrVersionConflict)
	}
	if err != nil {
		return s.db.wrap(op, deviceInUse(op, e, err))
	}
	e.Version = next
	return nil
}

// List implements enroll.Store.
func (s *EnrollStore) List(ctx context.Context, o enroll.ListOptions) ([]*enroll.Enrollment, error) {
	const op = "postgres: list enrollments"
	p, err := s.db.q(op)
	if err != nil {
		return nil, err
	}
	// COLLATE "C" orders IDs bytewise, as Go compares strings.
	q, args := rows.ListQuery(o, dollar, `id COLLATE "C"`)
	rs, err := p.Query(ctx, q, args...)
	if err != nil {
		return nil, s.db.wrap(op, err)
	}
	defer rs.Close()
	out, err := rows.CollectEnroll(rs, false)
	if err != nil {
		return nil, s.db.wrap(op, err)
	}
	return out, nil
}

// Audit implements enroll.Store.
func (s *EnrollStore) Audit(ctx context.Context, id string) ([]enroll.AuditEvent, error) {
	const op = "postgres: audit"
	p, err := s.db.q(op)
	if err != nil {
		return nil, err
	}
	// The LEFT JOIN tells a missing enrollment (no row) from one without
	// events (one row whose event columns are NULL) in one statement, so
	// both come from the same snapshot.
	rs, err := p.Query(ctx, `SELECT a.seq, `+auditCoalesced+`
		FROM enrollments e LEFT JOIN audit_events a ON a.enrollment = e.seq
		WHERE e.id = $1 ORDER BY a.seq`, id)
	if err != nil {
		return nil, s.db.wrap(op, err)
	}
	defer rs.Close()
	var out []enroll.AuditEvent
	for rs.Next() {
		if out == nil {
			out = []enroll.AuditEvent{}
		}
		var seq *int64
		ev, err := rows.ScanAudit(func(dest ...any) error {
			return rs.Scan(append([]any{&seq}, dest...)...)
		}, id)
		if err != nil {
			return nil, s.db.wrap(op, err)
		}
		if seq != nil {
			out = append(out, ev)
		}
	}
	if err := rs.Err(); err != nil {
		return nil, s.db.wrap(op, err)
	}
	if out == nil {
		return nil, fmt.Errorf("%s %s: %w", op, id, enroll.ErrNotFound)
	}
	return out, nil
}

// auditCoalesced selects the audit columns of a, with empty strings for the
// NULLs of a missing row (time_us stays NULL).
var auditCoalesced = func() string {
	out := make([]string, len(rows.AuditColumns))
	for i, c := range rows.AuditColumns {
		if strings.HasSuffix(c, "_us") {
			out[i] = "a." + c
		} else {
			out[i] = "COALESCE(a." + c + ", '')"
		}
	}
	return strings.Join(out, ", ")
}()

// prefixed returns cols joined with ", ", each prefixed with p.
func prefixed(p string, cols []string) string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = p + c
	}
	return strings.Join(out, ", ")
}

// deviceInUse maps a violation of the unique index on the device ids of
// live enrollments (enrollments_device_live) to enroll.ErrDeviceInUse, and
// returns any other error as it is.
func deviceInUse(op string, e *enroll.Enrollment, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "enrollments_device_live" {
		return fmt.Errorf("%s %s: device %q: %w", op, e.ID, e.DeviceID, enroll.ErrDeviceInUse)
	}
	return err
}
