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

// TestConnectionLost terminates the server process of the connection a
// transaction runs on (pg_terminate_backend) after the transaction's
// statements and before COMMIT, as a crashed server or a cut network would.
// The caller must get an error, nothing of the transaction may remain, and
// the DB must keep working on fresh connections.
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

	terminated := 0
	db.beforeCommit = func(ctx context.Context, tx pgx.Tx) error {
		pid := tx.Conn().PgConn().PID()
		var ok bool
		// Another pool connection kills this transaction's backend.
		if err := db.pool.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, pid).Scan(&ok); err != nil || !ok {
			t.Errorf("pg_terminate_backend(%d) = %v, %v", pid, ok, err)
		}
		terminated++
		return nil
	}
	e2 := e.Clone()
	e2.State = enroll.StateCheckedIn
	calls := []struct {
		name string
		call func() error
	}{
		{"Update", func() error {
			return es.Update(ctx, e2, 1, enroll.AuditEvent{EnrollmentID: "e1", Event: enroll.EventCheckIn})
		}},
		{"Create", func() error { return es.Create(ctx, enrolltest.Sample("e2")) }},
		{"Enqueue", func() error {
			cmd := &mdm.Command{UUID: "c1", RequestType: "ProfileList", Raw: []byte("x")}
			return ms.Enqueue(ctx, cmd, []mdm.EnrollmentID{"dev", "dev2"})
		}},
		{"PutEnrollment", func() error {
			return ms.PutEnrollment(ctx, &mdm.EnrollmentRecord{ID: "dev", PushMagic: "changed"})
		}},
	}
	for _, c := range calls {
		err := c.call()
		if err == nil {
			t.Errorf("%s succeeded on a terminated connection", c.name)
			continue
		}
		if !strings.HasPrefix(err.Error(), "postgres: ") {
			t.Errorf("%s: error %q lacks the package prefix", c.name, err)
		}
		t.Logf("%s: %v", c.name, err)
	}
	db.beforeCommit = nil
	if terminated != len(calls) {
		t.Fatalf("terminated %d connections, want %d", terminated, len(calls))
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
