package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/enroll/enrolltest"
	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/mdm/mdmtest"
	"github.com/enrollkit/enrollkit/store/internal/alternate"
	"github.com/enrollkit/enrollkit/store/sqlite"
)

func open(t testing.TB) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "enrollkit.db"), sqlite.Options{})
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

// openPair opens one database file twice, as two processes would: two
// writer connections competing for the file lock, two sets of caches.
func openPair(t testing.TB) (*sqlite.DB, *sqlite.DB) {
	t.Helper()
	a := open(t)
	b, err := sqlite.Open(context.Background(), a.Path(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a, b
}

func TestEnrollConformanceTwoHandles(t *testing.T) {
	enrolltest.Run(t, func(t *testing.T) enroll.Store {
		a, b := openPair(t)
		return &alternate.EnrollStore{Stores: []enroll.Store{a.Enroll(), b.Enroll()}}
	})
}

func TestMDMConformanceTwoHandles(t *testing.T) {
	mdmtest.Run(t, func(t *testing.T) mdm.Store {
		a, b := openPair(t)
		return &alternate.MDMStore{Stores: []mdm.Store{a.MDM(), b.MDM()}}
	})
}
