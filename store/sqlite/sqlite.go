package sqlite

import (
	"cmp"
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
	"sync"
	"sync/atomic"

	"github.com/enrollkit/enrollkit/store/internal/acmesql"
	"github.com/enrollkit/enrollkit/store/internal/migrate"

	driver "modernc.org/sqlite" // also registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"
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

// Error implements the error interface.
func (e *SchemaError) Error() string {
	return fmt.Sprintf("sqlite: database schema version %d is newer than this code (knows up to %d)", e.Found, e.Known)
}

// Unwrap returns ErrSchemaTooNew.
func (e *SchemaError) Unwrap() error { return ErrSchemaTooNew }

// Options configures Open. The zero value of every field has a documented
// default.
type Options struct {
	// Logger receives migration and background records; nil discards
	// them.
	Logger *slog.Logger
	// Readers is how many connections serve reads in parallel with the
	// single writer; zero means max(4, GOMAXPROCS).
	Readers int
	// CacheSize is the page cache of each connection (the writer and every
	// reader) in bytes; zero means 32 MiB. Pages are cached as they are
	// read, so a small database never uses more than its size. 32 MiB keeps
	// the upper levels of every index and the recently used rows of a
	// database of 100,000 enrolled devices (about 180 MiB) in memory.
	CacheSize int
}

// DB is one SQLite database holding the enrollment, MDM, DDM and ACME
// state. Enroll, MDM, DDM and ACME return its stores; they share the
// connections, so an enrollment and its MDM channel live in one file. A DB is safe for
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
	read *sql.DB
	// wstmts and rstmts hold the statements prepared on write and read;
	// SQLite compiles a statement once per connection instead of once per
	// call.
	wstmts, rstmts stmtCache
	// texts caches the ids of committed interned strings.
	texts  textCache
	log    *slog.Logger
	path   string
	closed atomic.Bool
	acme   *acmesql.Store

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
//   - cache_size: see Options.CacheSize.
//
// A negative Options.Readers or Options.CacheSize is refused.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if opts.Readers < 0 || opts.CacheSize < 0 {
		return nil, errors.New("sqlite: Options.Readers and Options.CacheSize must not be negative")
	}
	o := struct {
		logger      *slog.Logger
		readers     int
		busyTimeout int // milliseconds
		cacheKiB    int
	}{
		logger:      opts.Logger,
		readers:     cmp.Or(opts.Readers, max(4, runtime.GOMAXPROCS(0))),
		busyTimeout: 5000,
		cacheKiB:    32 << 10,
	}
	if o.logger == nil {
		o.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.CacheSize > 0 {
		o.cacheKiB = max(1, opts.CacheSize/1024)
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
		fmt.Sprintf("cache_size(-%d)", o.cacheKiB),
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
	db.acme = newACME(db)
	db.wstmts.pool = write
	if err := db.migrate(ctx); err != nil {
		write.Close()
		return nil, err
	}
	for _, q := range writeQueries {
		if _, err := db.wstmts.get(ctx, q); err != nil {
			db.wstmts.close()
			write.Close()
			return nil, fmt.Errorf("sqlite: prepare: %w", err)
		}
	}
	read, err := sql.Open("sqlite", dsn("query_only(1)"))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	read.SetMaxOpenConns(o.readers)
	read.SetMaxIdleConns(o.readers)
	db.read = read
	db.rstmts.pool = read
	return db, nil
}

// Close closes the database. Operations started after Close fail with
// ErrClosed; Close waits for running transactions' connections to be
// returned.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return nil
	}
	err := errors.Join(db.wstmts.close(), db.rstmts.close(), db.read.Close(), db.write.Close())
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
func (db *DB) writeTx(ctx context.Context, op string, fn func(*wtx) error) error {
	if db.closed.Load() {
		return fmt.Errorf("%s: %w", op, ErrClosed)
	}
	sqlTx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return db.wrap(op, err)
	}
	defer sqlTx.Rollback()
	tx := &wtx{Tx: sqlTx}
	if err := fn(tx); err != nil {
		return err
	}
	if db.beforeCommit != nil {
		if err := db.beforeCommit(ctx, sqlTx); err != nil {
			return db.wrap(op, err)
		}
	}
	if err := sqlTx.Commit(); err != nil {
		return db.wrap(op, err)
	}
	if len(tx.texts) > 0 {
		db.texts.add(tx.texts)
	}
	return nil
}

// wtx is a write transaction and what it learned about interned strings,
// which becomes cacheable only once it committed.
type wtx struct {
	*sql.Tx
	texts map[string]int64
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

// isUniqueViolation reports whether err is SQLite's UNIQUE constraint
// failure.
func isUniqueViolation(err error) bool {
	var se *driver.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// stmtCache prepares each query once per pool.
type stmtCache struct {
	pool *sql.DB
	mu   sync.Mutex
	m    map[string]*sql.Stmt
}

func (c *stmtCache) get(ctx context.Context, q string) (*sql.Stmt, error) {
	c.mu.Lock()
	st := c.m[q]
	c.mu.Unlock()
	if st != nil {
		return st, nil
	}
	st, err := c.pool.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev := c.m[q]; prev != nil {
		st.Close()
		return prev, nil
	}
	if c.m == nil {
		c.m = make(map[string]*sql.Stmt)
	}
	c.m[q] = st
	return st, nil
}

func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, st := range c.m {
		errs = append(errs, st.Close())
	}
	c.m = nil
	return errors.Join(errs...)
}

// writeQueries are the statements write transactions run; Open prepares
// them on the writer connection before any transaction holds it.
var writeQueries []string

// writeQuery registers q in writeQueries and returns it.
func writeQuery(q string) string {
	writeQueries = append(writeQueries, q)
	return q
}

// txStmt returns the prepared statement for q bound to the write
// transaction tx. q must have been registered with writeQuery: preparing on
// the one-connection pool while tx holds the connection would wait forever,
// so an unregistered q is prepared in tx only.
func (db *DB) txStmt(ctx context.Context, tx *wtx, q string) (*sql.Stmt, error) {
	db.wstmts.mu.Lock()
	st := db.wstmts.m[q]
	db.wstmts.mu.Unlock()
	if st == nil {
		return tx.PrepareContext(ctx, q)
	}
	return tx.StmtContext(ctx, st), nil
}

// readStmt returns the prepared statement for q on the read pool, or
// ErrClosed.
func (db *DB) readStmt(ctx context.Context, op, q string) (*sql.Stmt, error) {
	if db.closed.Load() {
		return nil, fmt.Errorf("%s: %w", op, ErrClosed)
	}
	st, err := db.rstmts.get(ctx, q)
	if err != nil {
		return nil, db.wrap(op, err)
	}
	return st, nil
}

// textCache remembers the ids of strings interned in the texts table.
// Interned strings are never changed or deleted, so a committed id stays
// right for every process. It is bounded: when full it starts over.
type textCache struct {
	mu sync.Mutex
	m  map[string]int64
}

const textCacheSize = 4096

func (c *textCache) get(value string) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.m[value]
	return id, ok
}

func (c *textCache) add(m map[string]int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m)+len(m) > textCacheSize {
		c.m = make(map[string]int64, len(m))
	}
	for k, v := range m {
		c.m[k] = v
	}
}

// textID returns the id of value in texts, interning it in tx if needed,
// or nil for the empty string. What tx learns is cached after it commits.
func (db *DB) textID(ctx context.Context, tx *wtx, value string) (any, error) {
	if value == "" {
		return nil, nil
	}
	if id, ok := tx.texts[value]; ok {
		return id, nil
	}
	id, ok := db.texts.get(value)
	if ok {
		return id, nil
	}
	sel, err := db.txStmt(ctx, tx, textSelect)
	if err != nil {
		return nil, err
	}
	err = sel.QueryRowContext(ctx, value).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		ins, err2 := db.txStmt(ctx, tx, textInsert)
		if err2 != nil {
			return nil, err2
		}
		err = ins.QueryRowContext(ctx, value).Scan(&id)
	}
	if err != nil {
		return nil, err
	}
	if tx.texts == nil {
		tx.texts = make(map[string]int64)
	}
	if len(tx.texts) < textCacheSize {
		tx.texts[value] = id
	}
	return id, nil
}
