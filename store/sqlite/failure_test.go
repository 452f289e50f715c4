package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/enroll/enrolltest"
	"github.com/enrollkit/enrollkit/mdm"
)

// storeCalls calls every method of both stores once.
func storeCalls(db *DB) map[string]func(context.Context) error {
	es, ms := db.Enroll(), db.MDM()
	e := enrolltest.Sample("closed")
	cmd := &mdm.Command{UUID: "c1", RequestType: "ProfileList", Raw: []byte("<plist/>")}
	ids := []mdm.EnrollmentID{"dev"}
	return map[string]func(context.Context) error{
		"Create":    func(ctx context.Context) error { return es.Create(ctx, e.Clone()) },
		"Get":       func(ctx context.Context) error { _, err := es.Get(ctx, "x"); return err },
		"Find":      func(ctx context.Context) error { _, err := es.Find(ctx, enroll.IndexDevice, "x"); return err },
		"Update":    func(ctx context.Context) error { return es.Update(ctx, e.Clone(), 1) },
		"List":      func(ctx context.Context) error { _, err := es.List(ctx, enroll.ListOptions{}); return err },
		"Audit":     func(ctx context.Context) error { _, err := es.Audit(ctx, "x"); return err },
		"PutRecord": func(ctx context.Context) error { return ms.PutEnrollment(ctx, &mdm.EnrollmentRecord{ID: "dev"}) },
		"Record":    func(ctx context.Context) error { _, err := ms.Enrollment(ctx, "dev"); return err },
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
			if !strings.HasPrefix(err.Error(), "sqlite: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

// TestFailureBeforeCommit makes every write transaction fail after its
// statements ran (an I/O error, a cancelled request) and checks that the
// caller gets the error and that nothing of the transaction remains.
func TestFailureBeforeCommit(t *testing.T) {
	ctx := context.Background()
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
			db := openTest(t)
			es, ms := db.Enroll(), db.MDM()
			e := enrolltest.Sample("e1")
			if err := es.Create(ctx, e, enroll.AuditEvent{EnrollmentID: "e1", Event: enroll.EventInvite}); err != nil {
				t.Fatal(err)
			}
			if err := ms.PutEnrollment(ctx, &mdm.EnrollmentRecord{ID: "dev", PushMagic: "pm"}); err != nil {
				t.Fatal(err)
			}

			db.beforeCommit = tt.hook
			e2 := e.Clone()
			e2.State = enroll.StateCheckedIn
			if err := es.Update(ctx, e2, 1, enroll.AuditEvent{EnrollmentID: "e1", Event: enroll.EventCheckIn}); err == nil {
				t.Error("Update succeeded")
			}
			if err := es.Create(ctx, enrolltest.Sample("e2")); err == nil {
				t.Error("Create succeeded")
			}
			cmd := &mdm.Command{UUID: "c1", RequestType: "ProfileList", Raw: []byte("x")}
			if err := ms.Enqueue(ctx, cmd, []mdm.EnrollmentID{"dev", "dev2"}); err == nil {
				t.Error("Enqueue succeeded")
			}
			if err := ms.PutEnrollment(ctx, &mdm.EnrollmentRecord{ID: "dev", PushMagic: "changed"}); err == nil {
				t.Error("PutEnrollment succeeded")
			}
			db.beforeCommit = nil

			got, err := es.Get(ctx, "e1")
			if err != nil || got.Version != 1 || got.State != e.State {
				t.Errorf("after failed Update: %+v, %v; want version 1 unchanged", got, err)
			}
			if ev, _ := es.Audit(ctx, "e1"); len(ev) != 1 {
				t.Errorf("after failed Update: %d audit events, want 1", len(ev))
			}
			if _, err := es.Get(ctx, "e2"); !errors.Is(err, enroll.ErrNotFound) {
				t.Errorf("after failed Create: Get = %v, want ErrNotFound", err)
			}
			for _, id := range []mdm.EnrollmentID{"dev", "dev2"} {
				if c, err := ms.NextCommand(ctx, id, time.Now(), time.Minute); !errors.Is(err, mdm.ErrQueueEmpty) {
					t.Errorf("after failed Enqueue: NextCommand(%s) = %v, %v; want ErrQueueEmpty", id, c, err)
				}
			}
			if rec, err := ms.Enrollment(ctx, "dev"); err != nil || rec.PushMagic != "pm" {
				t.Errorf("after failed PutEnrollment: %+v, %v", rec, err)
			}
			// The database still works.
			if err := es.Update(ctx, e2, 1); err != nil {
				t.Errorf("Update after the failures: %v", err)
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
