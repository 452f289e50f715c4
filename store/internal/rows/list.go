package rows

import (
	"strings"

	"github.com/enrollkit/enrollkit/enroll"
)

// ListQuery returns the SELECT that answers enroll.Store.List for o, and its
// arguments. The dialect differs only in how the SQL names the n-th argument
// (arg, counting from 1) and in the term that orders IDs as Go compares
// strings (orderID); the filtering and ordering are the same for every
// store: enrollments without a creation time first, then by creation time,
// then by ID.
func ListQuery(o enroll.ListOptions, arg func(n int) string, orderID string) (string, []any) {
	var (
		where []string
		args  []any
	)
	add := func(v any) string {
		args = append(args, v)
		return arg(len(args))
	}
	if o.UserID != "" {
		where = append(where, "user_id = "+add(o.UserID))
	}
	if o.ManagedAppleID != "" {
		where = append(where, "managed_apple_id = "+add(o.ManagedAppleID))
	}
	if len(o.States) > 0 {
		in := make([]string, len(o.States))
		for i, st := range o.States {
			in[i] = add(string(st))
		}
		where = append(where, "state IN ("+strings.Join(in, ", ")+")")
	}
	if !o.ExpiresBefore.IsZero() {
		where = append(where, "expires_us IS NOT NULL AND expires_us <= "+add(o.ExpiresBefore.UnixMicro()))
	}
	q := "SELECT " + EnrollSelect + " FROM enrollments"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_us NULLS FIRST, " + orderID
	if o.Limit > 0 {
		q += " LIMIT " + add(o.Limit)
	}
	return q, args
}

// Rows is what both drivers' query results offer: *sql.Rows and pgx.Rows.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// CollectEnroll reads every enrollment rs returns (columns EnrollColumns;
// compact as for ScanEnroll), in order. It does not close rs.
func CollectEnroll(rs Rows, compact bool) ([]*enroll.Enrollment, error) {
	var out []*enroll.Enrollment
	for rs.Next() {
		e, err := ScanEnroll(rs.Scan, compact)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rs.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
