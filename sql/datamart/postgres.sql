-- DataMart contract tables on PostgreSQL (integration tests): schema dm. See shared/datamart/CONTRACT.md.
-- Timestamps carry no offset: CRIS timestamps are London local time, CONNECT timestamps UTC.
-- PostgreSQL spellings: DATETIME -> TIMESTAMP(0), DATETIME2 -> TIMESTAMP(6), NVARCHAR -> VARCHAR (UTF-8),
-- DECIMAL -> NUMERIC, BIT -> SMALLINT restricted to 0/1 (PostgreSQL's BIT is a bit string, not a flag).
CREATE SCHEMA IF NOT EXISTS dm;

-- CRIS: one row per crime report; times are London local time.
CREATE TABLE dm.cris_crime_report (
    cris_ref VARCHAR(12) NOT NULL PRIMARY KEY,
    recorded_ocu VARCHAR(4) NULL,
    offence_code VARCHAR(7) NOT NULL,
    premises_type VARCHAR(20) NULL,
    recorded_at TIMESTAMP(0) NOT NULL,
    committed_from TIMESTAMP(0) NULL,
    committed_to TIMESTAMP(0) NULL,
    crime_status VARCHAR(10) NOT NULL,
    lsoa_code CHAR(9) NULL,
    ward_code CHAR(9) NULL,
    easting INT NULL,
    northing INT NULL,
    hate_race SMALLINT NOT NULL CHECK (hate_race IN (0, 1)),
    hate_religion SMALLINT NOT NULL CHECK (hate_religion IN (0, 1)),
    hate_sexual_orientation SMALLINT NOT NULL CHECK (hate_sexual_orientation IN (0, 1)),
    hate_disability SMALLINT NOT NULL CHECK (hate_disability IN (0, 1)),
    hate_transgender SMALLINT NOT NULL CHECK (hate_transgender IN (0, 1)),
    domestic_abuse SMALLINT NOT NULL CHECK (domestic_abuse IN (0, 1)),
    victim_name VARCHAR(100) NULL,
    victim_dob DATE NULL,
    mo_text VARCHAR(2000) NULL,
    last_modified_at TIMESTAMP(0) NOT NULL
);

CREATE INDEX ix_cris_crime_report_recorded_at ON dm.cris_crime_report (recorded_at);

-- CONNECT: times are UTC.
CREATE TABLE dm.connect_location (
    location_id BIGINT NOT NULL PRIMARY KEY,
    latitude NUMERIC(9, 6) NULL,
    longitude NUMERIC(9, 6) NULL,
    lsoa_code CHAR(9) NULL,
    ward_code CHAR(9) NULL,
    borough_gss_code CHAR(9) NULL,
    address_text VARCHAR(400) NULL
);

CREATE TABLE dm.connect_occurrence (
    occurrence_id BIGINT NOT NULL PRIMARY KEY,
    occurrence_ref VARCHAR(20) NOT NULL,
    owning_unit_code VARCHAR(10) NULL,
    location_id BIGINT NULL,
    reported_at_utc TIMESTAMP(6) NOT NULL
);

CREATE TABLE dm.connect_offence (
    offence_id BIGINT NOT NULL PRIMARY KEY,
    occurrence_id BIGINT NOT NULL,
    ho_offence_code VARCHAR(8) NOT NULL,
    premises_type VARCHAR(40) NULL,
    recorded_at_utc TIMESTAMP(6) NOT NULL,
    offence_status VARCHAR(12) NOT NULL,
    legacy_cris_ref VARCHAR(12) NULL,
    hate_crime_strands VARCHAR(200) NULL,
    domestic_abuse_flag CHAR(1) NOT NULL,
    last_modified_at_utc TIMESTAMP(6) NOT NULL
);

CREATE INDEX ix_connect_offence_recorded_at_utc ON dm.connect_offence (recorded_at_utc);
CREATE INDEX ix_connect_offence_occurrence_id ON dm.connect_offence (occurrence_id);
CREATE INDEX ix_connect_offence_legacy_cris_ref ON dm.connect_offence (legacy_cris_ref);

CREATE TABLE dm.connect_person (
    person_id BIGINT NOT NULL PRIMARY KEY,
    surname VARCHAR(100) NULL,
    forenames VARCHAR(100) NULL,
    date_of_birth DATE NULL,
    ethnicity_code VARCHAR(4) NULL
);

-- Link table: the contract names no key (a person may hold several roles in one offence).
CREATE TABLE dm.connect_offence_person (
    offence_id BIGINT NOT NULL,
    person_id BIGINT NOT NULL,
    role VARCHAR(10) NOT NULL
);

CREATE INDEX ix_connect_offence_person_offence_id ON dm.connect_offence_person (offence_id);
