package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/enrollkit/enrollkit/acme"
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

// Every process serving the ACME endpoint from one file gives its
// Handler the database's ACME store, acme.Config{Store: db.ACME()}: an
// order made through one is finalized through another, and a nonce issued
// by one is accepted once by any. Here two handles stand for two
// processes.
func ExampleDB_ACME() {
	dir, err := os.MkdirTemp("", "enrollkit")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	var dbs []*sqlite.DB
	for range 2 {
		db, err := sqlite.Open(ctx, filepath.Join(dir, "enrollkit.db"), sqlite.Options{})
		if err != nil {
			log.Fatal(err)
		}
		defer db.Close()
		dbs = append(dbs, db)
	}
	_ = acme.Config{BaseURL: "https://mdm.example.com/acme", Store: dbs[0].ACME()}

	nonce, err := dbs[0].ACME().IssueNonce(ctx)
	if err != nil {
		log.Fatal(err)
	}
	first, _ := dbs[1].ACME().ConsumeNonce(ctx, nonce)
	again, _ := dbs[0].ACME().ConsumeNonce(ctx, nonce)
	fmt.Println(first, again)
	// Output: true false
}
