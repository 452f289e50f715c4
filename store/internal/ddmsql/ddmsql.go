// Package ddmsql is the ddm.Store of store/sqlite and store/postgres: the
// same tables and statements on either database, behind a small Backend
// each of them implements (transactions and placeholders).
//
// The catalog's compare-and-swap is one conditional UPDATE of the
// revision row inside the write transaction, so two replicas racing to
// Apply at the same revision both reach that row and only the first
// changes it; the loser's transaction writes nothing. Facts are outside
// the catalog: each enrollment's row carries its own revision, raised by
// the upsert that changes it. A sync state is replaced only by a newer one
// (a higher catalog revision, or the same and a higher facts revision), in
// one conditional upsert.
package ddmsql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/enrollkit/enrollkit/ddm"
	"github.com/enrollkit/enrollkit/mdm"
)

// Tx runs statements written with ? placeholders.
type Tx interface {
	// Exec runs a statement and returns the number of rows it changed.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	// ExecEach runs a statement once for each argument list, prepared or
	// sent once, and returns the number of rows each run changed.
	ExecEach(ctx context.Context, query string, args [][]any) ([]int64, error)
	// Query runs a query and calls scan for each row.
	Query(ctx context.Context, query string, args []any, scan func(scan func(dest ...any) error) error) error
}

// Backend is what a database provides.
type Backend interface {
	// Write runs fn in a write transaction, committed if fn returns nil;
	// fn's error is returned unchanged.
	Write(ctx context.Context, op string, fn func(Tx) error) error
	// Read runs fn in a transaction that reads one consistent state.
	Read(ctx context.Context, op string, fn func(Tx) error) error
	// ReadOne runs fn, which runs a single query, without a transaction
	// of its own (a statement reads one consistent state by itself).
	ReadOne(ctx context.Context, op string, fn func(Tx) error) error
	// Prefix labels errors ("sqlite", "postgres").
	Prefix() string
}

// Store implements ddm.Store on a Backend.
type Store struct{ B Backend }

var _ ddm.Store = Store{}

func (s Store) op(name string) string { return s.B.Prefix() + ": ddm " + name }

// one runs a single-row query; found reports whether there was a row.
func one(ctx context.Context, tx Tx, query string, args []any, dest ...any) (found bool, err error) {
	err = tx.Query(ctx, query, args, func(scan func(...any) error) error {
		found = true
		return scan(dest...)
	})
	return found, err
}

// Revision implements ddm.Store.
func (s Store) Revision(ctx context.Context) (int64, error) {
	var rev int64
	err := s.B.ReadOne(ctx, s.op("revision"), func(tx Tx) error {
		_, err := one(ctx, tx, `SELECT revision FROM ddm_revision WHERE id = 1`, nil, &rev)
		return err
	})
	return rev, err
}

func (s Store) catalog(ctx context.Context, tx Tx) (*ddm.Catalog, error) {
	c := &ddm.Catalog{Declarations: map[string]*ddm.Declaration{}, Sets: map[string][]string{}}
	if _, err := one(ctx, tx, `SELECT revision FROM ddm_revision WHERE id = 1`, nil, &c.Revision); err != nil {
		return nil, err
	}
	err := tx.Query(ctx, `SELECT identifier, type, payload FROM ddm_declarations`, nil, func(scan func(...any) error) error {
		var d ddm.Declaration
		var payload string
		if err := scan(&d.Identifier, &d.Type, &payload); err != nil {
			return err
		}
		d.Payload = json.RawMessage(payload)
		c.Declarations[d.Identifier] = &d
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = tx.Query(ctx, `SELECT name, members FROM ddm_sets`, nil, func(scan func(...any) error) error {
		var name, members string
		if err := scan(&name, &members); err != nil {
			return err
		}
		var m []string
		if err := json.Unmarshal([]byte(members), &m); err != nil {
			return err
		}
		if m == nil {
			m = []string{}
		}
		c.Sets[name] = m
		return nil
	})
	return c, err
}

// Catalog implements ddm.Store.
func (s Store) Catalog(ctx context.Context) (*ddm.Catalog, error) {
	var c *ddm.Catalog
	err := s.B.Read(ctx, s.op("catalog"), func(tx Tx) (err error) {
		c, err = s.catalog(ctx, tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.op("catalog"), err)
	}
	return c, nil
}

// Snapshot implements ddm.Store.
func (s Store) Snapshot(ctx context.Context, id mdm.EnrollmentID) (*ddm.Snapshot, error) {
	var snap ddm.Snapshot
	err := s.B.Read(ctx, s.op("snapshot"), func(tx Tx) error {
		c, err := s.catalog(ctx, tx)
		if err != nil {
			return err
		}
		snap.Catalog = *c
		var sets, decls string
		found, err := one(ctx, tx, `SELECT sets, declarations FROM ddm_assignments WHERE enrollment = ?`, []any{string(id)}, &sets, &decls)
		if err != nil {
			return err
		}
		if found {
			a := &ddm.Assignment{Enrollment: id}
			if err := errors.Join(json.Unmarshal([]byte(sets), &a.Sets), json.Unmarshal([]byte(decls), &a.Declarations)); err != nil {
				return err
			}
			snap.Assignment = a
		}
		var f ddm.Facts
		found, err = one(ctx, tx, `SELECT platform, os_version, revision FROM ddm_facts WHERE enrollment = ?`, []any{string(id)}, &f.Platform, &f.OSVersion, &snap.FactsRevision)
		if found {
			snap.Facts = &f
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.op("snapshot"), err)
	}
	return &snap, nil
}

// snapshotChunk bounds the identifiers one statement of Snapshots lists.
const snapshotChunk = 500

// Snapshots implements ddm.Store.
func (s Store) Snapshots(ctx context.Context, ids []mdm.EnrollmentID) (*ddm.Snapshots, error) {
	snap := &ddm.Snapshots{Assignments: map[mdm.EnrollmentID]*ddm.Assignment{}, Facts: map[mdm.EnrollmentID]ddm.Facts{},
		FactsRevisions: map[mdm.EnrollmentID]int64{}, States: map[mdm.EnrollmentID]*ddm.SyncState{}}
	err := s.B.Read(ctx, s.op("snapshots"), func(tx Tx) error {
		c, err := s.catalog(ctx, tx)
		if err != nil {
			return err
		}
		snap.Catalog = *c
		for chunk := range slices.Chunk(ids, snapshotChunk) {
			args := make([]any, len(chunk))
			for i, id := range chunk {
				args[i] = string(id)
			}
			in := "(?" + strings.Repeat(", ?", len(chunk)-1) + ")"
			err := tx.Query(ctx, `SELECT enrollment, sets, declarations FROM ddm_assignments WHERE enrollment IN `+in, args, func(scan func(...any) error) error {
				a, err := scanAssignment(scan)
				if err == nil {
					snap.Assignments[a.Enrollment] = a
				}
				return err
			})
			if err != nil {
				return err
			}
			err = tx.Query(ctx, `SELECT enrollment, platform, os_version, revision FROM ddm_facts WHERE enrollment IN `+in, args, func(scan func(...any) error) error {
				var id string
				var f ddm.Facts
				var rev int64
				if err := scan(&id, &f.Platform, &f.OSVersion, &rev); err != nil {
					return err
				}
				snap.Facts[mdm.EnrollmentID(id)] = f
				snap.FactsRevisions[mdm.EnrollmentID(id)] = rev
				return nil
			})
			if err != nil {
				return err
			}
			err = tx.Query(ctx, `SELECT enrollment, state FROM ddm_sync WHERE enrollment IN `+in, args, func(scan func(...any) error) error {
				var id, text string
				if err := scan(&id, &text); err != nil {
					return err
				}
				var st ddm.SyncState
				if err := json.Unmarshal([]byte(text), &st); err != nil {
					return fmt.Errorf("sync state of %s: %w", id, err)
				}
				snap.States[mdm.EnrollmentID(id)] = &st
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.op("snapshots"), err)
	}
	return snap, nil
}

// Declaration implements ddm.Store.
func (s Store) Declaration(ctx context.Context, identifier string) (*ddm.Declaration, error) {
	d := &ddm.Declaration{Identifier: identifier}
	var payload string
	var found bool
	err := s.B.ReadOne(ctx, s.op("declaration"), func(tx Tx) (err error) {
		found, err = one(ctx, tx, `SELECT type, payload FROM ddm_declarations WHERE identifier = ?`, []any{identifier}, &d.Type, &payload)
		return err
	})
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s: %w", s.op("declaration"), err)
	case !found:
		return nil, fmt.Errorf("%s %q: %w", s.op("declaration"), identifier, ddm.ErrNotFound)
	}
	d.Payload = json.RawMessage(payload)
	return d, nil
}

// Assignments implements ddm.Store.
func (s Store) Assignments(ctx context.Context) ([]*ddm.Assignment, error) {
	var out []*ddm.Assignment
	err := s.B.Read(ctx, s.op("assignments"), func(tx Tx) error {
		return tx.Query(ctx, `SELECT enrollment, sets, declarations FROM ddm_assignments ORDER BY enrollment`, nil, func(scan func(...any) error) error {
			a, err := scanAssignment(scan)
			if err == nil {
				out = append(out, a)
			}
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.op("assignments"), err)
	}
	return out, nil
}

// scanAssignment reads a row of enrollment, sets and declarations.
func scanAssignment(scan func(...any) error) (*ddm.Assignment, error) {
	var id, sets, decls string
	if err := scan(&id, &sets, &decls); err != nil {
		return nil, err
	}
	a := &ddm.Assignment{Enrollment: mdm.EnrollmentID(id)}
	return a, errors.Join(json.Unmarshal([]byte(sets), &a.Sets), json.Unmarshal([]byte(decls), &a.Declarations))
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Apply implements ddm.Store.
func (s Store) Apply(ctx context.Context, revision int64, ch *ddm.Change) (int64, error) {
	op := s.op("apply")
	err := s.B.Write(ctx, op, func(tx Tx) error {
		n, err := tx.Exec(ctx, `UPDATE ddm_revision SET revision = revision + 1 WHERE id = 1 AND revision = ?`, revision)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%s at revision %d: %w", op, revision, ddm.ErrConflict)
		}
		var stmts []struct {
			q    string
			args []any
		}
		add := func(q string, args ...any) {
			stmts = append(stmts, struct {
				q    string
				args []any
			}{q, args})
		}
		for _, id := range ch.DeleteDeclarations {
			add(`DELETE FROM ddm_declarations WHERE identifier = ?`, id)
		}
		for _, name := range ch.DeleteSets {
			add(`DELETE FROM ddm_sets WHERE name = ?`, name)
		}
		for _, d := range ch.PutDeclarations {
			add(`INSERT INTO ddm_declarations (identifier, type, payload) VALUES (?, ?, ?)
				ON CONFLICT (identifier) DO UPDATE SET type = excluded.type, payload = excluded.payload`, d.Identifier, d.Type, string(d.Payload))
		}
		for name, m := range ch.PutSets {
			if m == nil {
				m = []string{}
			}
			add(`INSERT INTO ddm_sets (name, members) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET members = excluded.members`, name, jsonText(m))
		}
		for _, a := range ch.PutAssignments {
			if len(a.Sets) == 0 && len(a.Declarations) == 0 {
				add(`DELETE FROM ddm_assignments WHERE enrollment = ?`, string(a.Enrollment))
				continue
			}
			add(`INSERT INTO ddm_assignments (enrollment, sets, declarations) VALUES (?, ?, ?)
				ON CONFLICT (enrollment) DO UPDATE SET sets = excluded.sets, declarations = excluded.declarations`,
				string(a.Enrollment), jsonText(nonNil(a.Sets)), jsonText(nonNil(a.Declarations)))
		}
		for _, st := range stmts {
			if _, err := tx.Exec(ctx, st.q, st.args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ddm.ErrConflict) {
			return 0, err
		}
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	return revision + 1, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Revisions implements ddm.Store.
func (s Store) Revisions(ctx context.Context, id mdm.EnrollmentID) (catalog, facts int64, err error) {
	err = s.B.ReadOne(ctx, s.op("revisions"), func(tx Tx) error {
		_, err := one(ctx, tx, `SELECT revision, COALESCE((SELECT revision FROM ddm_facts WHERE enrollment = ?), 0) FROM ddm_revision WHERE id = 1`,
			[]any{string(id)}, &catalog, &facts)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", s.op("revisions"), err)
	}
	return catalog, facts, nil
}

// putFacts records an enrollment's facts, raising their revision only when
// they differ from those stored.
const putFacts = `INSERT INTO ddm_facts (enrollment, platform, os_version, revision) VALUES (?, ?, ?, 1)
	ON CONFLICT (enrollment) DO UPDATE SET platform = excluded.platform, os_version = excluded.os_version, revision = ddm_facts.revision + 1
	WHERE ddm_facts.platform <> excluded.platform OR ddm_facts.os_version <> excluded.os_version`

// PutFacts implements ddm.Store.
func (s Store) PutFacts(ctx context.Context, facts map[mdm.EnrollmentID]ddm.Facts) error {
	if len(facts) == 0 {
		return nil
	}
	op := s.op("put facts")
	args := make([][]any, 0, len(facts))
	for _, id := range slices.Sorted(maps.Keys(facts)) {
		f := facts[id]
		args = append(args, []any{string(id), f.Platform, f.OSVersion})
	}
	err := s.B.Write(ctx, op, func(tx Tx) error {
		_, err := tx.ExecEach(ctx, putFacts, args)
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// SyncState implements ddm.Store.
func (s Store) SyncState(ctx context.Context, id mdm.EnrollmentID) (*ddm.SyncState, error) {
	var st ddm.SyncState
	if err := s.getJSON(ctx, "sync state", `SELECT state FROM ddm_sync WHERE enrollment = ?`, id, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// putSync stores a sync state unless one as new is stored: of a higher
// revision, or of the same and a facts revision as high.
const putSync = `INSERT INTO ddm_sync (enrollment, revision, facts_revision, state) VALUES (?, ?, ?, ?)
	ON CONFLICT (enrollment) DO UPDATE SET revision = excluded.revision, facts_revision = excluded.facts_revision, state = excluded.state
	WHERE ddm_sync.revision < excluded.revision
		OR ddm_sync.revision = excluded.revision AND ddm_sync.facts_revision < excluded.facts_revision`

// PutSyncState implements ddm.Store.
func (s Store) PutSyncState(ctx context.Context, st *ddm.SyncState) (bool, error) {
	stored, err := s.PutSyncStates(ctx, []*ddm.SyncState{st})
	if err != nil {
		return false, err
	}
	return stored[0], nil
}

// PutSyncStates implements ddm.Store.
func (s Store) PutSyncStates(ctx context.Context, sts []*ddm.SyncState) ([]bool, error) {
	op := s.op("put sync state")
	stored := make([]bool, len(sts))
	args := make([][]any, len(sts))
	for i, st := range sts {
		args[i] = []any{string(st.Enrollment), st.Revision, st.FactsRevision, jsonText(st)}
	}
	err := s.B.Write(ctx, op, func(tx Tx) error {
		n, err := tx.ExecEach(ctx, putSync, args)
		for i := range n {
			stored[i] = n[i] > 0
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return stored, nil
}

// Status implements ddm.Store.
func (s Store) Status(ctx context.Context, id mdm.EnrollmentID) (*ddm.Status, error) {
	var st ddm.Status
	if err := s.getJSON(ctx, "status", `SELECT status FROM ddm_status WHERE enrollment = ?`, id, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// PutStatus implements ddm.Store.
func (s Store) PutStatus(ctx context.Context, st *ddm.Status) error {
	err := s.B.Write(ctx, s.op("put status"), func(tx Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO ddm_status (enrollment, status) VALUES (?, ?)
			ON CONFLICT (enrollment) DO UPDATE SET status = excluded.status`, string(st.Enrollment), jsonText(st))
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", s.op("put status"), err)
	}
	return nil
}

// getJSON reads one JSON column of id's row into v, or ErrNotFound.
func (s Store) getJSON(ctx context.Context, what, query string, id mdm.EnrollmentID, v any) error {
	var text string
	var found bool
	err := s.B.ReadOne(ctx, s.op(what), func(tx Tx) (err error) {
		found, err = one(ctx, tx, query, []any{string(id)}, &text)
		return err
	})
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w", s.op(what), err)
	case !found:
		return fmt.Errorf("%s of %s: %w", s.op(what), id, ddm.ErrNotFound)
	}
	if err := json.Unmarshal([]byte(text), v); err != nil {
		return fmt.Errorf("%s of %s: %w", s.op(what), id, err)
	}
	return nil
}

// Rows is what database/sql's and pgx's rows share.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// Each calls scan for every row of rows (which the caller closes).
func Each(rows Rows, scan func(func(...any) error) error) error {
	for rows.Next() {
		if err := scan(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Dollar rewrites ? placeholders as $1, $2, … for PostgreSQL.
func Dollar(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
