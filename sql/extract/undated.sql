-- Source rows with no recorded time belong to no month, so no monthly extract can count them. A release is
-- blocked while any exist: every source record is counted or excluded with a reason.
SELECT
    (SELECT COUNT(*) FROM dm.cris_crime_report AS r WHERE r.recorded_at IS NULL) AS cris_undated,
    (SELECT COUNT(*) FROM dm.connect_offence AS o WHERE o.recorded_at_utc IS NULL) AS connect_undated
