-- Schema version 9: the ACME server's accounts, orders and nonces
-- (package acme), shared by every replica.
--
-- acme_accounts and acme_orders hold acme.Account and acme.Order, updated
-- by compare-and-swap on version; times are Unix microseconds. An
-- account is forgotten a day after it was made and an order a day after
-- it expired (acme.MemoryRetention), and an order's identifier, a live
-- single-use secret, as soon as the order expires.
CREATE TABLE acme_accounts (
	id              text    PRIMARY KEY,
	thumbprint      text    NOT NULL UNIQUE,
	key             bytea   NOT NULL,
	identifier_hash text    NOT NULL,
	created_us      bigint  NOT NULL,
	version         integer NOT NULL
);
CREATE INDEX acme_accounts_created ON acme_accounts (created_us);

CREATE TABLE acme_orders (
	id           text    PRIMARY KEY,
	account      text    NOT NULL,
	identifier   text    NOT NULL,
	status       text    NOT NULL,
	expires_us   bigint  NOT NULL,
	token        text    NOT NULL,
	attested_key bytea,
	error        text    NOT NULL,
	certificate  bytea,
	created_us   bigint  NOT NULL,
	version      integer NOT NULL
);
CREATE INDEX acme_orders_expires ON acme_orders (expires_us);
CREATE INDEX acme_orders_identifier ON acme_orders (expires_us) WHERE identifier <> '';

-- The nonces consumed: the issue time (8 bytes, big-endian Unix
-- microseconds) and random part of each, so that the primary key orders
-- them by age and the sweep deletes the expired ones from its start.
CREATE TABLE acme_nonces (
	nonce bytea PRIMARY KEY
);

-- The key that authenticates the nonces issued, the same for every
-- replica: 244 random bits from two version 4 UUIDs (gen_random_uuid is
-- built in; gen_random_bytes would need pgcrypto).
CREATE TABLE acme_nonce_key (
	id  integer PRIMARY KEY CHECK (id = 1),
	key bytea   NOT NULL
);
INSERT INTO acme_nonce_key (id, key)
	VALUES (1, decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'));
