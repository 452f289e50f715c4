-- Schema version 5: declarative device management (package ddm). The
-- catalog a host writes (declarations, sets, assignments, the facts devices
-- reported) changes only together with the one row of ddm_revision, by
-- compare-and-swap on its revision; ddm_sync holds what each enrollment is
-- served, replaced only by a state of a higher revision; ddm_status the
-- latest status each enrollment reported. Lists and states are JSON text.
CREATE TABLE ddm_revision (
	id       integer PRIMARY KEY CHECK (id = 1),
	revision bigint  NOT NULL
);
INSERT INTO ddm_revision (id, revision) VALUES (1, 0);

CREATE TABLE ddm_declarations (
	identifier text PRIMARY KEY,
	type       text NOT NULL,
	payload    text NOT NULL
);

CREATE TABLE ddm_sets (
	name    text PRIMARY KEY,
	members text NOT NULL
);

CREATE TABLE ddm_assignments (
	enrollment   text PRIMARY KEY,
	sets         text NOT NULL,
	declarations text NOT NULL
);

CREATE TABLE ddm_facts (
	enrollment text PRIMARY KEY,
	platform   text NOT NULL,
	os_version text NOT NULL
);

CREATE TABLE ddm_sync (
	enrollment text   PRIMARY KEY,
	revision   bigint NOT NULL,
	state      text   NOT NULL
);

CREATE TABLE ddm_status (
	enrollment text PRIMARY KEY,
	status     text NOT NULL
);
