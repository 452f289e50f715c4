// Package storetest holds the failure tests the durable stores share: every
// store call on a closed database or with a cancelled context, and the
// writes that must leave nothing behind when their transaction fails, with
// the checks that nothing did. Each store supplies what differs: how it is
// opened and closed, its closed error, and how it makes a transaction fail.
package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/enroll/enrolltest"
	"github.com/enrollkit/enrollkit/mdm"
)

// Calls returns a call of every method of both stores, by name.
func Calls(es enroll.Store, ms mdm.Store) map[string]func(context.Context) error {
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

// Closed checks that after close every call of es and ms fails with
// errClosed and an error text beginning with prefix (the package name and
// ": ").
func Closed(t *testing.T, es enroll.Store, ms mdm.Store, close func(), errClosed error, prefix string) {
	t.Helper()
	ClosedCalls(t, Calls(es, ms), close, errClosed, prefix)
}

// ClosedCalls checks that after close every call of calls fails with
// errClosed and an error text beginning with prefix.
func ClosedCalls(t *testing.T, calls map[string]func(context.Context) error, close func(), errClosed error, prefix string) {
	t.Helper()
	close()
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call(context.Background())
			if !errors.Is(err, errClosed) {
				t.Fatalf("after Close: %v, want %v", err, errClosed)
			}
			if !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

// Cancelled checks that every call of es and ms fails with
// context.Canceled when its context is cancelled.
func Cancelled(t *testing.T, es enroll.Store, ms mdm.Store) {
	t.Helper()
	CancelledCalls(t, Calls(es, ms))
}

// CancelledCalls checks that every call of calls fails with
// context.Canceled when its context is cancelled.
func CancelledCalls(t *testing.T, calls map[string]func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			if err := call(ctx); !errors.Is(err, context.Canceled) {
				t.Errorf("with a cancelled context: %v, want context.Canceled", err)
			}
		})
	}
}

// Seed stores what the write failure tests start from: enrollment "e1" at
// version 1 with one audit event, and the MDM record "dev" with PushMagic
// "pm". It returns e1 and the CheckedIn copy of it the writes try to store.
func Seed(t *testing.T, es enroll.Store, ms mdm.Store) (e, e2 *enroll.Enrollment) {
	t.Helper()
	ctx := context.Background()
	e = enrolltest.Sample("e1")
	if err := es.Create(ctx, e, enroll.AuditEvent{EnrollmentID: "e1", Event: enroll.EventInvite}); err != nil {
		t.Fatal(err)
	}
	if err := ms.PutEnrollment(ctx, &mdm.EnrollmentRecord{ID: "dev", PushMagic: "pm"}); err != nil {
		t.Fatal(err)
	}
	e2 = e.Clone()
	e2.State = enroll.StateCheckedIn
	return e, e2
}

// A Write is one write of the failure tests, each in a transaction of its
// own, that must leave nothing behind when that transaction fails.
type Write struct {
	Name string
	Call func(context.Context) error
}

// Writes returns, after Seed, the writes Unchanged checks for: e2 as
// version 2 of e1 with an audit event, a new enrollment "e2", a command
// queued for "dev" and "dev2", and a changed record "dev".
func Writes(es enroll.Store, ms mdm.Store, e2 *enroll.Enrollment) []Write {
	return []Write{
		{"Update", func(ctx context.Context) error {
			return es.Update(ctx, e2, 1, enroll.AuditEvent{EnrollmentID: "e1", Event: enroll.EventCheckIn})
		}},
		{"Create", func(ctx context.Context) error {
			return es.Create(ctx, enrolltest.Sample("e2"), enroll.AuditEvent{EnrollmentID: "e2", Event: enroll.EventInvite})
		}},
		{"Enqueue", func(ctx context.Context) error {
			cmd := &mdm.Command{UUID: "c1", RequestType: "ProfileList", Raw: []byte("x")}
			return ms.Enqueue(ctx, cmd, []mdm.EnrollmentID{"dev", "dev2"})
		}},
		{"PutEnrollment", func(ctx context.Context) error {
			return ms.PutEnrollment(ctx, &mdm.EnrollmentRecord{ID: "dev", PushMagic: "changed"})
		}},
	}
}

// Unchanged checks, after every one of Writes failed, that the stores hold
// what Seed stored and nothing more, and that they still work: e2 can be
// stored as version 2. how names the failure in messages ("failed",
// "lost"); after names what came before the final Update.
func Unchanged(t *testing.T, es enroll.Store, ms mdm.Store, e, e2 *enroll.Enrollment, how, after string) {
	t.Helper()
	ctx := context.Background()
	got, err := es.Get(ctx, "e1")
	if err != nil || got.Version != 1 || got.State != e.State {
		t.Errorf("after %s Update: %+v, %v; want version 1 unchanged", how, got, err)
	}
	if ev, err := es.Audit(ctx, "e1"); err != nil || len(ev) != 1 {
		t.Errorf("after %s Update: %d audit events (%v), want 1", how, len(ev), err)
	}
	if _, err := es.Get(ctx, "e2"); !errors.Is(err, enroll.ErrNotFound) {
		t.Errorf("after %s Create: Get = %v, want ErrNotFound", how, err)
	}
	for _, id := range []mdm.EnrollmentID{"dev", "dev2"} {
		if c, err := ms.NextCommand(ctx, id, time.Now(), time.Minute); !errors.Is(err, mdm.ErrQueueEmpty) {
			t.Errorf("after %s Enqueue: NextCommand(%s) = %v, %v; want ErrQueueEmpty", how, id, c, err)
		}
	}
	if rec, err := ms.Enrollment(ctx, "dev"); err != nil || rec.PushMagic != "pm" {
		t.Errorf("after %s PutEnrollment: %+v, %v", how, rec, err)
	}
	// The database still works.
	if err := es.Update(ctx, e2, 1); err != nil {
		t.Errorf("Update after the %s: %v", after, err)
	}
}
