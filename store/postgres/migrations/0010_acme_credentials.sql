-- Schema version 10: the single-use ClientIdentifiers of the ACME
-- credentials offered through declarative management (acme.Credentials),
-- shared by every replica.
--
-- Each row is one identifier, kept only as its SHA-256 (hex), for one
-- enrollment and asset: a new identifier for the same enrollment and
-- asset replaces the row. Redeeming deletes the row; an expired row is
-- deleted by the sweep. Times are Unix microseconds.
CREATE TABLE acme_credentials (
	hash       text   PRIMARY KEY,
	enrollment text   NOT NULL,
	asset      text   NOT NULL,
	expires_us bigint NOT NULL,
	UNIQUE (enrollment, asset)
);
CREATE INDEX acme_credentials_expires ON acme_credentials (expires_us);
