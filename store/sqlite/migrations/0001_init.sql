-- Schema version 1: enrollments with their audit trail, MDM enrollment
-- records, and command queues with results. Times are integer microseconds
-- since the Unix epoch (NULL for none); flags are 0/1. Columns typed ANY
-- hold a lower-case hex SHA-256 as its 32 bytes (a blob) and any other value
-- as text, which halves the largest columns and their indexes.

-- Strings the audit trail repeats (event and state names, user agents,
-- actors, addresses, terms) are stored once and referred to by id.
CREATE TABLE texts (
	id    INTEGER PRIMARY KEY,
	value TEXT NOT NULL UNIQUE
) STRICT;

CREATE TABLE enrollments (
	seq                  INTEGER PRIMARY KEY,
	id                   TEXT    NOT NULL UNIQUE,
	version              INTEGER NOT NULL,
	state                TEXT    NOT NULL,
	user_id              TEXT    NOT NULL,
	managed_apple_id     TEXT    NOT NULL,
	ownership            TEXT    NOT NULL,
	flow                 TEXT    NOT NULL,
	invitation_hash      ANY     NOT NULL,
	passcode_hash        TEXT    NOT NULL,
	passcode_expires_us  INTEGER,
	passcode_attempts    INTEGER NOT NULL,
	passcode_locked      INTEGER NOT NULL,
	passcode_used        INTEGER NOT NULL,
	info_seen_us         INTEGER,
	terms_version        TEXT    NOT NULL,
	terms_digest         ANY     NOT NULL,
	consented_us         INTEGER,
	download_hash        ANY     NOT NULL,
	download_expires_us  INTEGER,
	download_used        INTEGER NOT NULL,
	access_token_hash    ANY     NOT NULL,
	challenge_hash       ANY     NOT NULL,
	challenge_expires_us INTEGER,
	challenge_used       INTEGER NOT NULL,
	certificate_hash     ANY     NOT NULL,
	device_id            TEXT    NOT NULL,
	created_us           INTEGER,
	updated_us           INTEGER,
	expires_us           INTEGER
) STRICT;

-- Find looks enrollments up by these keys; most rows leave most of them
-- empty, so the indexes hold only the set ones.
CREATE INDEX enrollments_invitation  ON enrollments (invitation_hash)   WHERE invitation_hash   != '';
CREATE INDEX enrollments_download    ON enrollments (download_hash)     WHERE download_hash     != '';
CREATE INDEX enrollments_access      ON enrollments (access_token_hash) WHERE access_token_hash != '';
CREATE INDEX enrollments_challenge   ON enrollments (challenge_hash)    WHERE challenge_hash    != '';
CREATE INDEX enrollments_certificate ON enrollments (certificate_hash)  WHERE certificate_hash  != '';
CREATE INDEX enrollments_device      ON enrollments (device_id)         WHERE device_id         != '';
CREATE INDEX enrollments_user        ON enrollments (user_id);
CREATE INDEX enrollments_expires     ON enrollments (expires_us)        WHERE expires_us IS NOT NULL;

-- The audit trail, clustered by enrollment so one enrollment's events are
-- read in one range scan. Text columns refer to texts.id (NULL for '').
CREATE TABLE audit_events (
	enrollment    INTEGER NOT NULL REFERENCES enrollments (seq),
	n             INTEGER NOT NULL,
	time_us       INTEGER,
	event         INTEGER,
	from_state    INTEGER,
	to_state      INTEGER,
	actor         INTEGER,
	client_ip     INTEGER,
	user_agent    INTEGER,
	terms_version INTEGER,
	terms_digest  INTEGER,
	detail        INTEGER,
	PRIMARY KEY (enrollment, n)
) STRICT, WITHOUT ROWID;

CREATE TABLE mdm_enrollments (
	id               TEXT    PRIMARY KEY,
	type             INTEGER NOT NULL,
	parent_id        TEXT    NOT NULL,
	certificate      BLOB,
	topic            TEXT    NOT NULL,
	os_version       TEXT    NOT NULL,
	build_version    TEXT    NOT NULL,
	product_name     TEXT    NOT NULL,
	serial_number    TEXT    NOT NULL,
	device_name      TEXT    NOT NULL,
	model            TEXT    NOT NULL,
	model_name       TEXT    NOT NULL,
	token            BLOB,
	push_magic       TEXT    NOT NULL,
	token_dead       INTEGER NOT NULL,
	enrolled         INTEGER NOT NULL,
	checked_out      INTEGER NOT NULL,
	authenticated_us INTEGER,
	updated_us       INTEGER
) STRICT, WITHOUT ROWID;

-- A certificate is bound to at most one enrollment: the one whose record
-- carries it.
CREATE UNIQUE INDEX mdm_enrollments_certificate ON mdm_enrollments (certificate) WHERE certificate IS NOT NULL;

-- One row per command queued for one enrollment. state: 0 pending,
-- 1 pending but skipped after NotNow, 2 completed. The latest result is kept
-- on the row; a completed row drops the command body and stays to refuse the
-- UUID a second time.
CREATE TABLE mdm_queue (
	seq           INTEGER PRIMARY KEY,
	enrollment    TEXT    NOT NULL,
	uuid          TEXT    NOT NULL,
	request_type  TEXT    NOT NULL,
	raw           BLOB,
	state         INTEGER NOT NULL DEFAULT 0,
	lease_us      INTEGER,
	result_status TEXT,
	result_raw    BLOB,
	result_meta   BLOB,
	UNIQUE (enrollment, uuid)
) STRICT;

CREATE INDEX mdm_queue_pending ON mdm_queue (enrollment, seq) WHERE state = 0;
