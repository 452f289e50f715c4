-- Schema version 2: room in every page of the two tables each check-in
-- rewrites. An UPDATE that changes no indexed column (a TokenUpdate, most
-- enrollment transitions) can then be a heap-only tuple (HOT) update: the
-- new row version goes into the same page and none of the table's indexes
-- gains an entry, which saves their WAL and keeps them from bloating.
-- Existing pages get the room as rows move; new pages have it at once.
ALTER TABLE enrollments SET (fillfactor = 80);
ALTER TABLE mdm_enrollments SET (fillfactor = 80);
