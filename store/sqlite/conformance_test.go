package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/enroll/enrolltest"
	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/mdm/mdmtest"
	"github.com/enrollkit/enrollkit/store/sqlite"
)

func open(t testing.TB) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "enrollkit.db"))
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
