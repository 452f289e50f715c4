package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/enrollkit/enrollkit/store/internal/storetest"
)

// TestUpgradeOldMDMRows opens a database written at schema version 3,
// before MDM records had a platform, and checks its rows after migration.
func TestUpgradeOldMDMRows(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.ExecContext(ctx, `CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`); err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations[:3] {
		if _, err := raw.ExecContext(ctx, m.SQL); err != nil {
			t.Fatal(err)
		}
		if _, err := raw.ExecContext(ctx, `INSERT INTO schema_version VALUES (?, 0)`, m.Version); err != nil {
			t.Fatal(err)
		}
	}
	q, rows := storetest.OldMDMRows(qmark)
	for _, r := range rows {
		if _, err := raw.ExecContext(ctx, q, r...); err != nil {
			t.Fatal(err)
		}
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	storetest.CheckOldMDMRows(t, db.MDM())
}
