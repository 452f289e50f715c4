package sqlite

import (
	"context"
	"database/sql"

	"github.com/enrollkit/enrollkit/ddm"
	"github.com/enrollkit/enrollkit/store/internal/ddmsql"
)

// DDM returns the database's ddm.Store.
func (db *DB) DDM() ddm.Store { return ddmsql.Store{B: backend{db}} }

// backend runs the statements of packages ddmsql and acmesql on the DB.
type backend struct{ db *DB }

// Prefix labels errors.
func (backend) Prefix() string { return "sqlite" }

// Write runs fn in one write transaction.
func (b backend) Write(ctx context.Context, op string, fn func(ddmsql.Tx) error) error {
	return b.db.writeTx(ctx, op, func(tx *wtx) error { return fn(sqlTx{tx.Tx}) })
}

// Read runs fn in a deferred read transaction on a reader connection: in
// WAL mode it sees one snapshot and blocks no writer.
func (b backend) Read(ctx context.Context, op string, fn func(ddmsql.Tx) error) error {
	pool, err := b.db.reader(op)
	if err != nil {
		return err
	}
	conn, err := pool.Conn(ctx)
	if err != nil {
		return b.db.wrap(op, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN DEFERRED"); err != nil {
		return b.db.wrap(op, err)
	}
	err = fn(sqlTx{conn})
	if _, cerr := conn.ExecContext(context.WithoutCancel(ctx), "COMMIT"); cerr != nil && err == nil {
		err = b.db.wrap(op, cerr)
	}
	return err
}

// ReadOne runs fn on the reader pool without a transaction.
func (b backend) ReadOne(ctx context.Context, op string, fn func(ddmsql.Tx) error) error {
	pool, err := b.db.reader(op)
	if err != nil {
		return err
	}
	return fn(sqlTx{pool})
}

// execQuerier is what *sql.Tx, *sql.Conn and *sql.DB share.
type execQuerier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// sqlTx adapts database/sql to ddmsql.Tx.
type sqlTx struct{ q execQuerier }

// Exec runs a statement and returns the rows it changed.
func (t sqlTx) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := t.q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// ExecEach prepares a statement once and runs it for each argument list.
func (t sqlTx) ExecEach(ctx context.Context, query string, args [][]any) ([]int64, error) {
	st, err := t.q.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	out := make([]int64, 0, len(args))
	for _, a := range args {
		res, err := st.ExecContext(ctx, a...)
		if err != nil {
			return out, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return out, err
		}
		out = append(out, n)
	}
	return out, nil
}

// Query calls scan for each row of a query.
func (t sqlTx) Query(ctx context.Context, query string, args []any, scan func(func(...any) error) error) error {
	rows, err := t.q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	return ddmsql.Each(rows, scan)
}
