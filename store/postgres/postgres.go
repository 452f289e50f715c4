package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/enrollkit/enrollkit/store/internal/acmesql"
	"github.com/enrollkit/enrollkit/store/internal/migrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

var migrations = mustLoad()

func mustLoad() []migrate.Migration {
	ms, err := migrate.Load(migrationFiles, "migrations")
	if err != nil {
		panic("postgres: " + err.Error())
	}
	return ms
}

// SchemaVersion is the schema version this code creates and understands.
var SchemaVersion = len(migrations)

// Errors returned by DB and its stores. Errors from the enroll and mdm
// contracts (not found, version conflicts, …) are those packages' sentinels.
var (
	// ErrClosed is returned by every operation on a DB after Close.
	ErrClosed = errors.New("postgres: database is closed")
	// ErrSchemaTooNew is matched (with errors.Is) by the *SchemaError Open
	// and New return when the database was migrated by newer code.
	ErrSchemaTooNew = errors.New("postgres: database schema is newer than this code")
)

// SchemaError reports a database whose schema version this code cannot use.
// Open and New leave such a database untouched.
type SchemaError struct {
	// Schema is the PostgreSQL schema (namespace) that was inspected.
	Schema string
	// Found is the schema version recorded in the database.
	Found int
	// Known is the newest schema version this code knows (SchemaVersion).
	Known int
}

// Error implements the error interface.
func (e *SchemaError) Error() string {
	return fmt.Sprintf("postgres: schema %q is at version %d, newer than this code (knows up to %d)", e.Schema, e.Found, e.Known)
}

// Unwrap returns ErrSchemaTooNew.
func (e *SchemaError) Unwrap() error { return ErrSchemaTooNew }

// Options configures Open and New. The zero value of every field has a
// documented default.
type Options struct {
	// Logger receives migration records; nil discards them.
	Logger *slog.Logger
	// Schema, if set, keeps every table in the named PostgreSQL schema
	// (namespace), created if missing, instead of the connection's default
	// search_path. Several independent installations (or test runs) can so
	// share one database. The name must be a plain identifier: letters,
	// digits and underscores.
	//
	// With Open the pool's search_path is set to the schema. With New the
	// caller's pool must already use it (for example through the
	// search_path run-time parameter); New only creates the schema and
	// migrates it.
	Schema string
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// DB is one PostgreSQL database holding the enrollment, MDM, DDM and ACME
// state for any number of replicas. Enroll, MDM, DDM and ACME return its
// stores. Every
// state change is a single transaction guarded by a version compare-and-swap
// or a row lock, so replicas sharing the database never lose or duplicate an
// update. A DB is safe for concurrent use.
type DB struct {
	pool     *pgxpool.Pool
	ownsPool bool
	schema   string
	log      *slog.Logger
	closed   atomic.Bool
	acme     *acmesql.Store
}

// Open connects to the database named by dsn (a PostgreSQL URL or key=value
// string), brings its schema up to date and returns the DB. Close closes the
// pool Open created.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	o, err := collect(opts)
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse dsn: %w", err)
	}
	if o.schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = o.schema
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	db, err := newDB(ctx, pool, o)
	if err != nil {
		pool.Close()
		return nil, err
	}
	db.ownsPool = true
	return db, nil
}

// New uses a pool the caller owns, brings the schema up to date and returns
// the DB. Close does not close the pool.
func New(ctx context.Context, pool *pgxpool.Pool, opts Options) (*DB, error) {
	if pool == nil {
		return nil, errors.New("postgres: New: nil pool")
	}
	o, err := collect(opts)
	if err != nil {
		return nil, err
	}
	return newDB(ctx, pool, o)
}

// options are Options with their defaults applied.
type options struct {
	logger *slog.Logger
	schema string
}

func collect(opts Options) (options, error) {
	o := options{logger: opts.Logger, schema: opts.Schema}
	if o.logger == nil {
		o.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.schema != "" && !identRE.MatchString(o.schema) {
		return o, fmt.Errorf("postgres: schema name %q is not a plain identifier", o.schema)
	}
	return o, nil
}

func newDB(ctx context.Context, pool *pgxpool.Pool, o options) (*DB, error) {
	db := &DB{pool: pool, schema: o.schema, log: o.logger}
	db.acme = newACME(db)
	if err := db.migrate(ctx); err != nil {
		return nil, err
	}
	return db, nil
}

// Close stops the DB. Operations started after Close fail with ErrClosed. The
// pool is closed too when Open created it.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return nil
	}
	if db.ownsPool {
		db.pool.Close()
	}
	return nil
}

// Pool returns the connection pool, for hosts that keep their own tables next
// to enrollkit's.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// migrate applies the missing migrations in one transaction. Replicas that
// start together serialise on a transaction-scoped advisory lock named after
// the schema, so exactly one of them migrates and the rest find the work done.
func (db *DB) migrate(ctx context.Context) error {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	defer tx.Rollback(ctx)
	schema := db.schema
	if schema == "" {
		if err := tx.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('enrollkit migrate ' || $1::text))`, schema); err != nil {
		return fmt.Errorf("postgres: migrate: lock: %w", err)
	}
	if db.schema != "" {
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{db.schema}.Sanitize()); err != nil {
			return fmt.Errorf("postgres: migrate: create schema: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version    integer PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	var have int
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&have); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	if have > SchemaVersion {
		return &SchemaError{Schema: schema, Found: have, Known: SchemaVersion}
	}
	for _, m := range migrations[have:] {
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return fmt.Errorf("postgres: migration %s: %w", m.Name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_version (version) VALUES ($1)`, m.Version); err != nil {
			return fmt.Errorf("postgres: migration %s: %w", m.Name, err)
		}
		db.log.InfoContext(ctx, "postgres: applied migration", "schema", schema, "version", m.Version, "name", m.Name)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

// tx runs fn in one transaction and commits it when fn returns nil. fn's
// error is returned unchanged so callers can match the enroll and mdm
// sentinels; driver errors are labelled with op.
func (db *DB) tx(ctx context.Context, op string, fn func(pgx.Tx) error) error {
	if db.closed.Load() {
		return fmt.Errorf("%s: %w", op, ErrClosed)
	}
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return db.wrap(op, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return db.wrap(op, err)
	}
	return nil
}

// q returns the pool for single statements, or ErrClosed.
func (db *DB) q(op string) (*pgxpool.Pool, error) {
	if db.closed.Load() {
		return nil, fmt.Errorf("%s: %w", op, ErrClosed)
	}
	return db.pool, nil
}

// wrap labels a driver error with the operation.
func (db *DB) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if db.closed.Load() {
		return fmt.Errorf("%s: %w (%v)", op, ErrClosed, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// isUniqueViolation reports whether err is a PostgreSQL unique_violation.
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
