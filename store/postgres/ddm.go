package postgres

import (
	"context"

	"github.com/enrollkit/enrollkit/ddm"
	"github.com/enrollkit/enrollkit/store/internal/ddmsql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DDM returns the database's ddm.Store.
func (db *DB) DDM() ddm.Store { return ddmsql.Store{B: backend{db}} }

// backend runs the statements of packages ddmsql and acmesql on the DB.
type backend struct{ db *DB }

// Prefix labels errors.
func (backend) Prefix() string { return "postgres" }

// Write runs fn in one write transaction.
func (b backend) Write(ctx context.Context, op string, fn func(ddmsql.Tx) error) error {
	return b.db.tx(ctx, op, func(tx pgx.Tx) error { return fn(pgTx{tx}) })
}

// Read runs fn in a read-only REPEATABLE READ transaction: one snapshot
// for all its statements.
func (b backend) Read(ctx context.Context, op string, fn func(ddmsql.Tx) error) error {
	pool, err := b.db.q(op)
	if err != nil {
		return err
	}
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return b.db.wrap(op, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(pgTx{tx}); err != nil {
		return err
	}
	return b.db.wrap(op, tx.Commit(ctx))
}

// ReadOne runs fn on the pool without a transaction.
func (b backend) ReadOne(ctx context.Context, op string, fn func(ddmsql.Tx) error) error {
	pool, err := b.db.q(op)
	if err != nil {
		return err
	}
	return fn(pgTx{pool})
}

// querier is what pgx.Tx and the pool share.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// pgTx adapts pgx to ddmsql.Tx, turning ? placeholders into $n.
type pgTx struct{ tx querier }

// Exec runs a statement and returns the rows it changed.
func (t pgTx) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := t.tx.Exec(ctx, ddmsql.Dollar(query), args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// ExecEach sends the statement for every argument list in one batch: one
// round trip rather than one each.
func (t pgTx) ExecEach(ctx context.Context, query string, args [][]any) ([]int64, error) {
	q := ddmsql.Dollar(query)
	batch := &pgx.Batch{}
	for _, a := range args {
		batch.Queue(q, a...)
	}
	br := t.tx.SendBatch(ctx, batch)
	out := make([]int64, 0, len(args))
	for range args {
		tag, err := br.Exec()
		if err != nil {
			br.Close()
			return out, err
		}
		out = append(out, tag.RowsAffected())
	}
	return out, br.Close()
}

// Query calls scan for each row of a query.
func (t pgTx) Query(ctx context.Context, query string, args []any, scan func(func(...any) error) error) error {
	rows, err := t.tx.Query(ctx, ddmsql.Dollar(query), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	return ddmsql.Each(rows, scan)
}
