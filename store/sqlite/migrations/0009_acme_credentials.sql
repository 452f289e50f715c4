-- Schema version 9: the single-use ClientIdentifiers of the ACME
-- credentials offered through declarative management (acme.Credentials),
-- shared by every process that opens the file.
--
-- Each row is one identifier, kept only as its SHA-256 (hex), for one
-- enrollment and asset: a new identifier for the same enrollment and
-- asset replaces the row. Redeeming deletes the row; an expired row is
-- deleted by the sweep. Times are Unix microseconds.
CREATE TABLE acme_credentials (
	hash       TEXT    PRIMARY KEY,
	enrollment TEXT    NOT NULL,
	asset      TEXT    NOT NULL,
	expires_us INTEGER NOT NULL,
	UNIQUE (enrollment, asset)
) STRICT;
CREATE INDEX acme_credentials_expires ON acme_credentials (expires_us);
