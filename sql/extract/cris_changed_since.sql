-- Change detection for revisions: the recording times of CRIS reports modified after the bound time (London
-- local time). The caller turns them into counting months; no identifier is selected.
SELECT DISTINCT r.recorded_at
FROM dm.cris_crime_report AS r
WHERE r.last_modified_at > :since
