-- Golden DataMart: a small hand-written DataMart covering every counting rule's edge case.
-- Loaded after sql/datamart/sqlite.sql. The expected files under expected/ were computed by hand from
-- these rows (see expected/README.md); the release month of the golden test is 2024-10, so the 24-month
-- window is 2022-11..2024-10 and the historical window 2022-01..2022-10.
--
-- Shorthand used in the comments:
--   V  = 105/01 / 105A  VIOLENCE AGAINST THE PERSON / VIOLENCE WITHOUT INJURY
--   H  = 008/13 / 8M    VIOLENCE AGAINST THE PERSON / STALKING AND HARASSMENT
--   S  = 046/00 / 46    THEFT / SHOPLIFTING
--   B  = 028/05 / 28E   BURGLARY / RES BURGLARY OF A HOME or OF UNCONNECTED BUILDING (premises split)
--   R  = 034/02 / 34B   ROBBERY / ROBBERY OF PERSONAL PROPERTY
--   WM = Westminster (CRIS OCU CW, CONNECT unit E09000033); TH = Tower Hamlets (HT, E09000030)
--   W1 = ward E05013799 Little Venice (Westminster), L1 = LSOA E01004670 Westminster 009A (Westminster)
--   W2 = ward E05009317 Bethnal Green (Tower Hamlets), L2 = LSOA E01035704 Tower Hamlets 036C

-- ============================ CRIS (times are London local time) ============================
INSERT INTO cris_crime_report (cris_ref, recorded_ocu, offence_code, premises_type, recorded_at, crime_status,
    lsoa_code, ward_code, hate_race, hate_religion, hate_sexual_orientation, hate_disability, hate_transgender,
    domestic_abuse, last_modified_at) VALUES
-- historical window
('0000001/22', 'CW', '105/01', NULL, '2022-03-15 10:00:00', 'CRIME', 'E01004670', 'E05013799', 0,0,0,0,0, 0, '2024-11-05 00:00:00'), -- counts 2022-03 V WM W1 L1
('0000002/22', 'CW', '105/01', NULL, '2022-03-20 11:00:00', 'NO CRIME', 'E01004670', 'E05013799', 0,0,0,0,0, 0, '2024-11-05 00:00:00'), -- excluded: not a crime
('0000003/22', 'CW', '105/01', NULL, '2022-10-31 23:59:59', 'CRIME', 'E01004670', 'E05013799', 0,0,0,0,0, 0, '2024-11-05 00:00:00'), -- last second of the historical window: 2022-10
-- 24-month window, CRIS era
('0000004/22', 'HT', '046/00', NULL, '2022-11-01 00:00:00', 'CRIME', NULL, NULL, 0,0,0,0,0, 0, '2024-11-05 00:00:00'), -- first second of the 24m window; not geocoded: borough only
('0000005/23', 'CW', '105/01', NULL, '2023-05-01 00:00:00', 'TRANSFER', 'E01004670', 'E05013799', 0,0,0,0,0, 0, '2024-11-05 00:00:00'), -- excluded: transferred
('0000006/23', 'CW', '028/05', 'DWELLING', '2023-06-10 10:00:00', 'CRIME', 'E01004670', 'E05013799', 0,0,0,0,0, 0, '2024-11-05 00:00:00'), -- residential burglary, DWELLING -> HOME
('0000007/23', 'CW', '028/05', 'UNCONNECTED BUILDING', '2023-06-11 10:00:00', 'CRIME', 'E01004670', 'E05013799', 0,0,0,0,0, 0, '2024-11-05 00:00:00'), -- -> UNCONNECTED BUILDING
('0000008/23', 'CW', '028/05', NULL, '2023-06-12 10:00:00', 'CRIME', 'E01004670', 'E05013799', 0,0,0,0,0, 0, '2024-11-05 00:00:00'), -- no premises: HOME, premises_defaulted
('0000009/23', 'SO18', '034/02', NULL, '2023-07-01 12:00:00', 'CRIME', NULL, NULL, 0,0,0,0,0, 0, '2024-11-05 00:00:00'), -- SO18 -> airports pseudo-borough
('0000010/23', NULL, '034/02', NULL, '2023-07-02 12:00:00', 'CRIME', NULL, NULL, 0,0,0,0,0, 0, '2024-11-05 00:00:00'), -- NULL OCU -> Unknown
('0000011/23', 'ZZ', '034/02', NULL, '2023-07-03 12:00:00', 'CRIME', NULL, NULL, 0,0,0,0,0, 0, '2024-11-05 00:00:00'), -- unknown OCU -> Unknown
('0000012/23', 'CW', '008/13', NULL, '2023-08-05 10:00:00', 'CRIME', 'E01004670', 'E05013799', 1,1,0,0,0, 1, '2024-11-05 00:00:00'), -- hate race + religion, domestic abuse bit
('0000013/23', 'CW', '105/01', NULL, '2023-10-31 23:30:00', 'CRIME', 'E01004670', 'E05013799', 0,0,0,0,0, 0, '2024-11-05 00:00:00'), -- CRIS is stored local: October, no conversion
('0000021/23', 'CW', '105/01', NULL, '2023-09-30T23:00:00', 'CRIME', 'E01004670', 'E05013799', 0,0,0,0,0, 0, '2024-11-05 00:00:00'), -- ISO text with a T (another driver's form): 2023-09
-- migration and cut-over
('0000014/24', 'CW', '105/01', NULL, '2024-01-15 09:00:00', 'CRIME', 'E01004670', 'E05013799', 0,0,0,0,0, 0, '2024-11-05 00:00:00'), -- migrated (offence 101 CONFIRMED): counted once, from CONNECT
('0000015/24', 'CW', '105/01', NULL, '2024-02-10 09:00:00', 'CRIME', 'E01004670', 'E05013799', 0,0,0,0,0, 0, '2024-11-05 00:00:00'), -- migrated, then cancelled in CONNECT (102): counted nowhere
('0000016/24', 'CW', '105/01', NULL, '2024-02-20 09:00:00', 'NO CRIME', 'E01004670', 'E05013799', 0,0,0,0,0, 0, '2024-11-05 00:00:00'), -- migrated, NO CRIME in CRIS but CONFIRMED in CONNECT (103): CONNECT wins
('0000017/24', 'CW', '105/01', NULL, '2024-02-05 09:00:00', 'CRIME', 'E01004670', 'E05013799', 0,0,0,0,0, 0, '2024-11-05 00:00:00'), -- migrated twice (104, 105): 104 counts, 105 is a duplicate
('0000018/24', 'CW', '105/01', NULL, '2024-02-27 23:59:59', 'CRIME', 'E01004670', 'E05013799', 0,0,0,0,0, 0, '2024-11-05 00:00:00'), -- last CRIS second before cut-over: counts 2024-02
('0000019/24', 'CW', '105/01', NULL, '2024-02-28 00:00:00', 'CRIME', 'E01004670', 'E05013799', 0,0,0,0,0, 0, '2024-11-05 00:00:00'), -- first second of CONNECT era: excluded CRIS after cut-over
('0000020/24', 'CW', '105/01', NULL, '2024-03-02 10:00:00', 'CRIME', 'E01004670', 'E05013799', 0,0,0,0,0, 0, '2024-11-05 00:00:00'); -- excluded CRIS after cut-over (2024-03)

-- PII sentinels: these values must never reach any output file (asserted by the golden test).
UPDATE cris_crime_report SET victim_name = 'PII-SENTINEL-NAME', victim_dob = '1980-01-01',
    mo_text = 'PII-SENTINEL-MO', easting = 526000, northing = 181000;

-- ============================ CONNECT (times are UTC) ============================
INSERT INTO connect_location (location_id, latitude, longitude, lsoa_code, ward_code, borough_gss_code, address_text) VALUES
(1, 51.521000, -0.184000, 'E01004670', 'E05013799', 'E09000033', 'PII-SENTINEL-ADDRESS 1'), -- W1 / L1
(2, 51.527000, -0.055000, 'E01035704', 'E05009317', 'E09000030', 'PII-SENTINEL-ADDRESS 2'), -- W2 / L2
(3, NULL, NULL, NULL, NULL, NULL, 'PII-SENTINEL-ADDRESS 3');                                -- not geocoded

INSERT INTO connect_occurrence (occurrence_id, occurrence_ref, owning_unit_code, location_id, reported_at_utc) VALUES
(1, '01/000001/24', 'E09000033', 1, '2024-01-15 09:00:00'),   -- holds the migrated offences
(2, '01/000002/24', 'E09000033', 1, '2024-02-27 23:00:00'),   -- general Westminster occurrence
(3, '01/000003/24', 'SO18', 3, '2024-07-01 10:00:00'),        -- Aviation Security
(4, '01/000004/24', NULL, 3, '2024-07-02 10:00:00'),          -- owning unit unknown (NULL)
(5, '01/000005/24', 'E09000099', 3, '2024-07-03 10:00:00'),   -- owning unit not in mps_units.csv
(6, '01/000006/24', 'E09000033', 2, '2024-08-01 10:00:00'),   -- Westminster owns it; location in Tower Hamlets
(7, '01/000007/24', 'E09000033', NULL, '2024-08-02 10:00:00'),-- no location at all: not geocoded
(8, '01/000008/24', 'E09000030', 2, '2024-09-01 10:00:00');   -- several offences in one occurrence

INSERT INTO connect_offence (offence_id, occurrence_id, ho_offence_code, premises_type, recorded_at_utc, offence_status,
    legacy_cris_ref, hate_crime_strands, domestic_abuse_flag, last_modified_at_utc) VALUES
-- migrated from CRIS (original recording time kept; GMT so UTC = London)
(101, 1, '105A', NULL, '2024-01-15 09:00:00', 'CONFIRMED', '0000014/24', NULL, 'N', '2024-11-05 00:00:00'), -- counts 2024-01 (not CRIS)
(102, 1, '105A', NULL, '2024-02-10 09:00:00', 'CANCELLED', '0000015/24', NULL, 'N', '2024-11-05 00:00:00'), -- cancelled: revision of a CRIS-era month
(103, 1, '105A', NULL, '2024-02-20 09:00:00', 'CONFIRMED', '0000016/24', NULL, 'N', '2024-11-05 00:00:00'), -- counts 2024-02
(104, 1, '105A', NULL, '2024-02-05 09:00:00', 'CONFIRMED', '0000017/24', NULL, 'N', '2024-11-05 00:00:00'), -- counts 2024-02 (first of two)
(105, 1, '105A', NULL, '2024-02-05 09:00:00', 'CONFIRMED', '0000017/24', NULL, 'N', '2024-11-05 00:00:00'), -- duplicate legacy reference
-- cut-over and time zones
(201, 2, '105A', NULL, '2024-02-27 23:30:00', 'CONFIRMED', NULL, NULL, 'N', '2024-11-05 00:00:00'), -- not migrated, before cut-over: excluded
(202, 2, '105A', NULL, '2024-02-28 00:00:00', 'CONFIRMED', NULL, NULL, 'N', '2024-11-05 00:00:00'), -- first CONNECT-era second: counts 2024-02
(203, 2, '105A', NULL, '2024-03-31 00:30:00', 'CONFIRMED', NULL, NULL, 'N', '2024-11-05 00:00:00'), -- 00:30 GMT (BST starts 01:00 UTC): March
(204, 2, '105A', NULL, '2024-03-31 23:30:00', 'CONFIRMED', NULL, NULL, 'N', '2024-11-05 00:00:00'), -- 2024-04-01 00:30 BST: April
(205, 2, '105A', NULL, '2024-04-30 23:30:00', 'CONFIRMED', NULL, NULL, 'N', '2024-11-05 00:00:00'), -- 2024-05-01 00:30 BST: May
(206, 2, '105A', NULL, '2024-09-30 23:30:00', 'CONFIRMED', NULL, NULL, 'N', '2024-11-05 00:00:00'), -- 2024-10-01 00:30 BST: October
(207, 2, '105A', NULL, '2024-10-27 00:30:00', 'CONFIRMED', NULL, NULL, 'N', '2024-11-05 00:00:00'), -- 01:30 BST on the GMT switch day: October
(208, 2, '105A', NULL, '2024-10-31 23:30:00', 'CONFIRMED', NULL, NULL, 'N', '2024-11-05 00:00:00'), -- GMT again, 23:30 London: October
(209, 2, '105A', NULL, '2024-11-01 00:30:00', 'CONFIRMED', NULL, NULL, 'N', '2024-11-05 00:00:00'), -- November: inside October's widened SQL window, dropped in Python
-- excluded statuses (2024-04)
(210, 2, '105A', NULL, '2024-04-10 10:00:00', 'PENDING', NULL, NULL, 'N', '2024-11-05 00:00:00'),
(211, 2, '105A', NULL, '2024-04-11 10:00:00', 'TRANSFERRED', NULL, NULL, 'N', '2024-11-05 00:00:00'),
(212, 2, '105A', NULL, '2024-04-12 10:00:00', 'CANCELLED', NULL, NULL, 'N', '2024-11-05 00:00:00'),
-- residential burglary premises split (2024-06)
(213, 2, '28E', 'Residential - Home', '2024-06-01 10:00:00', 'CONFIRMED', NULL, NULL, 'N', '2024-11-05 00:00:00'),
(214, 2, '28E', 'Residential - Unconnected Building', '2024-06-02 10:00:00', 'CONFIRMED', NULL, NULL, 'N', '2024-11-05 00:00:00'),
(215, 2, '28F', NULL, '2024-06-03 10:00:00', 'CONFIRMED', NULL, NULL, 'N', '2024-11-05 00:00:00'), -- no premises: HOME, defaulted
-- borough edge cases (2024-07), none geocoded
(216, 3, '34B', NULL, '2024-07-01 10:00:00', 'CONFIRMED', NULL, NULL, 'N', '2024-11-05 00:00:00'), -- SO18
(217, 4, '34B', NULL, '2024-07-02 10:00:00', 'CONFIRMED', NULL, NULL, 'N', '2024-11-05 00:00:00'), -- NULL unit
(218, 5, '34B', NULL, '2024-07-03 10:00:00', 'CONFIRMED', NULL, NULL, 'N', '2024-11-05 00:00:00'), -- unknown unit
-- location edge cases (2024-08)
(219, 6, '105A', NULL, '2024-08-01 10:00:00', 'CONFIRMED', NULL, NULL, 'N', '2024-11-05 00:00:00'), -- borough WM, ward/LSOA in TH
(220, 7, '105A', NULL, '2024-08-02 10:00:00', 'CONFIRMED', NULL, NULL, 'N', '2024-11-05 00:00:00'), -- no location: not geocoded
-- messy hate strands and domestic abuse, three offences in one occurrence (2024-09)
(221, 8, '8M', NULL, '2024-09-01 10:00:00', 'CONFIRMED', NULL, ' race ; RELIGION;sexual  orientation ;', 'Y', '2024-11-05 00:00:00'),
(222, 8, '8M', NULL, '2024-09-01 10:00:00', 'CONFIRMED', NULL, 'Disability;TRANSGENDER; SexualOrientation', 'N', '2024-11-05 00:00:00'),
(223, 8, '105A', NULL, '2024-09-01 10:00:00', 'CONFIRMED', NULL, NULL, 'Y', '2024-11-05 00:00:00');

-- People are PII and never read; a row is here so a test can show their values never leak.
INSERT INTO connect_person (person_id, surname, forenames, date_of_birth, ethnicity_code) VALUES
(1, 'PII-SENTINEL-SURNAME', 'PII-SENTINEL-FORENAME', '1980-01-01', 'W1');
INSERT INTO connect_offence_person (offence_id, person_id, role) VALUES (221, 1, 'VICTIM');
