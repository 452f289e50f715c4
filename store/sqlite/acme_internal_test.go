package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/enrollkit/enrollkit/store/internal/storetest"
)

// TestACMERetention checks what the ACME store's sweep forgets.
func TestACMERetention(t *testing.T) {
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "acme.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	storetest.ACMERetention(t, db.acme)
}

func TestClosedACME(t *testing.T) {
	db := openTest(t)
	storetest.ClosedCalls(t, storetest.ACMECalls(db.acme), func() { db.Close() }, ErrClosed, "sqlite: ")
}

func TestCancelledACME(t *testing.T) {
	storetest.CancelledCalls(t, storetest.ACMECalls(openTest(t).acme))
}
