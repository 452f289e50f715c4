package postgres_test

import (
	"context"
	"log"
	"os"

	"github.com/enrollkit/enrollkit/store/postgres"
)

// Every replica of the portal opens the same database; the first to start
// creates the schema, the others wait for it. Hand the stores to the
// services: enroll.New(db.Enroll(), cfg) and mdm.NewService(db.MDM(), opts).
func ExampleOpen() {
	ctx := context.Background()
	db, err := postgres.Open(ctx, os.Getenv("DATABASE_URL"), postgres.Options{Schema: "enrollkit"})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	_, _ = db.Enroll(), db.MDM()
}
