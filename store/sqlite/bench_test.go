package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/store/internal/benchdata"
	"github.com/enrollkit/enrollkit/store/internal/rows"
)

// seeded opens a database in b.TempDir holding benchdata.Devices enrolled
// devices, inserted in one transaction, and returns it with the database
// bytes per enrolled device.
func seeded(b *testing.B) (*DB, float64) {
	b.Helper()
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "bench.db")
	db, err := Open(ctx, path, Options{})
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
	size, err := db.size(ctx)
	if err != nil {
		b.Fatal(err)
	}
	return db, float64(size) / benchdata.Devices
}

// size checkpoints the write-ahead log into the database file and returns
// the size of both files.
func (db *DB) size(ctx context.Context) (int64, error) {
	if _, err := db.write.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return 0, err
	}
	var size int64
	for _, f := range []string{db.path, db.path + "-wal"} {
		if st, err := os.Stat(f); err == nil {
			size += st.Size()
		}
	}
	return size, nil
}

// BenchmarkCheckin measures a device's requests against 100,000 enrolled
// devices (see benchdata.Checkin); TokenUpdate-steady also reports the
// database bytes per enrolled device.
func BenchmarkCheckin(b *testing.B) {
	db, perDevice := seeded(b)
	benchdata.Checkin(b, db.Enroll(), db.MDM(), func(b *testing.B) {
		b.ReportMetric(perDevice, "db-bytes/device")
	})
}

// BenchmarkYear simulates a year of 100,000 enrolled devices (see
// benchdata.Year) without and with the sweeps' pruning, and reports the
// database bytes per enrolled device. It takes minutes: run it with
// -benchtime=1x.
func BenchmarkYear(b *testing.B) {
	benchdata.Years(b, func(b *testing.B) (enroll.Store, mdm.Store, benchdata.YearStore) {
		db, _ := seeded(b)
		return db.Enroll(), db.MDM(), benchdata.YearStore{Ack: db.ackAll, Size: db.size}
	})
}

// ackAll stores the Acknowledged result of command uuid from every one of
// ids in one write transaction, with the statement PutResult runs.
func (db *DB) ackAll(ctx context.Context, uuid string, ids []mdm.EnrollmentID, at time.Time) error {
	return db.writeTx(ctx, "ack", func(tx *wtx) error {
		st, err := db.txStmt(ctx, tx, resultUpdates[rows.QueueDone])
		if err != nil {
			return err
		}
		for _, id := range ids {
			args, err := rows.ResultArgs(id, benchdata.Ack(uuid, id, at))
			if err != nil {
				return err
			}
			r, err := st.ExecContext(ctx, args...)
			if err != nil {
				return err
			}
			if n, _ := r.RowsAffected(); n != 1 {
				return fmt.Errorf("ack %s for %s: %d rows", uuid, id, n)
			}
		}
		return nil
	})
}

// BenchmarkDDM measures declarative management on 100,000 enrollments
// assigned 50 declarations in four sets (see benchdata.DDM): the
// DeclarativeManagement check-in's requests and a change fanned out to the
// 10,000 enrollments of one set.
func BenchmarkDDM(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(b.TempDir(), "bench.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	ms := db.MDM()
	err = db.writeTx(ctx, "seed", func(tx *wtx) error {
		for i := range benchdata.Devices {
			_, _, rec := benchdata.Enrolled(i)
			if err := ms.put(ctx, tx, "seed", rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := benchdata.DDMSeed(ctx, db.DDM(), benchdata.Devices); err != nil {
		b.Fatal(err)
	}
	benchdata.DDM(b, db.DDM(), ms, benchdata.Devices)
}
