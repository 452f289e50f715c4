package postgres

import (
	"testing"

	"github.com/enrollkit/enrollkit/store/internal/storetest"
)

// TestACMERetention checks what the ACME store's sweep forgets.
func TestACMERetention(t *testing.T) {
	storetest.ACMERetention(t, openTest(t).acme)
}

func TestClosedACME(t *testing.T) {
	db := openTest(t)
	storetest.ClosedCalls(t, storetest.ACMECalls(db.acme), func() { db.Close() }, ErrClosed, "postgres: ")
}

func TestCancelledACME(t *testing.T) {
	storetest.CancelledCalls(t, storetest.ACMECalls(openTest(t).acme))
}
