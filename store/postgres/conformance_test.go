package postgres_test

import (
	"context"
	"testing"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/enroll/enrolltest"
	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/mdm/mdmtest"
	"github.com/enrollkit/enrollkit/store/internal/alternate"
	"github.com/enrollkit/enrollkit/store/postgres"
)

// open opens a DB in a fresh schema of the test database, dropped when the
// test ends.
func open(t testing.TB) *postgres.DB {
	t.Helper()
	dsn, schema := postgres.FreshSchema(t)
	db, err := postgres.Open(context.Background(), dsn, postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestEnrollConformance(t *testing.T) {
	enrolltest.Run(t, func(t *testing.T) enroll.Store { return open(t).Enroll() })
}

func TestMDMConformance(t *testing.T) {
	mdmtest.Run(t, func(t *testing.T) mdm.Store { return open(t).MDM() })
}

// TestConformanceTwoPools runs both suites with every call going to one of
// two pools on the same schema in turn, as two replicas would.
func TestConformanceTwoPools(t *testing.T) {
	t.Run("enroll", func(t *testing.T) {
		enrolltest.Run(t, func(t *testing.T) enroll.Store {
			a, b := openPair(t)
			return &alternate.EnrollStore{Stores: []enroll.Store{a.Enroll(), b.Enroll()}}
		})
	})
	t.Run("mdm", func(t *testing.T) {
		mdmtest.Run(t, func(t *testing.T) mdm.Store {
			a, b := openPair(t)
			return &alternate.MDMStore{Stores: []mdm.Store{a.MDM(), b.MDM()}}
		})
	})
}

// openPair opens two DBs, each with its own pool, on one fresh schema, as
// two replicas would.
func openPair(t testing.TB) (*postgres.DB, *postgres.DB) {
	t.Helper()
	dsn, schema := postgres.FreshSchema(t)
	var dbs []*postgres.DB
	for range 2 {
		db, err := postgres.Open(context.Background(), dsn, postgres.Options{Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, db)
	}
	return dbs[0], dbs[1]
}
