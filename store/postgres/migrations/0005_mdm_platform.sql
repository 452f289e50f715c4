-- Schema version 5: the platform of an MDM enrollment (mdm.Platform: iOS,
-- iPadOS, macOS, tvOS, visionOS, watchOS), derived at Authenticate and
-- copied to user channels, which the command policy reads. Rows stored
-- before it have '' (unknown): the policy judges them by their stored
-- product name, or by its strictest table. A constant default adds the
-- column without rewriting the table.
ALTER TABLE mdm_enrollments ADD COLUMN platform text NOT NULL DEFAULT '';
