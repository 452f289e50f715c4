package postgres_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
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

// BenchmarkYear simulates a year of 100,000 enrolled devices (see
// benchdata.Year) without and with the sweeps' pruning, and reports the
// database bytes per enrolled device (every table and index of the
// schema). Every simulated month ends with a plain VACUUM, as autovacuum
// would run in a month, so that deleted rows' space is reused. It takes
// minutes: run it with -benchtime=1x.
func BenchmarkYear(b *testing.B) {
	benchdata.Years(b, func(b *testing.B) (enroll.Store, mdm.Store, benchdata.YearStore) {
		db := seeded(b)
		return db.Enroll(), db.MDM(), benchdata.YearStore{
			Ack: func(ctx context.Context, uuid string, ids []mdm.EnrollmentID, at time.Time) error {
				return ackAll(ctx, db, uuid, ids, at)
			},
			Size: func(ctx context.Context) (int64, error) { return size(ctx, db) },
		}
	})
}

// ackAll stores the Acknowledged result of command uuid from every one of
// ids in one transaction, with the statement PutResult runs.
func ackAll(ctx context.Context, db *postgres.DB, uuid string, ids []mdm.EnrollmentID, at time.Time) error {
	q := rows.ResultUpdate(rows.QueueDone, func(n int) string { return "$" + strconv.Itoa(n) })
	tx, err := db.Pool().Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	batch := &pgx.Batch{}
	for _, id := range ids {
		args, err := rows.ResultArgs(id, benchdata.Ack(uuid, id, at))
		if err != nil {
			return err
		}
		batch.Queue(q, args...)
	}
	br := tx.SendBatch(ctx, batch)
	for range ids {
		tag, err := br.Exec()
		if err != nil {
			br.Close()
			return err
		}
		if tag.RowsAffected() != 1 {
			br.Close()
			return fmt.Errorf("ack %s: %d rows", uuid, tag.RowsAffected())
		}
	}
	if err := br.Close(); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// size vacuums the schema's tables, as autovacuum would, and returns the
// bytes they take with their indexes and TOAST.
func size(ctx context.Context, db *postgres.DB) (int64, error) {
	if _, err := db.Pool().Exec(ctx, `VACUUM enrollments, audit_events, mdm_enrollments, mdm_queue`); err != nil {
		return 0, err
	}
	var n int64
	err := db.Pool().QueryRow(ctx, `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
		JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = current_schema() AND c.relkind = 'r'`).Scan(&n)
	return n, err
}

// BenchmarkDDM measures declarative management on 100,000 enrollments
// assigned 50 declarations in four sets (see benchdata.DDM): the
// DeclarativeManagement check-in's requests and a change fanned out to the
// 10,000 enrollments of one set.
func BenchmarkDDM(b *testing.B) {
	ctx := context.Background()
	db := open(b)
	records := make([][]any, benchdata.Devices)
	for i := range benchdata.Devices {
		_, _, rec := benchdata.Enrolled(i)
		records[i] = rows.MDMValues(rec)
	}
	if _, err := db.Pool().CopyFrom(ctx, pgx.Identifier{"mdm_enrollments"}, rows.MDMColumns, pgx.CopyFromRows(records)); err != nil {
		b.Fatal(err)
	}
	if err := benchdata.DDMSeed(ctx, db.DDM(), benchdata.Devices); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Pool().Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	benchdata.DDM(b, db.DDM(), db.MDM(), benchdata.Devices)
}
