-- The latest modification time per system (CRIS London local, CONNECT UTC): the watermark a release
-- stores so the next one can ask which months changed since.
SELECT
    (SELECT MAX(r.last_modified_at) FROM dm.cris_crime_report AS r) AS cris_last_modified,
    (SELECT MAX(o.last_modified_at_utc) FROM dm.connect_offence AS o) AS connect_last_modified
