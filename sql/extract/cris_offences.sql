-- CRIS crime reports recorded in the bound window (London local time, as stored).
-- The caller widens the window by a day each side and assigns the exact month in Python, because
-- drivers store DATETIME text differently. Only the columns the counting rules need are selected:
-- no PII (victim_name, victim_dob, mo_text) and no precise location (easting, northing).
-- cris_ref is extracted only to check uniqueness; harmonisation drops it.
-- migrated_to_connect: the crime was migrated into CONNECT at cut-over (contract rule 3), so the
-- CONNECT offence, the live system, is its record and this row must not be counted as well.
-- It is a join against the distinct legacy references of the CONNECT offences recorded in the same
-- window, not a correlated subquery: the contract promises no secondary index, and without one a
-- correlated EXISTS scans connect_offence once per CRIS row (quadratic on SQLite). A migrated offence
-- carries the original recording time (contract rule 3), so its reference is in the window's offences.
SELECT
    r.cris_ref,
    r.recorded_ocu,
    r.offence_code,
    r.premises_type,
    r.recorded_at,
    r.crime_status,
    r.lsoa_code,
    r.ward_code,
    r.hate_race,
    r.hate_religion,
    r.hate_sexual_orientation,
    r.hate_disability,
    r.hate_transgender,
    r.domestic_abuse,
    r.last_modified_at,
    CASE WHEN m.legacy_cris_ref IS NULL THEN 0 ELSE 1 END AS migrated_to_connect
FROM dm.cris_crime_report AS r
LEFT JOIN (
    SELECT DISTINCT legacy_cris_ref
    FROM dm.connect_offence
    WHERE legacy_cris_ref IS NOT NULL
      AND recorded_at_utc >= :window_start
      AND recorded_at_utc < :window_end
) AS m ON m.legacy_cris_ref = r.cris_ref
WHERE r.recorded_at >= :window_start
  AND r.recorded_at < :window_end
