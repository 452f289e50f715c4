-- Schema version 11: an enrollment's facts (what its device reported) are
-- versioned on their own instead of by the catalog's revision, so that a
-- device reporting a new OS release no longer makes every other
-- enrollment's sync state stale. ddm_facts.revision counts the changes of
-- one enrollment's facts; ddm_sync.facts_revision is the one its state was
-- computed at. A state is replaced only by one of a higher (revision,
-- facts_revision). Rows written before start at 0, which their states
-- (computed when facts still moved the catalog's revision) match.
ALTER TABLE ddm_facts ADD COLUMN revision bigint NOT NULL DEFAULT 0;
ALTER TABLE ddm_sync ADD COLUMN facts_revision bigint NOT NULL DEFAULT 0;
