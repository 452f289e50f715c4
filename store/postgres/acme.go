package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/enrollkit/enrollkit/acme"
	"github.com/enrollkit/enrollkit/store/internal/acmesql"
	"github.com/enrollkit/enrollkit/store/internal/ddmsql"
)

// ACMEStore is what DB.ACME returns: the acme.Store, acme.Nonces and
// acme.CredentialStore of the database, shared by every replica.
type ACMEStore interface {
	acme.Store
	acme.Nonces
	acme.CredentialStore
}

// ACME returns the database's ACME accounts, orders and nonces, for
// acme.Config.Store (a Handler given it takes its nonces too), and the
// credential identifiers of acme.Credentials (CredentialsConfig.Store),
// so that an order made through one replica is finalized through another
// and an identifier issued by one is redeemed once by any.
// Accounts and orders move by compare-and-swap; a nonce is authenticated
// with a key the database holds and consumed by one insert, so that it is
// accepted once whichever replica checks it, for 30 minutes after it was
// issued (replicas' clocks must agree within a minute). At most once a
// minute a write deletes, in batches, what acme.MemoryRetention lets go
// (accounts a day after they were made, orders a day after they
// expired), the expired nonces and credential identifiers, and forgets
// the identifier of every expired order; replicas sweeping at once skip each other's rows.
func (db *DB) ACME() ACMEStore { return db.acme }

// newACME returns the ACMEStore of db.
func newACME(db *DB) *acmesql.Store {
	return acmesql.New(backend{db}, db.log, " FOR UPDATE SKIP LOCKED")
}

// Exec runs one write statement as a transaction of its own: one round
// trip.
func (b backend) Exec(ctx context.Context, op, query string, args ...any) (int64, error) {
	p, err := b.db.q(op)
	if err != nil {
		return 0, err
	}
	tag, err := p.Exec(ctx, ddmsql.Dollar(query), args...)
	if err != nil {
		return 0, b.db.wrap(op, err)
	}
	return tag.RowsAffected(), nil
}

// QueryRow runs a query of at most one row: one round trip.
func (b backend) QueryRow(ctx context.Context, op, query string, args []any, dest ...any) (bool, error) {
	p, err := b.db.q(op)
	if err != nil {
		return false, err
	}
	err = p.QueryRow(ctx, ddmsql.Dollar(query), args...).Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, b.db.wrap(op, err)
}
