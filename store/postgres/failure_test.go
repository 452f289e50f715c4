package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/enrollkit/enrollkit/enroll/enrolltest"
	"github.com/enrollkit/enrollkit/store/internal/rows"
	"github.com/enrollkit/enrollkit/store/internal/storetest"
)

func TestClosedStores(t *testing.T) {
	db := openTest(t)
	storetest.Closed(t, db.Enroll(), db.MDM(), func() { db.Close() }, ErrClosed, "postgres: ")
}

func TestCancelledContext(t *testing.T) {
	db := openTest(t)
	storetest.Cancelled(t, db.Enroll(), db.MDM())
}

// TestConnectionLost kills the server process of a store call's connection
// (pg_terminate_backend) while the call is inside its transaction, as a
// crashed server or a cut network would: each call is made to wait on a row
// lock another transaction holds, and is terminated while it waits. The
// caller must get an error, nothing of the call may remain, and the DB must
// keep working on fresh connections.
func TestConnectionLost(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	es, ms := db.Enroll(), db.MDM()
	e, e2 := storetest.Seed(t, es, ms)
	writes := storetest.Writes(es, ms, e2)
	// block takes, per write, the lock the write will wait for.
	block := map[string]struct {
		sql  string
		args []any
	}{
		"Update":        {`SELECT 1 FROM enrollments WHERE id = 'e1' FOR UPDATE`, nil},
		"Create":        {enrollInsert, append(rows.EnrollValues(enrolltest.Sample("e2"), 1), auditArrays(nil)...)},
		"Enqueue":       {`INSERT INTO mdm_queue (enrollment, uuid, request_type) VALUES ('dev2', 'c1', 'x')`, nil},
		"PutEnrollment": {`SELECT 1 FROM mdm_enrollments WHERE id = 'dev' FOR UPDATE`, nil},
	}
	for _, c := range writes {
		t.Run(c.Name, func(t *testing.T) {
			blocker, err := db.pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer blocker.Rollback(ctx)
			if _, err := blocker.Exec(ctx, block[c.Name].sql, block[c.Name].args...); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- c.Call(ctx) }()

			// Find the call's server process, waiting on the blocker.
			blockerPID := blocker.Conn().PgConn().PID()
			var pid uint32
			for deadline := time.Now().Add(10 * time.Second); pid == 0; {
				err := db.pool.QueryRow(ctx, `SELECT pid FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))`,
					int(blockerPID)).Scan(&pid)
				if err != nil && !errors.Is(err, pgx.ErrNoRows) {
					t.Fatal(err)
				}
				if time.Now().After(deadline) {
					t.Fatal("the call never waited on the lock")
				}
				time.Sleep(5 * time.Millisecond)
			}
			var ok bool
			if err := db.pool.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, int(pid)).Scan(&ok); err != nil || !ok {
				t.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, ok, err)
			}
			err = <-done
			if err == nil {
				t.Fatal("the call succeeded on a terminated connection")
			}
			if !strings.HasPrefix(err.Error(), "postgres: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			t.Logf("%s: %v", c.Name, err)
		})
	}

	storetest.Unchanged(t, es, ms, e, e2, "lost", "lost connections")
	var orphans int
	if err := db.pool.QueryRow(ctx, `SELECT COUNT(*) FROM audit_events a LEFT JOIN enrollments e ON e.seq = a.enrollment WHERE e.id IS DISTINCT FROM 'e1'`).Scan(&orphans); err != nil || orphans != 0 {
		t.Errorf("audit events of no enrollment: %d (%v)", orphans, err)
	}
}
