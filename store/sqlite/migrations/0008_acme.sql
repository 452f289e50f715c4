-- Schema version 8: the ACME server's accounts, orders and nonces (package
-- acme), shared by every process that opens the file.
--
-- acme_accounts and acme_orders hold acme.Account and acme.Order, updated
-- by compare-and-swap on version; times are Unix microseconds. An
-- account is forgotten a day after it was made and an order a day after
-- it expired (acme.MemoryRetention), and an order's identifier, a live
-- single-use secret, as soon as the order expires.
CREATE TABLE acme_accounts (
	id              TEXT    PRIMARY KEY,
	thumbprint      TEXT    NOT NULL UNIQUE,
	key             BLOB    NOT NULL,
	identifier_hash TEXT    NOT NULL,
	created_us      INTEGER NOT NULL,
	version         INTEGER NOT NULL
) STRICT;
CREATE INDEX acme_accounts_created ON acme_accounts (created_us);

CREATE TABLE acme_orders (
	id           TEXT    PRIMARY KEY,
	account      TEXT    NOT NULL,
	identifier   TEXT    NOT NULL,
	status       TEXT    NOT NULL,
	expires_us   INTEGER NOT NULL,
	token        TEXT    NOT NULL,
	attested_key BLOB,
	error        TEXT    NOT NULL,
	certificate  BLOB,
	created_us   INTEGER NOT NULL,
	version      INTEGER NOT NULL
) STRICT;
CREATE INDEX acme_orders_expires ON acme_orders (expires_us);
CREATE INDEX acme_orders_identifier ON acme_orders (expires_us) WHERE identifier <> '';

-- The nonces consumed: the issue time (8 bytes, big-endian Unix
-- microseconds) and random part of each, so that the primary key orders
-- them by age and the sweep deletes the expired ones from its start.
CREATE TABLE acme_nonces (
	nonce BLOB PRIMARY KEY
) STRICT, WITHOUT ROWID;

-- The key that authenticates the nonces issued, the same for every
-- process.
CREATE TABLE acme_nonce_key (
	id  INTEGER PRIMARY KEY CHECK (id = 1),
	key BLOB    NOT NULL
) STRICT;
INSERT INTO acme_nonce_key (id, key) VALUES (1, randomblob(32));
