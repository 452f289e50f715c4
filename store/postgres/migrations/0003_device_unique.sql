-- Schema version 3: a device id (the EnrollmentID or UDID a device checked
-- in with) belongs to at most one live enrollment. Finished enrollments
-- (removed, expired, revoked, locked) keep their device id for the record
-- and may share it; an enrollment still in progress or enrolled may not, so
-- no second enrollment can claim a device that another one manages, even
-- when two replicas race. A database that already holds such a pair fails
-- this step and keeps its old schema: resolve the pair (revoke one) first.
CREATE UNIQUE INDEX enrollments_device_live ON enrollments (device_id)
	WHERE device_id <> '' AND state NOT IN ('removed', 'expired', 'revoked', 'locked');
