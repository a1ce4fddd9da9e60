"""Small extract frames for rule tests: defaults are a counted Westminster crime of March 2024 (CONNECT) or
June 2023 (CRIS); each test overrides only the columns its rule reads."""

import pandas as pd

from metpipeline.extract.queries import CONNECT_COLUMNS, CRIS_COLUMNS
from metpipeline.harmonise.rules import HATE_COLUMNS

CRIS_DEFAULT = {
    "recorded_ocu": "CW", "offence_code": "105/01", "premises_type": None,
    "recorded_at": "2023-06-10 10:00:00",
    "crime_status": "CRIME", "lsoa_code": "E01004670", "ward_code": "E05013799", "hate_race": 0,
    "hate_religion": 0, "hate_sexual_orientation": 0, "hate_disability": 0, "hate_transgender": 0,
    "domestic_abuse": 0, "last_modified_at": "2024-11-05 00:00:00", "migrated_to_connect": False,
}  # fmt: skip
CONNECT_DEFAULT = {
    "occurrence_id": 1, "owning_unit_code": "E09000033", "ho_offence_code": "105A", "premises_type": None,
    "recorded_at_utc": "2024-03-10 10:00:00", "offence_status": "CONFIRMED", "migrated_from_cris": False,
    "legacy_ref_duplicate": False, "hate_crime_strands": None, "domestic_abuse_flag": "N",
    "lsoa_code": "E01004670", "ward_code": "E05013799", "last_modified_at_utc": "2024-11-05 00:00:00",
}  # fmt: skip


def cris_frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame([{**CRIS_DEFAULT, "cris_key": i + 1, **r} for i, r in enumerate(rows)])
    df = df.reindex(columns=CRIS_COLUMNS)
    for col in ("recorded_at", "last_modified_at"):
        df[col] = pd.to_datetime(df[col])
    for col in (*HATE_COLUMNS, "domestic_abuse", "migrated_to_connect"):
        df[col] = df[col].astype(bool)
    return df


def connect_frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame([{**CONNECT_DEFAULT, "offence_id": i + 1, **r} for i, r in enumerate(rows)])
    df = df.reindex(columns=CONNECT_COLUMNS)
    for col in ("recorded_at_utc", "last_modified_at_utc"):
        df[col] = pd.to_datetime(df[col])
    for col in ("migrated_from_cris", "legacy_ref_duplicate"):
        df[col] = df[col].astype(bool)
    return df
