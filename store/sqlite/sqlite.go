package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"

	"github.com/enrollkit/enrollkit/store/internal/migrate"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrations are the embedded schema steps; SchemaVersion is the last one.
var migrations = mustLoad()

func mustLoad() []migrate.Migration {
	ms, err := migrate.Load(migrationFiles, "migrations")
	if err != nil {
		panic("sqlite: " + err.Error())
	}
	return ms
}

// SchemaVersion is the schema version this code creates and understands.
var SchemaVersion = len(migrations)

// Errors returned by DB and its stores. Errors from the enroll and mdm
// contracts (not found, version conflicts, …) are those packages' sentinels.
var (
	// ErrClosed is returned by every operation on a DB after Close.
	ErrClosed = errors.New("sqlite: database is closed")
	// ErrSchemaTooNew is matched (with errors.Is) by the *SchemaError Open
	// returns when the database was migrated by a newer version of this code.
	ErrSchemaTooNew = errors.New("sqlite: database schema is newer than this code")
)

// SchemaError reports a database whose schema version this code cannot use.
// Open leaves such a database untouched.
type SchemaError struct {
	// Found is the schema version recorded in the database.
	Found int
	// Known is the newest schema version this code knows (SchemaVersion).
	Known int
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("sqlite: database schema version %d is newer than this code (knows up to %d)", e.Found, e.Known)
}

// Unwrap returns ErrSchemaTooNew.
func (e *SchemaError) Unwrap() error { return ErrSchemaTooNew }

// Option configures Open.
type Option func(*options)

type options struct {
	logger      *slog.Logger
	readers     int
	busyTimeout int // milliseconds
}

// WithLogger sets the logger for migrations and background events. The
// default discards everything.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithReaders sets how many connections serve reads in parallel with the
// single writer. The default is max(4, GOMAXPROCS).
func WithReaders(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.readers = n
		}
	}
}

// DB is one SQLite database holding both the enrollment and the MDM state.
// Enroll and MDM return its two stores; they share the connections, so an
// enrollment and its MDM channel live in one file. A DB is safe for
// concurrent use by many goroutines of one process. Two processes may open the
// same file (SQLite locks it), but only one at a time writes.
type DB struct {
	// write is a pool of exactly one connection: every write transaction
	// goes through it, so writers queue in Go instead of failing with
	// SQLITE_BUSY, and every transaction starts with BEGIN IMMEDIATE so it
	// holds the write lock from its first statement (no lock upgrades that
	// could deadlock against another process).
	write *sql.DB
	// read serves queries outside write transactions. In WAL mode readers
	// never block the writer nor each other.
	read   *sql.DB
	log    *slog.Logger
	path   string
	closed atomic.Bool

	// beforeCommit, when set (by tests), runs inside every write
	// transaction after its statements and before COMMIT.
	beforeCommit func(context.Context, *sql.Tx) error
}

// Open opens (creating if needed) the SQLite database file at path and brings
// its schema up to date. Migrations are applied in one transaction: either all
// of them or none. A database whose schema is newer than this code is refused
// with a *SchemaError and left unchanged.
//
// Every connection runs with:
//   - journal_mode=WAL: readers proceed while one writer commits.
//   - synchronous=NORMAL: in WAL mode a commit appends the transaction to the
//     write-ahead log with write(2) before it returns, and the log is synced
//     at checkpoints. A committed transaction therefore survives the process
//     being killed at any moment (even SIGKILL), because the operating system
//     already holds the bytes; only a power failure or kernel crash can lose
//     the last few commits, never corrupt the file. FULL would sync the log
//     on every commit and cost a disk flush per check-in.
//   - busy_timeout=5s: another process holding the lock is waited for, not
//     reported as SQLITE_BUSY.
//   - foreign_keys=ON: the schema's references are enforced.
func Open(ctx context.Context, path string, opts ...Option) (*DB, error) {
	o := options{
		logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		readers:     max(4, runtime.GOMAXPROCS(0)),
		busyTimeout: 5000,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	if strings.ContainsAny(path, "?#") || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: %q: give a plain file path", path)
	}
	pragmas := []string{
		fmt.Sprintf("busy_timeout(%d)", o.busyTimeout),
		"journal_mode(WAL)",
		"synchronous(NORMAL)",
		"foreign_keys(ON)",
	}
	dsn := func(extra ...string) string {
		q := url.Values{}
		for _, p := range append(pragmas, extra...) {
			q.Add("_pragma", p)
		}
		q.Set("_txlock", "immediate")
		return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	}
	write, err := sql.Open("sqlite", dsn())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)

	db := &DB{write: write, log: o.logger, path: path}
	if err := db.migrate(ctx); err != nil {
		write.Close()
		return nil, err
	}
	read, err := sql.Open("sqlite", dsn("query_only(1)"))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	read.SetMaxOpenConns(o.readers)
	read.SetMaxIdleConns(o.readers)
	db.read = read
	return db, nil
}

// Close closes the database. Operations started after Close fail with
// ErrClosed; Close waits for running transactions' connections to be
// returned.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return nil
	}
	err := errors.Join(db.read.Close(), db.write.Close())
	if err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// Path returns the file the database was opened from.
func (db *DB) Path() string { return db.path }

// migrate applies the missing migrations in one write transaction.
func (db *DB) migrate(ctx context.Context) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: migrate %s: %w", db.path, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("sqlite: migrate %s: %w", db.path, err)
	}
	var have int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&have); err != nil {
		return fmt.Errorf("sqlite: migrate %s: %w", db.path, err)
	}
	if have > SchemaVersion {
		return &SchemaError{Found: have, Known: SchemaVersion}
	}
	for _, m := range migrations[have:] {
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version, applied_at) VALUES (?, unixepoch())`, m.Version); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", m.Name, err)
		}
		db.log.InfoContext(ctx, "sqlite: applied migration", "path", db.path, "version", m.Version, "name", m.Name)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: migrate %s: %w", db.path, err)
	}
	return nil
}

// writeTx runs fn in one write transaction and commits it when fn returns
// nil. It returns ErrClosed after Close. fn's error is returned unchanged so
// that callers can match the enroll and mdm sentinels.
func (db *DB) writeTx(ctx context.Context, op string, fn func(*sql.Tx) error) error {
	if db.closed.Load() {
		return fmt.Errorf("%s: %w", op, ErrClosed)
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return db.wrap(op, err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if db.beforeCommit != nil {
		if err := db.beforeCommit(ctx, tx); err != nil {
			return db.wrap(op, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return db.wrap(op, err)
	}
	return nil
}

// reader returns the pool for reads, or ErrClosed.
func (db *DB) reader(op string) (*sql.DB, error) {
	if db.closed.Load() {
		return nil, fmt.Errorf("%s: %w", op, ErrClosed)
	}
	return db.read, nil
}

// wrap labels a driver error with the operation, mapping the errors a closed
// pool reports to ErrClosed.
func (db *DB) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if db.closed.Load() || errors.Is(err, sql.ErrConnDone) || strings.Contains(err.Error(), "sql: database is closed") {
		return fmt.Errorf("%s: %w (%v)", op, ErrClosed, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}
