-- Schema version 4: the platform of an MDM enrollment (mdm.Platform: iOS,
-- iPadOS, macOS, tvOS, visionOS, watchOS), derived at Authenticate and
-- copied to user channels, which the command policy reads. Rows stored
-- before it have '' (unknown): the policy judges them by their stored
-- product name, or by its strictest table.
ALTER TABLE mdm_enrollments ADD COLUMN platform TEXT NOT NULL DEFAULT '';
