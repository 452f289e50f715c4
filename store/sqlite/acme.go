package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/enrollkit/enrollkit/acme"
	"github.com/enrollkit/enrollkit/store/internal/acmesql"
)

// ACMEStore is what DB.ACME returns: the acme.Store, acme.Nonces and
// acme.CredentialStore of the database, shared by every process that opens the file.
type ACMEStore interface {
	acme.Store
	acme.Nonces
	acme.CredentialStore
}

// ACME returns the database's ACME accounts, orders and nonces, for
// acme.Config.Store (a Handler given it takes its nonces too), and the
// credential identifiers of acme.Credentials (CredentialsConfig.Store).
// Accounts and orders move by compare-and-swap; a nonce is authenticated with a
// key the database holds and consumed by one insert, so that it is
// accepted once whichever process checks it, for 30 minutes after it was
// issued (processes' clocks must agree within a minute). At most once a
// minute a write deletes, in batches, what acme.MemoryRetention lets go
// (accounts a day after they were made, orders a day after they
// expired), the expired nonces and credential identifiers, and forgets the
// identifier of every expired order.
func (db *DB) ACME() ACMEStore { return db.acme }

// newACME returns the ACMEStore of db.
func newACME(db *DB) *acmesql.Store { return acmesql.New(backend{db}, db.log, "") }

// Exec runs one write statement, prepared once, on the writer
// connection as a transaction of its own.
func (b backend) Exec(ctx context.Context, op, query string, args ...any) (int64, error) {
	if b.db.closed.Load() {
		return 0, fmt.Errorf("%s: %w", op, ErrClosed)
	}
	st, err := b.db.wstmts.get(ctx, query)
	if err != nil {
		return 0, b.db.wrap(op, err)
	}
	res, err := st.ExecContext(ctx, args...)
	if err != nil {
		return 0, b.db.wrap(op, err)
	}
	n, err := res.RowsAffected()
	return n, b.db.wrap(op, err)
}

// QueryRow runs a query of at most one row, prepared once, on a reader
// connection.
func (b backend) QueryRow(ctx context.Context, op, query string, args []any, dest ...any) (bool, error) {
	st, err := b.db.readStmt(ctx, op, query)
	if err != nil {
		return false, err
	}
	err = st.QueryRowContext(ctx, args...).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, b.db.wrap(op, err)
}
