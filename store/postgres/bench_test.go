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

// BenchmarkCheckin measures the store work of one TokenUpdate check-in
// against 100,000 enrolled devices: the mdm side (certificate look-up, look-up
// by enrollment ID, the record rewritten with the certificate bound and the
// new token) and the enroll side (look-up by device, versioned update with
// its audit event).
func BenchmarkCheckin(b *testing.B) {
	ctx := context.Background()
	db := seeded(b)
	es, ms := db.Enroll(), db.MDM()
	var total, mdmPart, enrollPart []time.Duration
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		n := (i * 7919) % benchdata.Devices
		i++
		fp, dev := benchdata.Fingerprint(n), benchdata.DeviceID(n)
		t0 := time.Now()
		if id, err := ms.EnrollmentByCertificate(ctx, fp); err != nil || id != dev {
			b.Fatalf("by certificate: %v %v", id, err)
		}
		rec, err := ms.Enrollment(ctx, dev)
		if err != nil {
			b.Fatal(err)
		}
		rec.Token = append(rec.Token[:0:0], rec.Token...)
		rec.Token[0]++
		rec.UpdatedAt = time.Now()
		if err := ms.PutEnrollment(ctx, rec); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		e, err := es.Find(ctx, enroll.IndexDevice, string(dev))
		if err != nil {
			b.Fatal(err)
		}
		e.UpdatedAt = t1
		ev := enroll.AuditEvent{EnrollmentID: e.ID, Time: t1, Event: enroll.EventTokenUpdate,
			From: enroll.StateEnrolled, To: enroll.StateEnrolled, Actor: string(dev), ClientIP: "198.51.100.7", UserAgent: "MDM/1.0"}
		if err := es.Update(ctx, e, e.Version, ev); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		total = append(total, t2.Sub(t0))
		mdmPart = append(mdmPart, t1.Sub(t0))
		enrollPart = append(enrollPart, t2.Sub(t1))
	}
	p50(b, total, "p50-µs")
	p50(b, mdmPart, "mdm-p50-µs")
	p50(b, enrollPart, "enroll-p50-µs")
}

// BenchmarkCommandFetch measures a device fetching its next command
// (NextCommand leases it) against 100,000 enrolled devices with queued
// commands; the acknowledgement that completes it is timed separately.
func BenchmarkCommandFetch(b *testing.B) {
	ctx := context.Background()
	db := seeded(b)
	ms := db.MDM()
	ids := make([]mdm.EnrollmentID, benchdata.Devices)
	for i := range ids {
		ids[i] = benchdata.DeviceID(i)
	}
	enqueue := func(round int) {
		cmd, err := mdm.NewCommand(fmt.Sprintf("bench-%d", round), map[string]any{"RequestType": "ProfileList"})
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
			enqueue(i / benchdata.Devices) // every device acknowledged its command
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
