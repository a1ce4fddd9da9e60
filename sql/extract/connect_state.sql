-- The CONNECT offence table's state at extraction, in one pass over it: its latest modification time (UTC),
-- the watermark a release stores so the next one can ask which months changed since; how many offences
-- have no recorded time (they belong to no month, so no monthly extract can count them, and a release is
-- blocked while any exist); and the latest recording time (UTC), so that months after it are not asked
-- for. One pass, because the contract promises no index on these columns: without one, each aggregate is
-- a scan of the whole table.
SELECT
    MAX(o.last_modified_at_utc) AS last_modified,
    SUM(CASE WHEN o.recorded_at_utc IS NULL THEN 1 ELSE 0 END) AS undated,
    MAX(o.recorded_at_utc) AS latest_recorded
FROM dm.connect_offence AS o
