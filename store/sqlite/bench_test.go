package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/enrollkit/enrollkit/store/internal/benchdata"
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

// BenchmarkCheckin measures a device's requests against 100,000 enrolled
// devices (see benchdata.Checkin); TokenUpdate-steady also reports the
// database bytes per enrolled device.
func BenchmarkCheckin(b *testing.B) {
	db, perDevice := seeded(b)
	benchdata.Checkin(b, db.Enroll(), db.MDM(), func(b *testing.B) {
		b.ReportMetric(perDevice, "db-bytes/device")
	})
}
