package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/enroll/enrolltest"
	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/store/internal/rows"
)

// storeCalls calls every method of both stores once.
func storeCalls(db *DB) map[string]func(context.Context) error {
	es, ms := db.Enroll(), db.MDM()
	e := enrolltest.Sample("closed")
	cmd := &mdm.Command{UUID: "c1", RequestType: "ProfileList", Raw: []byte("<plist/>")}
	ids := []mdm.EnrollmentID{"dev"}
	return map[string]func(context.Context) error{
		"Create": func(ctx context.Context) error { return es.Create(ctx, e.Clone()) },
		"Get":    func(ctx context.Context) error { _, err := es.Get(ctx, "x"); return err },
		"Find":   func(ctx context.Context) error { _, err := es.Find(ctx, enroll.IndexDevice, "x"); return err },
		"Update": func(ctx context.Context) error { return es.Update(ctx, e.Clone(), 1) },
		"List":   func(ctx context.Context) error { _, err := es.List(ctx, enroll.ListOptions{}); return err },
		"Audit":  func(ctx context.Context) error { _, err := es.Audit(ctx, "x"); return err },
		"PutRecord": func(ctx context.Context) error {
			return ms.PutEnrollment(ctx, &mdm.EnrollmentRecord{ID: "dev"})
		},
		"Record": func(ctx context.Context) error { _, err := ms.Enrollment(ctx, "dev"); return err },
		"ByCert": func(ctx context.Context) error {
			_, err := ms.EnrollmentByCertificate(ctx, mdm.Fingerprint{1})
			return err
		},
		"TokenDead": func(ctx context.Context) error { return ms.MarkTokenDead(ctx, "dev", []byte{1}) },
		"Enqueue":   func(ctx context.Context) error { return ms.Enqueue(ctx, cmd, ids) },
		"Next": func(ctx context.Context) error {
			_, err := ms.NextCommand(ctx, "dev", time.Now(), time.Minute)
			return err
		},
		"PutResult": func(ctx context.Context) error {
			return ms.PutResult(ctx, "dev", &mdm.CommandResult{CommandUUID: "c1", Status: mdm.StatusAcknowledged})
		},
		"ResetNotNow": func(ctx context.Context) error { return ms.ResetNotNow(ctx, ids) },
		"Result":      func(ctx context.Context) error { _, err := ms.Result(ctx, "dev", "c1"); return err },
	}
}

func TestClosedStores(t *testing.T) {
	db := openTest(t)
	calls := storeCalls(db)
	db.Close()
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call(context.Background())
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("after Close: %v, want ErrClosed", err)
			}
			if !strings.HasPrefix(err.Error(), "postgres: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestCancelledContext(t *testing.T) {
	db := openTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, call := range storeCalls(db) {
		t.Run(name, func(t *testing.T) {
			if err := call(ctx); !errors.Is(err, context.Canceled) {
				t.Errorf("with a cancelled context: %v, want context.Canceled", err)
			}
		})
	}
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
	e := enrolltest.Sample("e1")
	if err := es.Create(ctx, e, enroll.AuditEvent{EnrollmentID: "e1", Event: enroll.EventInvite}); err != nil {
		t.Fatal(err)
	}
	if err := ms.PutEnrollment(ctx, &mdm.EnrollmentRecord{ID: "dev", PushMagic: "pm"}); err != nil {
		t.Fatal(err)
	}
	e2 := e.Clone()
	e2.State = enroll.StateCheckedIn
	calls := []struct {
		name string
		// block takes the lock the call will wait for.
		block string
		args  []any
		call  func() error
	}{
		{"Update", `SELECT 1 FROM enrollments WHERE id = 'e1' FOR UPDATE`, nil, func() error {
			return es.Update(ctx, e2, 1, enroll.AuditEvent{EnrollmentID: "e1", Event: enroll.EventCheckIn})
		}},
		{"Create", enrollInsert, append(rows.EnrollValues(enrolltest.Sample("e2"), 1), auditArrays(nil)...), func() error {
			return es.Create(ctx, enrolltest.Sample("e2"), enroll.AuditEvent{EnrollmentID: "e2", Event: enroll.EventInvite})
		}},
		{"Enqueue", `INSERT INTO mdm_queue (enrollment, uuid, request_type) VALUES ('dev2', 'c1', 'x')`, nil, func() error {
			cmd := &mdm.Command{UUID: "c1", RequestType: "ProfileList", Raw: []byte("x")}
			return ms.Enqueue(ctx, cmd, []mdm.EnrollmentID{"dev", "dev2"})
		}},
		{"PutEnrollment", `SELECT 1 FROM mdm_enrollments WHERE id = 'dev' FOR UPDATE`, nil, func() error {
			return ms.PutEnrollment(ctx, &mdm.EnrollmentRecord{ID: "dev", PushMagic: "changed"})
		}},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			blocker, err := db.pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer blocker.Rollback(ctx)
			if _, err := blocker.Exec(ctx, c.block, c.args...); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- c.call() }()

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
			t.Logf("%s: %v", c.name, err)
		})
	}

	got, err := es.Get(ctx, "e1")
	if err != nil || got.Version != 1 || got.State != e.State {
		t.Errorf("after lost Update: %+v, %v; want version 1 unchanged", got, err)
	}
	if ev, err := es.Audit(ctx, "e1"); err != nil || len(ev) != 1 {
		t.Errorf("after lost Update: %d audit events (%v), want 1", len(ev), err)
	}
	if _, err := es.Get(ctx, "e2"); !errors.Is(err, enroll.ErrNotFound) {
		t.Errorf("after lost Create: Get = %v, want ErrNotFound", err)
	}
	var orphans int
	if err := db.pool.QueryRow(ctx, `SELECT COUNT(*) FROM audit_events a LEFT JOIN enrollments e ON e.seq = a.enrollment WHERE e.id IS DISTINCT FROM 'e1'`).Scan(&orphans); err != nil || orphans != 0 {
		t.Errorf("audit events of no enrollment: %d (%v)", orphans, err)
	}
	for _, id := range []mdm.EnrollmentID{"dev", "dev2"} {
		if c, err := ms.NextCommand(ctx, id, time.Now(), time.Minute); !errors.Is(err, mdm.ErrQueueEmpty) {
			t.Errorf("after lost Enqueue: NextCommand(%s) = %v, %v; want ErrQueueEmpty", id, c, err)
		}
	}
	if rec, err := ms.Enrollment(ctx, "dev"); err != nil || rec.PushMagic != "pm" {
		t.Errorf("after lost PutEnrollment: %+v, %v", rec, err)
	}
	if err := es.Update(ctx, e2, 1); err != nil {
		t.Errorf("Update after the lost connections: %v", err)
	}
}
