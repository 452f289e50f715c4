package postgres

import (
	"testing"

	"github.com/enrollkit/enrollkit/store/internal/storetest"
)

// TestACMERetention checks what the ACME store's sweep forgets.
func TestACMERetention(t *testing.T) {
	storetest.ACMERetention(t, openTest(t).acme)
}
