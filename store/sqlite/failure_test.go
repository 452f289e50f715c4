package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/enrollkit/enrollkit/store/internal/storetest"
)

func TestClosedStores(t *testing.T) {
	db := openTest(t)
	storetest.Closed(t, db.Enroll(), db.MDM(), func() { db.Close() }, ErrClosed, "sqlite: ")
}

// TestFailureBeforeCommit makes every write transaction fail after its
// statements ran (an I/O error, a cancelled request) and checks that the
// caller gets the error and that nothing of the transaction remains.
func TestFailureBeforeCommit(t *testing.T) {
	tests := []struct {
		name string
		hook func(context.Context, *sql.Tx) error
	}{
		{"error", func(context.Context, *sql.Tx) error { return errors.New("disk on fire") }},
		{"connection closed under the transaction", func(_ context.Context, tx *sql.Tx) error {
			tx.Rollback() // the connection's transaction is gone
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			db := openTest(t)
			es, ms := db.Enroll(), db.MDM()
			e, e2 := storetest.Seed(t, es, ms)

			db.beforeCommit = tt.hook
			for _, w := range storetest.Writes(es, ms, e2) {
				if err := w.Call(ctx); err == nil {
					t.Errorf("%s succeeded", w.Name)
				}
			}
			db.beforeCommit = nil

			storetest.Unchanged(t, es, ms, e, e2, "failed", "failures")
		})
	}
}

func TestCancelledContext(t *testing.T) {
	db := openTest(t)
	storetest.Cancelled(t, db.Enroll(), db.MDM())
}
