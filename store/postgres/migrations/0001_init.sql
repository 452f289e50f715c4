-- Schema version 1: enrollments with their audit trail, MDM enrollment
-- records, and command queues with results. Times are bigint microseconds
-- since the Unix epoch (NULL for none), the layout store/sqlite uses too.

CREATE TABLE enrollments (
	seq                  bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id                   text    NOT NULL UNIQUE,
	version              bigint  NOT NULL,
	state                text    NOT NULL,
	user_id              text    NOT NULL,
	managed_apple_id     text    NOT NULL,
	ownership            text    NOT NULL,
	flow                 text    NOT NULL,
	invitation_hash      text    NOT NULL,
	passcode_hash        text    NOT NULL,
	passcode_expires_us  bigint,
	passcode_attempts    integer NOT NULL,
	passcode_locked      boolean NOT NULL,
	passcode_used        boolean NOT NULL,
	info_seen_us         bigint,
	terms_version        text    NOT NULL,
	terms_digest         text    NOT NULL,
	consented_us         bigint,
	download_hash        text    NOT NULL,
	download_expires_us  bigint,
	download_used        boolean NOT NULL,
	access_token_hash    text    NOT NULL,
	challenge_hash       text    NOT NULL,
	challenge_expires_us bigint,
	challenge_used       boolean NOT NULL,
	certificate_hash     text    NOT NULL,
	device_id            text    NOT NULL,
	created_us           bigint,
	updated_us           bigint,
	expires_us           bigint
);

-- Find looks enrollments up by these keys; only rows that have a key are
-- indexed.
CREATE INDEX enrollments_invitation  ON enrollments (invitation_hash)   WHERE invitation_hash   <> '';
CREATE INDEX enrollments_download    ON enrollments (download_hash)     WHERE download_hash     <> '';
CREATE INDEX enrollments_access      ON enrollments (access_token_hash) WHERE access_token_hash <> '';
CREATE INDEX enrollments_challenge   ON enrollments (challenge_hash)    WHERE challenge_hash    <> '';
CREATE INDEX enrollments_certificate ON enrollments (certificate_hash)  WHERE certificate_hash  <> '';
CREATE INDEX enrollments_device      ON enrollments (device_id)         WHERE device_id         <> '';
CREATE INDEX enrollments_user        ON enrollments (user_id);
CREATE INDEX enrollments_expires     ON enrollments (expires_us)        WHERE expires_us IS NOT NULL;

CREATE TABLE audit_events (
	seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	enrollment    bigint NOT NULL REFERENCES enrollments (seq),
	time_us       bigint,
	event         text   NOT NULL,
	from_state    text   NOT NULL,
	to_state      text   NOT NULL,
	actor         text   NOT NULL,
	client_ip     text   NOT NULL,
	user_agent    text   NOT NULL,
	terms_version text   NOT NULL,
	terms_digest  text   NOT NULL,
	detail        text   NOT NULL
);

CREATE INDEX audit_events_enrollment ON audit_events (enrollment, seq);

CREATE TABLE mdm_enrollments (
	id               text    PRIMARY KEY,
	type             integer NOT NULL,
	parent_id        text    NOT NULL,
	certificate      bytea,
	topic            text    NOT NULL,
	os_version       text    NOT NULL,
	build_version    text    NOT NULL,
	product_name     text    NOT NULL,
	serial_number    text    NOT NULL,
	device_name      text    NOT NULL,
	model            text    NOT NULL,
	model_name       text    NOT NULL,
	token            bytea,
	push_magic       text    NOT NULL,
	token_dead       boolean NOT NULL,
	enrolled         boolean NOT NULL,
	checked_out      boolean NOT NULL,
	authenticated_us bigint,
	updated_us       bigint
);

-- A certificate is bound to at most one enrollment: the one whose record
-- carries it.
CREATE UNIQUE INDEX mdm_enrollments_certificate ON mdm_enrollments (certificate);

-- One row per command queued for one enrollment. state: 0 pending,
-- 1 pending but skipped after NotNow, 2 completed. The latest result is kept
-- on the row; a completed row drops the command body and stays to refuse the
-- UUID a second time.
CREATE TABLE mdm_queue (
	seq           bigint   GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	enrollment    text     NOT NULL,
	uuid          text     NOT NULL,
	request_type  text     NOT NULL,
	raw           bytea,
	state         smallint NOT NULL DEFAULT 0,
	lease_us      bigint,
	result_status text,
	result_raw    bytea,
	result_meta   bytea,
	UNIQUE (enrollment, uuid)
);

CREATE INDEX mdm_queue_pending ON mdm_queue (enrollment, seq) WHERE state = 0;
