package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
)

// openTest opens a fresh database in a temporary directory and closes it at
// the end of the test.
func openTest(t testing.TB) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "enrollkit.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestOpenPragmas(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	tests := []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"synchronous", "1"}, // NORMAL
		{"foreign_keys", "1"},
		{"busy_timeout", "5000"},
		{"cache_size", "-32768"},
	}
	for _, tt := range tests {
		t.Run(tt.pragma, func(t *testing.T) {
			for name, pool := range map[string]*sql.DB{"write": db.write, "read": db.read} {
				var got string
				if err := pool.QueryRowContext(ctx, "PRAGMA "+tt.pragma).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if strings.ToLower(got) != tt.want {
					t.Errorf("%s pool: PRAGMA %s = %q, want %q", name, tt.pragma, got, tt.want)
				}
			}
		})
	}
	t.Run("readers are read-only", func(t *testing.T) {
		if _, err := db.read.ExecContext(ctx, `INSERT INTO schema_version VALUES (999, 0)`); err == nil {
			t.Fatal("write through the read pool succeeded")
		}
	})
}

func TestOpenMigratesOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	for i := range 3 {
		db, err := Open(ctx, path, Options{})
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		var n, v int
		if err := db.read.QueryRowContext(ctx, `SELECT COUNT(*), MAX(version) FROM schema_version`).Scan(&n, &v); err != nil {
			t.Fatal(err)
		}
		if n != SchemaVersion || v != SchemaVersion {
			t.Errorf("open %d: %d rows, version %d; want %d rows at version %d", i, n, v, SchemaVersion, SchemaVersion)
		}
		db.Close()
	}
}

func TestOpenSchemaTooNew(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	future := SchemaVersion + 1
	if _, err := db.write.ExecContext(ctx, `INSERT INTO schema_version VALUES (?, 0)`, future); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	_, err = Open(ctx, path, Options{})
	var se *SchemaError
	if !errors.As(err, &se) || !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open = %v, want a *SchemaError matching ErrSchemaTooNew", err)
	}
	if se.Found != future || se.Known != SchemaVersion {
		t.Errorf("SchemaError = %+v, want Found %d Known %d", se, future, SchemaVersion)
	}
	if !strings.HasPrefix(err.Error(), "sqlite: ") {
		t.Errorf("error %q lacks the package prefix", err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Error("refused Open changed the database file")
	}
}

func TestOpenBadPath(t *testing.T) {
	tests := []struct{ name, path string }{
		{"empty", ""},
		{"memory", ":memory:"},
		{"uri", "file:x.db"},
		{"query", "x.db?mode=ro"},
		{"missing directory", filepath.Join(t.TempDir(), "no", "such", "dir", "x.db")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := Open(context.Background(), tt.path, Options{})
			if err == nil {
				db.Close()
				t.Fatalf("Open(%q) succeeded", tt.path)
			}
			if !strings.HasPrefix(err.Error(), "sqlite: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestClosed(t *testing.T) {
	db := openTest(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	err := db.writeTx(context.Background(), "sqlite: test", func(*wtx) error { return nil })
	if !errors.Is(err, ErrClosed) {
		t.Errorf("writeTx after Close = %v, want ErrClosed", err)
	}
	if _, err := db.reader("sqlite: test"); !errors.Is(err, ErrClosed) {
		t.Errorf("reader after Close = %v, want ErrClosed", err)
	}
}

func TestOptions(t *testing.T) {
	ctx := context.Background()
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	for _, bad := range []Options{{CacheSize: -1}, {Readers: -1}} {
		if _, err := Open(ctx, filepath.Join(t.TempDir(), "x.db"), bad); err == nil || !strings.HasPrefix(err.Error(), "sqlite: ") {
			t.Errorf("Open with %+v: %v", bad, err)
		}
	}
	db, err := Open(ctx, filepath.Join(t.TempDir(), "x.db"), Options{CacheSize: 1 << 20, Readers: 2, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var cache int
	if err := db.read.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&cache); err != nil || cache != -1024 {
		t.Errorf("cache_size = %d, %v; want -1024", cache, err)
	}
	if n := db.read.Stats().MaxOpenConnections; n != 2 {
		t.Errorf("%d readers, want 2", n)
	}
	if n := db.write.Stats().MaxOpenConnections; n != 1 {
		t.Errorf("%d writers, want 1", n)
	}
	if !strings.Contains(logs.String(), "applied migration") {
		t.Errorf("migration not logged: %q", logs.String())
	}
}

// TestNewer checks the order Find picks the newest of several matching
// enrollments in: the latest creation time, enrollments without one last,
// then the greatest ID.
func TestNewer(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	e := func(id string, created time.Time) *enroll.Enrollment {
		return &enroll.Enrollment{ID: id, CreatedAt: created}
	}
	tests := []struct {
		name string
		a, b *enroll.Enrollment
		want bool
	}{
		{"later creation", e("a", t0.Add(time.Microsecond)), e("b", t0), true},
		{"earlier creation", e("b", t0), e("a", t0.Add(time.Microsecond)), false},
		{"creation time before none", e("a", t0), e("b", time.Time{}), true},
		{"none after a creation time", e("b", time.Time{}), e("a", t0), false},
		{"same time, greater ID", e("b", t0), e("a", t0), true},
		{"same time, smaller ID", e("a", t0), e("b", t0), false},
		{"neither has a time, greater ID", e("b", time.Time{}), e("a", time.Time{}), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := newer(tt.a, tt.b); got != tt.want {
				t.Errorf("newer(%s, %s) = %v, want %v", tt.a.ID, tt.b.ID, got, tt.want)
			}
		})
	}
}
