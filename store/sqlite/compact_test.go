package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/store/internal/benchdata"
)

// TestHexKeys checks the compact storage of hex digests: a realistic
// enrollment (every key a lower-case hex SHA-256) round-trips exactly and is
// found by every index, and an upper-case spelling of a key, stored as text,
// stays a different key.
func TestHexKeys(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	es := db.Enroll()
	e, events, _ := benchdata.Enrolled(7)
	e.AccessTokenHash = strings.Repeat("ab", 32)
	if err := es.Create(ctx, e, events...); err != nil {
		t.Fatal(err)
	}
	got, err := es.Get(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := normalize(e); !reflect.DeepEqual(normalize(got), want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
	for _, i := range enroll.Indexes() {
		f, err := es.Find(ctx, i, e.Key(i))
		if err != nil || f.ID != e.ID {
			t.Errorf("Find(%s) = %v, %v", i, f, err)
		}
	}
	upper := enrollWith(e.ID+"u", func(u *enroll.Enrollment) { u.InvitationHash = strings.ToUpper(e.InvitationHash) })
	if err := es.Create(ctx, upper); err != nil {
		t.Fatal(err)
	}
	if f, err := es.Find(ctx, enroll.IndexInvitation, upper.InvitationHash); err != nil || f.ID != upper.ID {
		t.Errorf("Find(upper case) = %v, %v; want %s", f, err, upper.ID)
	}
	if f, err := es.Find(ctx, enroll.IndexInvitation, e.InvitationHash); err != nil || f.ID != e.ID {
		t.Errorf("Find(lower case) = %v, %v; want %s", f, err, e.ID)
	}
	// An Update that changes a key moves the index entry.
	e.DownloadHash = strings.Repeat("cd", 32)
	if err := es.Update(ctx, e, e.Version); err != nil {
		t.Fatal(err)
	}
	if f, err := es.Find(ctx, enroll.IndexDownload, e.DownloadHash); err != nil || f.ID != e.ID {
		t.Errorf("Find(new download hash) = %v, %v", f, err)
	}
	e2, _, _ := benchdata.Enrolled(7)
	if _, err := es.Find(ctx, enroll.IndexDownload, e2.DownloadHash); !errors.Is(err, enroll.ErrNotFound) {
		t.Errorf("Find(old download hash) = %v, want ErrNotFound", err)
	}
	trail, err := es.Audit(ctx, e.ID)
	if err != nil || len(trail) != len(events) {
		t.Fatalf("audit: %d events, %v", len(trail), err)
	}
	for k := range events {
		want := events[k]
		want.Time = want.Time.UTC()
		if !reflect.DeepEqual(trail[k], want) {
			t.Errorf("event %d:\n got %+v\nwant %+v", k, trail[k], want)
		}
	}
}

func enrollWith(id string, edit func(*enroll.Enrollment)) *enroll.Enrollment {
	e, _, _ := benchdata.Enrolled(0)
	e.ID = id
	e.DeviceID = ""
	e.CertificateHash = ""
	edit(e)
	return e
}

func normalize(e *enroll.Enrollment) *enroll.Enrollment {
	c := e.Clone()
	for _, p := range []*time.Time{&c.Passcode.ExpiresAt, &c.InfoSeenAt, &c.ConsentedAt, &c.DownloadExpiresAt,
		&c.ChallengeExpiresAt, &c.CreatedAt, &c.UpdatedAt, &c.ExpiresAt} {
		if !p.IsZero() {
			*p = p.Truncate(time.Microsecond).UTC()
		}
	}
	c.Version = 0
	return c
}

// TestInternedTextsRollback checks that a string interned by a transaction
// that rolls back is not remembered: a later event with the same string
// reads back right, in this process and in a fresh one.
func TestInternedTextsRollback(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	es := db.Enroll()
	e, _, _ := benchdata.Enrolled(1)
	if err := es.Create(ctx, e); err != nil {
		t.Fatal(err)
	}
	ev := func(actor string) enroll.AuditEvent {
		return enroll.AuditEvent{EnrollmentID: e.ID, Event: enroll.EventRevoke, From: e.State, To: enroll.StateRevoked,
			Actor: actor, Detail: "détail ✓ " + actor}
	}
	db.beforeCommit = func(context.Context, *sql.Tx) error { return errors.New("rolled back") }
	if err := es.Update(ctx, e, e.Version, ev("first")); err == nil {
		t.Fatal("Update succeeded")
	}
	db.beforeCommit = nil
	// "other" takes the id "first" had in the rolled-back transaction.
	if err := es.Update(ctx, e, e.Version, ev("other"), ev("first")); err != nil {
		t.Fatal(err)
	}
	if err := es.Update(ctx, e, e.Version, ev("first"), ev("other"), ev("")); err != nil {
		t.Fatal(err)
	}
	want := []string{"other", "first", "first", "other", ""}
	check := func(es *EnrollStore) {
		t.Helper()
		trail, err := es.Audit(ctx, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range trail {
			got = append(got, a.Actor)
			if a.Detail != "détail ✓ "+a.Actor {
				t.Errorf("detail %q for actor %q", a.Detail, a.Actor)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("actors %q, want %q", got, want)
		}
	}
	check(es)
	db2, err := Open(ctx, db.Path(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	check(db2.Enroll())
}
