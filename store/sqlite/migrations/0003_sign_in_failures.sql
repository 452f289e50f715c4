-- Schema version 3: the sign-in throttle's counts (enroll.FailureStore),
-- one row per key: an enrollment ("enrollment:<id>") or a client address
-- ("address:<ip or IPv6 /64>"). failures is the count, last_us the latest
-- failure and prev_us the one before it (what AddFailure reports back).
-- Rows whose last_us is older than the throttle's window are dead weight
-- that PruneFailures removes through the last_us index.
CREATE TABLE sign_in_failures (
	key      TEXT    PRIMARY KEY,
	failures INTEGER NOT NULL,
	last_us  INTEGER NOT NULL,
	prev_us  INTEGER
) STRICT, WITHOUT ROWID;

CREATE INDEX sign_in_failures_last ON sign_in_failures (last_us);
