package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/enrollkit/enrollkit/internal/testenv"
)

// testSchema creates nothing yet: it returns the DSN and a fresh schema name
// that is dropped when the test ends.
func testSchema(t testing.TB) (dsn, schema string) {
	t.Helper()
	dsn = testenv.PostgresDSN(t)
	b := make([]byte, 8)
	rand.Read(b)
	schema = "enrollkit_test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return dsn, schema
}

// openTest opens a DB in its own fresh schema, closed and dropped when the
// test ends.
func openTest(t testing.TB) *DB {
	t.Helper()
	dsn, schema := testSchema(t)
	db, err := Open(context.Background(), dsn, Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestOpenMigratesConcurrently(t *testing.T) {
	dsn, schema := testSchema(t)
	ctx := context.Background()
	const replicas = 4
	errs := make(chan error, replicas)
	dbs := make(chan *DB, replicas)
	for range replicas {
		go func() {
			db, err := Open(ctx, dsn, Options{Schema: schema})
			errs <- err
			dbs <- db
		}()
	}
	for range replicas {
		if err := <-errs; err != nil {
			t.Error(err)
		}
		if db := <-dbs; db != nil {
			defer db.Close()
		}
	}
	db, err := Open(ctx, dsn, Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n, v int
	if err := db.pool.QueryRow(ctx, `SELECT COUNT(*), MAX(version) FROM schema_version`).Scan(&n, &v); err != nil {
		t.Fatal(err)
	}
	if n != SchemaVersion || v != SchemaVersion {
		t.Errorf("%d rows at version %d, want %d rows at version %d", n, v, SchemaVersion, SchemaVersion)
	}
}

func TestOpenSchemaTooNew(t *testing.T) {
	dsn, schema := testSchema(t)
	ctx := context.Background()
	db, err := Open(ctx, dsn, Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	future := SchemaVersion + 1
	if _, err := db.pool.Exec(ctx, `INSERT INTO schema_version (version) VALUES ($1)`, future); err != nil {
		t.Fatal(err)
	}
	tables := func() int {
		var n int
		if err := db.pool.QueryRow(ctx, `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = $1`, schema).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := tables()

	_, err = Open(ctx, dsn, Options{Schema: schema})
	var se *SchemaError
	if !errors.As(err, &se) || !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open = %v, want a *SchemaError matching ErrSchemaTooNew", err)
	}
	if se.Found != future || se.Known != SchemaVersion || se.Schema != schema {
		t.Errorf("SchemaError = %+v", se)
	}
	if !strings.HasPrefix(err.Error(), "postgres: ") {
		t.Errorf("error %q lacks the package prefix", err)
	}
	if after := tables(); after != before {
		t.Errorf("refused Open changed the schema: %d tables, had %d", after, before)
	}
	db.Close()
}

func TestOpenBadInput(t *testing.T) {
	tests := []struct {
		name string
		dsn  string
		opts Options
	}{
		{"bad dsn", "postgres://%zz", Options{}},
		{"bad schema", "postgres://localhost/x", Options{Schema: `x"; DROP TABLE y; --`}},
		{"unreachable", "postgres://postgres@127.0.0.1:1/x?connect_timeout=2", Options{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := Open(context.Background(), tt.dsn, tt.opts)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.HasPrefix(err.Error(), "postgres: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
	if _, err := New(context.Background(), nil, Options{}); err == nil {
		t.Error("New(nil pool) succeeded")
	}
}

func TestClosed(t *testing.T) {
	db := openTest(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	err := db.tx(context.Background(), "postgres: test", func(pgx.Tx) error { return nil })
	if !errors.Is(err, ErrClosed) {
		t.Errorf("tx after Close = %v, want ErrClosed", err)
	}
}

// TestFillFactor checks that the tables a check-in rewrites leave room for
// heap-only tuple updates in every page.
func TestFillFactor(t *testing.T) {
	db := openTest(t)
	for _, table := range []string{"enrollments", "mdm_enrollments"} {
		t.Run(table, func(t *testing.T) {
			var opts []string
			err := db.pool.QueryRow(context.Background(),
				`SELECT COALESCE(reloptions, '{}') FROM pg_class WHERE oid = to_regclass($1)`, table).Scan(&opts)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(opts, "fillfactor=80") {
				t.Errorf("reloptions %q, want fillfactor=80", opts)
			}
		})
	}
}
