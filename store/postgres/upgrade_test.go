package postgres

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/enrollkit/enrollkit/store/internal/storetest"
)

// TestUpgradeOldMDMRows opens a schema written at version 4, before MDM
// records had a platform, and checks its rows after migration.
func TestUpgradeOldMDMRows(t *testing.T) {
	dsn, schema := testSchema(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	name := pgx.Identifier{schema}.Sanitize()
	for _, stmt := range []string{"CREATE SCHEMA " + name, "SET search_path TO " + name,
		`CREATE TABLE schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range migrations[:4] {
		if _, err := conn.Exec(ctx, m.SQL); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO schema_version (version) VALUES ($1)`, m.Version); err != nil {
			t.Fatal(err)
		}
	}
	q, rows := storetest.OldMDMRows(dollar)
	for _, r := range rows {
		if _, err := conn.Exec(ctx, q, r...); err != nil {
			t.Fatal(err)
		}
	}
	db, err := Open(ctx, dsn, Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	storetest.CheckOldMDMRows(t, db.MDM())
}
