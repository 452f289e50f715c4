package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/store/internal/benchdata"
	"github.com/enrollkit/enrollkit/store/internal/rows"
	"github.com/enrollkit/enrollkit/store/postgres"
)

// seeded opens a DB in a fresh schema holding benchdata.Devices enrolled
// devices, copied in within one transaction.
func seeded(b *testing.B) *postgres.DB {
	b.Helper()
	ctx := context.Background()
	db := open(b)
	tx, err := db.Pool().Begin(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback(ctx)
	devices := make([][]any, benchdata.Devices)
	records := make([][]any, benchdata.Devices)
	events := make(map[string][]enroll.AuditEvent, benchdata.Devices)
	for i := range benchdata.Devices {
		e, evs, rec := benchdata.Enrolled(i)
		devices[i] = rows.EnrollValues(e, int64(len(evs)))
		records[i] = rows.MDMValues(rec)
		events[e.ID] = evs
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"enrollments"}, rows.EnrollColumns, pgx.CopyFromRows(devices)); err != nil {
		b.Fatal(err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"mdm_enrollments"}, rows.MDMColumns, pgx.CopyFromRows(records)); err != nil {
		b.Fatal(err)
	}
	rs, err := tx.Query(ctx, `SELECT seq, id FROM enrollments`)
	if err != nil {
		b.Fatal(err)
	}
	var audit [][]any
	for rs.Next() {
		var (
			seq int64
			id  string
		)
		if err := rs.Scan(&seq, &id); err != nil {
			b.Fatal(err)
		}
		for k := range events[id] {
			audit = append(audit, append([]any{seq}, rows.AuditValues(&events[id][k])...))
		}
	}
	if err := rs.Err(); err != nil {
		b.Fatal(err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_events"}, append([]string{"enrollment"}, rows.AuditColumns...), pgx.CopyFromRows(audit)); err != nil {
		b.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Pool().Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	return db
}

// BenchmarkCheckin measures a device's requests against 100,000 enrolled
// devices (see benchdata.Checkin).
func BenchmarkCheckin(b *testing.B) {
	db := seeded(b)
	benchdata.Checkin(b, db.Enroll(), db.MDM(), nil)
}
