package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/store/internal/benchdata"
)

// seeded opens a database in b.TempDir holding benchdata.Devices enrolled
// devices, inserted in one transaction, and returns it with the database
// bytes per enrolled device.
func seeded(b *testing.B) (*DB, float64) {
	b.Helper()
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "bench.db")
	db, err := Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	es, ms := db.Enroll(), db.MDM()
	err = db.writeTx(ctx, "seed", func(tx *wtx) error {
		for i := range benchdata.Devices {
			e, events, rec := benchdata.Enrolled(i)
			if err := es.insert(ctx, tx, "seed", e, events); err != nil {
				return err
			}
			if err := ms.put(ctx, tx, "seed", rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.write.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
	var size int64
	for _, f := range []string{path, path + "-wal"} {
		if st, err := os.Stat(f); err == nil {
			size += st.Size()
		}
	}
	return db, float64(size) / benchdata.Devices
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
	db, perDevice := seeded(b)
	es, ms := db.Enroll(), db.MDM()
	var total, mdmPart, enrollPart []time.Duration
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		n := (i * 7919) % benchdata.Devices // spread over the table
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
	b.ReportMetric(perDevice, "db-bytes/device")
	p50(b, total, "p50-µs")
	p50(b, mdmPart, "mdm-p50-µs")
	p50(b, enrollPart, "enroll-p50-µs")
}

// BenchmarkCommandFetch measures a device fetching its next command
// (NextCommand leases it) against 100,000 enrolled devices with queued
// commands; the acknowledgement that completes it is timed separately.
func BenchmarkCommandFetch(b *testing.B) {
	ctx := context.Background()
	db, _ := seeded(b)
	ms := db.MDM()
	ids := make([]mdm.EnrollmentID, benchdata.Devices)
	for i := range ids {
		ids[i] = benchdata.DeviceID(i)
	}
	cmd, err := mdm.NewCommand("bench-0", map[string]any{"RequestType": "ProfileList"})
	if err != nil {
		b.Fatal(err)
	}
	if err := ms.Enqueue(ctx, cmd, ids); err != nil {
		b.Fatal(err)
	}
	var fetch, ack []time.Duration
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		n := (i * 7919) % benchdata.Devices
		round := i / benchdata.Devices
		i++
		if round > 0 && i%benchdata.Devices == 1 {
			// Every device has acknowledged its command: queue the
			// next round (untimed in the percentiles).
			next, _ := mdm.NewCommand("bench-"+string(rune('0'+round)), map[string]any{"RequestType": "ProfileList"})
			if err := ms.Enqueue(ctx, next, ids); err != nil {
				b.Fatal(err)
			}
		}
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
