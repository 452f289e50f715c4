package sqlite

import (
	"github.com/enrollkit/enrollkit/acme"
	"github.com/enrollkit/enrollkit/store/internal/acmesql"
)

// ACMEStore is what DB.ACME returns: the acme.Store and acme.Nonces of
// the database, shared by every process that opens the file.
type ACMEStore interface {
	acme.Store
	acme.Nonces
}

// ACME returns the database's ACME accounts, orders and nonces, for
// acme.Config.Store (a Handler given it takes its nonces too). Accounts
// and orders move by compare-and-swap; a nonce is authenticated with a
// key the database holds and consumed by one insert, so that it is
// accepted once whichever process checks it, for 30 minutes after it was
// issued (processes' clocks must agree within a minute). At most once a
// minute a write deletes, in batches, what acme.MemoryRetention lets go
// (accounts a day after they were made, orders a day after they expired)
// and the expired nonces, and forgets the identifier of every expired
// order.
func (db *DB) ACME() ACMEStore { return db.acme }

// newACME returns the ACMEStore of db.
func newACME(db *DB) *acmesql.Store { return acmesql.New(backend{db}, db.log, "") }
