package postgres

import (
	"github.com/enrollkit/enrollkit/acme"
	"github.com/enrollkit/enrollkit/store/internal/acmesql"
)

// ACMEStore is what DB.ACME returns: the acme.Store and acme.Nonces of
// the database, shared by every replica.
type ACMEStore interface {
	acme.Store
	acme.Nonces
}

// ACME returns the database's ACME accounts, orders and nonces, for
// acme.Config.Store (a Handler given it takes its nonces too), so that
// an order made through one replica is finalized through another.
// Accounts and orders move by compare-and-swap; a nonce is authenticated
// with a key the database holds and consumed by one insert, so that it is
// accepted once whichever replica checks it, for 30 minutes after it was
// issued (replicas' clocks must agree within a minute). At most once a
// minute a write deletes, in batches, what acme.MemoryRetention lets go
// (accounts a day after they were made, orders a day after they expired)
// and the expired nonces, and forgets the identifier of every expired
// order; replicas sweeping at once skip each other's rows.
func (db *DB) ACME() ACMEStore { return db.acme }

// newACME returns the ACMEStore of db.
func newACME(db *DB) *acmesql.Store {
	return acmesql.New(backend{db}, db.log, " FOR UPDATE SKIP LOCKED")
}
