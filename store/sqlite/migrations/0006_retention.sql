-- Schema version 6: command expiry, re-pushes after a lost response, and
-- retention.
--
-- mdm_queue: expires_us is the command's ExpiresAt (NULL: none); result_us
-- when its latest result arrived (0 when the caller gave no time);
-- repushes counts the re-pushes sent because its lease lapsed, and
-- repush_us is when it is next due for one: the end of its lease, or later
-- after a re-push (NULL while it is not out with a device).
ALTER TABLE mdm_queue ADD COLUMN expires_us INTEGER;
ALTER TABLE mdm_queue ADD COLUMN result_us  INTEGER;
ALTER TABLE mdm_queue ADD COLUMN repushes   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mdm_queue ADD COLUMN repush_us  INTEGER;

-- Results stored before this version count as received now, so that they
-- are kept for the whole retention period from here.
UPDATE mdm_queue SET result_us = CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)
	WHERE result_status IS NOT NULL;
-- Commands out with a device now become due for a re-push when their lease
-- ends.
UPDATE mdm_queue SET repush_us = lease_us WHERE state = 0 AND lease_us IS NOT NULL;

-- Each index holds only the rows one sweep step looks for, in the order it
-- takes them.
CREATE INDEX mdm_queue_expires ON mdm_queue (expires_us) WHERE state <> 2 AND expires_us IS NOT NULL;
CREATE INDEX mdm_queue_repush  ON mdm_queue (repush_us)  WHERE state = 0 AND repush_us IS NOT NULL;
CREATE INDEX mdm_queue_done    ON mdm_queue (result_us)  WHERE state = 2;
CREATE INDEX mdm_enrollments_checked_out ON mdm_enrollments (updated_us) WHERE checked_out = 1;
CREATE INDEX enrollments_finished ON enrollments (updated_us)
	WHERE state IN ('removed', 'expired', 'revoked', 'locked');
