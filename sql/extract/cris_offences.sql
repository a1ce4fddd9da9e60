-- CRIS crime reports recorded in the bound window (London local time, as stored).
-- The caller widens the window by a day each side and assigns the exact month in Python, because
-- drivers store DATETIME text differently. Only the columns the counting rules need are selected:
-- no PII (victim_name, victim_dob, mo_text) and no precise location (easting, northing).
-- cris_ref is extracted only to check uniqueness; harmonisation drops it.
-- migrated_to_connect: the crime was migrated into CONNECT at cut-over (contract rule 3), so the
-- CONNECT offence, the live system, is its record and this row must not be counted as well.
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
    CASE
        WHEN EXISTS (SELECT 1 FROM dm.connect_offence AS o WHERE o.legacy_cris_ref = r.cris_ref) THEN 1
        ELSE 0
    END AS migrated_to_connect
FROM dm.cris_crime_report AS r
WHERE r.recorded_at >= :window_start
  AND r.recorded_at < :window_end
