"""Vendored public lookups (see PROVENANCE.md beside this file) and their loaders.

Every loader is cached: the files are small and read-only, and several stages need the same lookup.
"""

from functools import cache
from importlib import resources

import pandas as pd

CRIS_CUTOVER_LOCAL = "2024-02-28 00:00:00"  # first instant (London time) that CONNECT is the system of record
AVIATION_UNIT = "SO18"
AVIATION_BOROUGH = "London Heathrow and London City Airports"
UNKNOWN_BOROUGH = "Unknown"
HATE_STRANDS = ("RACE", "RELIGION", "SEXUAL ORIENTATION", "DISABILITY", "TRANSGENDER")
# The harmonised columns holding each strand's flag (same order as HATE_STRANDS).
HATE_COLUMNS = (
    "hate_race",
    "hate_religion",
    "hate_sexual_orientation",
    "hate_disability",
    "hate_transgender",
)


def _read(name: str) -> pd.DataFrame:
    with resources.files(__package__).joinpath(name).open("rb") as fh:
        # keep_default_na=False: codes such as "NA" must stay text, and empty means empty.
        return pd.read_csv(fh, dtype=str, keep_default_na=False, encoding="utf-8-sig")


@cache
def offence_classification() -> pd.DataFrame:
    """One row per HO code (and premises type for residential burglary): ho_code, cris_offence_code,
    premises_type (ANY / HOME / UNCONNECTED BUILDING), mps_major, mps_minor, sensitivity, ..."""
    return _read("offence_classification.csv")


@cache
def category_sensitivity() -> dict[tuple[str, str], str]:
    """(mps_major, mps_minor) -> 'high' | 'standard'.

    A category is `high` only when every code in it is high (rape, other sexual offences, homicide).
    Large mixed categories such as VIOLENCE WITH INJURY contain a few high codes but are published at
    every level, as the MPS does today; the disclosure policy names this rule.
    """
    c = offence_classification()
    out: dict[tuple[str, str], str] = {}
    for (major, minor), grp in c.groupby(["mps_major", "mps_minor"]):
        out[(str(major), str(minor))] = "high" if (grp["sensitivity"] == "high").all() else "standard"
    return out


@cache
def mps_units() -> pd.DataFrame:
    """cris_ocu_code, connect_unit_code, published_borough_name, borough_gss_code (SO18 has no GSS code)."""
    return _read("mps_units.csv")


@cache
def published_borough_names() -> tuple[str, ...]:
    """Every borough name a published file may carry, pseudo-boroughs included."""
    names = sorted(set(mps_units()["published_borough_name"]))
    return tuple(names + [UNKNOWN_BOROUGH])


@cache
def wards() -> pd.DataFrame:
    """London wards, 2022 boundaries with ONS Dec 2023 codes: WD23CD, WD23NM, LAD23CD, LAD23NM."""
    return _read("london_ward23_to_borough__derived.csv")


@cache
def lsoas() -> pd.DataFrame:
    """London LSOAs (2021): LSOA21CD, LSOA21NM, WD25CD, WD25NM, LAD25CD, LAD25NM (best fit)."""
    return _read("london_lsoa21_to_ward25_to_borough__derived.csv")


@cache
def boroughs() -> pd.DataFrame:
    """gss_code, name, in_mps_area, note: the 33 London LADs and the Datastore pseudo-boroughs."""
    return _read("london_boroughs__derived.csv")


@cache
def volumes_2023() -> pd.DataFrame:
    """Average monthly recorded crimes in 2023 per borough and MPS minor category (synthetic volumes only)."""
    df = _read("mps_volumes_2023.csv")
    df["avg_monthly_crimes_2023"] = df["avg_monthly_crimes_2023"].astype(int)
    return df
