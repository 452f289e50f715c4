-- Schema version 9 is reserved for a change made alongside version 10; this
-- placeholder keeps the versions without gaps until it lands, and gives way
-- to it then.
SELECT 1;
