-- Schema version 8: when each command was queued (enqueued_us, NULL for
-- commands queued before), so that a host can watch how long commands wait
-- for devices (mdm.Store's QueueStats).
ALTER TABLE mdm_queue ADD COLUMN enqueued_us bigint;
