-- CONNECT offences recorded in the bound window (UTC, as stored). The caller widens the window
-- by a day each side and assigns the London-time month in Python.
-- Only the columns the counting rules need: never connect_person / connect_offence_person, never
-- latitude, longitude or address_text, never occurrence_ref. The legacy CRIS reference itself is not
-- selected: only whether it is set (migrated_from_cris) and whether an earlier offence (lower
-- offence_id) already carries the same reference (legacy_ref_duplicate), so one migrated crime keeps
-- exactly one CONNECT record. offence_id is extracted only to check uniqueness; harmonisation drops it.
-- LEFT JOINs: an offence whose occurrence or location is missing is still extracted and accounted for
-- (its borough becomes Unknown, it is not geocoded). The first offence of each legacy reference comes
-- from one grouped read of the window's offences joined in, not a correlated subquery, so the cost does
-- not depend on a secondary index the contract does not promise. Offences migrated from one CRIS crime
-- all carry its original recording time (contract rule 3), so they are in the same window.
SELECT
    o.offence_id,
    o.occurrence_id,
    occ.owning_unit_code,
    o.ho_offence_code,
    o.premises_type,
    o.recorded_at_utc,
    o.offence_status,
    CASE WHEN o.legacy_cris_ref IS NULL THEN 0 ELSE 1 END AS migrated_from_cris,
    CASE WHEN f.first_offence_id < o.offence_id THEN 1 ELSE 0 END AS legacy_ref_duplicate,
    o.hate_crime_strands,
    o.domestic_abuse_flag,
    loc.lsoa_code,
    loc.ward_code,
    o.last_modified_at_utc
FROM dm.connect_offence AS o
LEFT JOIN dm.connect_occurrence AS occ ON occ.occurrence_id = o.occurrence_id
LEFT JOIN dm.connect_location AS loc ON loc.location_id = occ.location_id
LEFT JOIN (
    SELECT legacy_cris_ref, MIN(offence_id) AS first_offence_id
    FROM dm.connect_offence
    WHERE legacy_cris_ref IS NOT NULL
      AND recorded_at_utc >= :window_start
      AND recorded_at_utc < :window_end
    GROUP BY legacy_cris_ref
) AS f ON f.legacy_cris_ref = o.legacy_cris_ref
WHERE o.recorded_at_utc >= :window_start
  AND o.recorded_at_utc < :window_end
