-- The CRIS table's state at extraction, in one pass over it: its latest modification time (London local),
-- the watermark a release stores so the next one can ask which months changed since; how many reports
-- have no recorded time (they belong to no month, so no monthly extract can count them, and a release is
-- blocked while any exist); and the latest recording time, so that months after it are not asked for
-- (CRIS after the cut-over: without an index on recorded_at, each such question is a scan of the table).
-- One pass, because the contract promises no index on these columns: without one, each aggregate is a
-- scan of the whole table.
SELECT
    MAX(r.last_modified_at) AS last_modified,
    SUM(CASE WHEN r.recorded_at IS NULL THEN 1 ELSE 0 END) AS undated,
    MAX(r.recorded_at) AS latest_recorded
FROM dm.cris_crime_report AS r
