-- DataMart contract tables, embedded (SQLite) form: same tables and columns as the SQL Server DataMart
-- (tsql.sql, schema dm), in the main database with no schema. See shared/datamart/CONTRACT.md.
-- SQLite keeps DATETIME / DATE values as text 'YYYY-MM-DD HH:MM:SS' / 'YYYY-MM-DD'; BIT as 0/1 integers.
-- The declared types are kept identical to the contract so a reader sees one interface.

-- CRIS: one row per crime report; times are London local time.
CREATE TABLE cris_crime_report (
    cris_ref VARCHAR(12) NOT NULL PRIMARY KEY,
    recorded_ocu VARCHAR(4) NULL,
    offence_code VARCHAR(7) NOT NULL,
    premises_type VARCHAR(20) NULL,
    recorded_at DATETIME NOT NULL,
    committed_from DATETIME NULL,
    committed_to DATETIME NULL,
    crime_status VARCHAR(10) NOT NULL,
    lsoa_code CHAR(9) NULL,
    ward_code CHAR(9) NULL,
    easting INT NULL,
    northing INT NULL,
    hate_race BIT NOT NULL,
    hate_religion BIT NOT NULL,
    hate_sexual_orientation BIT NOT NULL,
    hate_disability BIT NOT NULL,
    hate_transgender BIT NOT NULL,
    domestic_abuse BIT NOT NULL,
    victim_name NVARCHAR(100) NULL,
    victim_dob DATE NULL,
    mo_text NVARCHAR(2000) NULL,
    last_modified_at DATETIME NOT NULL
);

CREATE INDEX ix_cris_crime_report_recorded_at ON cris_crime_report (recorded_at);

-- CONNECT: times are UTC.
CREATE TABLE connect_location (
    location_id BIGINT NOT NULL PRIMARY KEY,
    latitude DECIMAL(9, 6) NULL,
    longitude DECIMAL(9, 6) NULL,
    lsoa_code CHAR(9) NULL,
    ward_code CHAR(9) NULL,
    borough_gss_code CHAR(9) NULL,
    address_text NVARCHAR(400) NULL
);

CREATE TABLE connect_occurrence (
    occurrence_id BIGINT NOT NULL PRIMARY KEY,
    occurrence_ref VARCHAR(20) NOT NULL,
    owning_unit_code VARCHAR(10) NULL,
    location_id BIGINT NULL,
    reported_at_utc DATETIME2 NOT NULL
);

CREATE TABLE connect_offence (
    offence_id BIGINT NOT NULL PRIMARY KEY,
    occurrence_id BIGINT NOT NULL,
    ho_offence_code VARCHAR(8) NOT NULL,
    premises_type VARCHAR(40) NULL,
    recorded_at_utc DATETIME2 NOT NULL,
    offence_status VARCHAR(12) NOT NULL,
    legacy_cris_ref VARCHAR(12) NULL,
    hate_crime_strands VARCHAR(200) NULL,
    domestic_abuse_flag CHAR(1) NOT NULL,
    last_modified_at_utc DATETIME2 NOT NULL
);

CREATE INDEX ix_connect_offence_recorded_at_utc ON connect_offence (recorded_at_utc);
CREATE INDEX ix_connect_offence_occurrence_id ON connect_offence (occurrence_id);
CREATE INDEX ix_connect_offence_legacy_cris_ref ON connect_offence (legacy_cris_ref);

CREATE TABLE connect_person (
    person_id BIGINT NOT NULL PRIMARY KEY,
    surname NVARCHAR(100) NULL,
    forenames NVARCHAR(100) NULL,
    date_of_birth DATE NULL,
    ethnicity_code VARCHAR(4) NULL
);

-- Link table: the contract names no key (a person may hold several roles in one offence).
CREATE TABLE connect_offence_person (
    offence_id BIGINT NOT NULL,
    person_id BIGINT NOT NULL,
    role VARCHAR(10) NOT NULL
);

CREATE INDEX ix_connect_offence_person_offence_id ON connect_offence_person (offence_id);
