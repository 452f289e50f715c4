package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/store/sqlite"
)

// Open a database file and hand its two stores to the services:
// enroll.New(db.Enroll(), cfg) and mdm.NewService(db.MDM(), opts). Here the
// stores are used directly.
func Example() {
	dir, err := os.MkdirTemp("", "enrollkit")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	db, err := sqlite.Open(ctx, filepath.Join(dir, "enrollkit.db"), sqlite.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	e := &enroll.Enrollment{ID: "4f1c0d2e9a7b41c8b2e5d6f70a1b2c3d", State: enroll.StateInvited, UserID: "u-alice",
		CreatedAt: time.Now()}
	if err := db.Enroll().Create(ctx, e, enroll.AuditEvent{EnrollmentID: e.ID, Event: enroll.EventInvite,
		To: enroll.StateInvited, Actor: "admin"}); err != nil {
		log.Fatal(err)
	}
	e.State = enroll.StateAuthenticated
	if err := db.Enroll().Update(ctx, e, 1); err != nil {
		log.Fatal(err)
	}
	// A second writer holding the old version loses.
	err = db.Enroll().Update(ctx, e, 1)
	fmt.Println("stale update refused:", errors.Is(err, enroll.ErrVersionConflict))

	cmd, err := mdm.NewCommand("6d9e3c1a-0b7f-4e2d-9a55-1c2b3d4e5f60", map[string]any{"RequestType": "ProfileList"})
	if err != nil {
		log.Fatal(err)
	}
	if err := db.MDM().Enqueue(ctx, cmd, []mdm.EnrollmentID{"UE-1"}); err != nil {
		log.Fatal(err)
	}
	next, err := db.MDM().NextCommand(ctx, "UE-1", time.Now(), time.Minute)
	if err != nil {
		log.Fatal(err)
	}
	got, _ := db.Enroll().Get(ctx, e.ID)
	fmt.Println(got.State, got.Version, next.RequestType)
	// Output:
	// stale update refused: true
	// authenticated 2 ProfileList
}
