-- Declarative device management (package ddm). The catalog a host writes
-- (declarations, sets, assignments, the facts devices reported) changes
-- only together with the one row of ddm_revision, by compare-and-swap on
-- its revision; ddm_sync holds what each enrollment is served, replaced
-- only by a state of a higher revision; ddm_status the latest status each
-- enrollment reported. Lists and states are JSON.
CREATE TABLE ddm_revision (
	id       INTEGER PRIMARY KEY CHECK (id = 1),
	revision INTEGER NOT NULL
) STRICT;
INSERT INTO ddm_revision (id, revision) VALUES (1, 0);

CREATE TABLE ddm_declarations (
	identifier TEXT PRIMARY KEY,
	type       TEXT NOT NULL,
	payload    TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE ddm_sets (
	name    TEXT PRIMARY KEY,
	members TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE ddm_assignments (
	enrollment   TEXT PRIMARY KEY,
	sets         TEXT NOT NULL,
	declarations TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE ddm_facts (
	enrollment TEXT PRIMARY KEY,
	platform   TEXT NOT NULL,
	os_version TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE ddm_sync (
	enrollment TEXT PRIMARY KEY,
	revision   INTEGER NOT NULL,
	state      TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE ddm_status (
	enrollment TEXT PRIMARY KEY,
	status     TEXT NOT NULL
) STRICT, WITHOUT ROWID;
