package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

// p50 reports the median of d in microseconds.
func p50(b *testing.B, d []time.Duration, unit string) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Nanoseconds())/1e3, unit)
}

// BenchmarkCheckin measures a device's requests against 100,000 enrolled
// devices, through the real hooks: an enroll.Service is the mdm Prechecker
// and Observer, and the mdm store calls are those package mdm makes.
//
//   - TokenUpdate-steady: a TokenUpdate from a device that is already
//     Enrolled (the mdm record is rewritten; enroll only reads).
//   - TokenUpdate-first: the first TokenUpdate of a checked-in device, which
//     moves its enrollment to Enrolled with an audit event. Putting the
//     device back to CheckedIn is not timed.
//   - CommandFetch: a device fetching its next command (NextCommand leases
//     it); the acknowledgement that completes it is reported as ack-p50-µs.
func BenchmarkCheckin(b *testing.B) {
	db := seeded(b)
	svc, err := benchdata.NewService(db.Enroll())
	if err != nil {
		b.Fatal(err)
	}
	b.Run("TokenUpdate-steady", func(b *testing.B) { benchTokenUpdate(b, db, svc, false) })
	b.Run("TokenUpdate-first", func(b *testing.B) { benchTokenUpdate(b, db, svc, true) })
	b.Run("CommandFetch", func(b *testing.B) { benchCommandFetch(b, db) })
}

// benchTokenUpdate times TokenUpdate check-ins spread over the table; with
// first, each device is put back to CheckedIn (untimed) beforehand.
func benchTokenUpdate(b *testing.B, db *postgres.DB, h benchdata.Hooks, first bool) {
	ctx := context.Background()
	es, ms := db.Enroll(), db.MDM()
	var took []time.Duration
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		n := (i * 7919) % benchdata.Devices // spread over the table
		i++
		if first {
			b.StopTimer()
			if err := benchdata.CheckedIn(ctx, es, n, time.Now()); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		t0 := time.Now()
		if err := benchdata.TokenUpdate(ctx, ms, h, n, i, t0); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(t0))
	}
	b.StopTimer()
	if st, err := benchdata.State(ctx, es, (i-1)*7919%benchdata.Devices); err != nil || st != enroll.StateEnrolled {
		b.Fatalf("after the TokenUpdate the enrollment is %q (%v), want %q", st, err, enroll.StateEnrolled)
	}
	p50(b, took, "p50-µs")
}

// fetchRuns counts the runs of benchCommandFetch.
var fetchRuns int

// benchCommandFetch queues a command for every device and times fetching
// and acknowledging it, spread over the table.
func benchCommandFetch(b *testing.B, db *postgres.DB) {
	ctx := context.Background()
	ms := db.MDM()
	ids := make([]mdm.EnrollmentID, benchdata.Devices)
	for i := range ids {
		ids[i] = benchdata.DeviceID(i)
	}
	// -count runs this again on the same database: every run queues
	// commands of its own.
	fetchRuns++
	enqueue := func(round int) {
		cmd, err := mdm.NewCommand(fmt.Sprintf("bench-%d-%d", fetchRuns, round), map[string]any{"RequestType": "ProfileList"})
		if err != nil {
			b.Fatal(err)
		}
		if err := ms.Enqueue(ctx, cmd, ids); err != nil {
			b.Fatal(err)
		}
	}
	enqueue(0)
	var fetch, ack []time.Duration
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		n := (i * 7919) % benchdata.Devices
		if i > 0 && i%benchdata.Devices == 0 {
			b.StopTimer()
			enqueue(i / benchdata.Devices) // every device acknowledged its command
			b.StartTimer()
		}
		i++
		t0 := time.Now()
		c, err := ms.NextCommand(ctx, ids[n], t0, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		err = ms.PutResult(ctx, ids[n], &mdm.CommandResult{Status: mdm.StatusAcknowledged, CommandUUID: c.UUID,
			Identity: mdm.Identity{EnrollmentID: string(ids[n])}, Raw: []byte("<plist><dict/></plist>")})
		if err != nil && !errors.Is(err, mdm.ErrNotFound) {
			b.Fatal(err)
		}
		fetch = append(fetch, t1.Sub(t0))
		ack = append(ack, time.Since(t1))
	}
	p50(b, fetch, "p50-µs")
	p50(b, ack, "ack-p50-µs")
}
