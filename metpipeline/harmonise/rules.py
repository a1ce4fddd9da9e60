"""The counting rules 1-7 of the DataMart contract, as pure functions over extract frames.

Each function takes columns of an extract (see docs/architecture.md) and returns a Series or DataFrame
aligned with its input. Data errors (an unmapped offence code, an unknown geography code, an unknown hate
strand) are raised as `DataError` with a message naming the code; nothing identifying is ever in it.
"""

import re
from functools import lru_cache

import numpy as np
import pandas as pd

from metpipeline.extract.queries import in_month, london_month, utc_to_london
from metpipeline.reference import (
    AVIATION_BOROUGH,
    AVIATION_UNIT,
    CRIS_CUTOVER_LOCAL,
    HATE_COLUMNS,
    HATE_STRANDS,
    UNKNOWN_BOROUGH,
    lsoas,
    mps_units,
    offence_classification,
    wards,
)

CUTOVER = pd.Timestamp(CRIS_CUTOVER_LOCAL)

# Exclusion reasons, exactly as the reconciliation JSON names them (docs/architecture.md), in precedence
# order: a row is excluded for the first reason that applies.
CRIS_REASONS = ("duplicate of migrated crime", "CRIS after cut-over", "not a crime", "transferred")
CONNECT_REASONS = (
    "CONNECT before cut-over",
    "duplicate legacy reference",
    "cancelled",
    "transferred",
    "pending",
)
_CRIS_STATUS_REASON = {"NO CRIME": "not a crime", "TRANSFER": "transferred"}
_CONNECT_STATUS_REASON = {"CANCELLED": "cancelled", "TRANSFERRED": "transferred", "PENDING": "pending"}

_STRAND_COLUMN = {re.sub(r"\s+", "", s): c for s, c in zip(HATE_STRANDS, HATE_COLUMNS, strict=True)}

# Premises types of residential burglary (rule 4), per system, to the classification's premises split.
_CRIS_PREMISES = {"DWELLING": "HOME", "UNCONNECTED BUILDING": "UNCONNECTED BUILDING"}
_CONNECT_PREMISES = {
    "RESIDENTIAL - HOME": "HOME",
    "RESIDENTIAL - UNCONNECTED BUILDING": "UNCONNECTED BUILDING",
}


class DataError(ValueError):
    """Source data the rules cannot count (unmapped code, unknown geography or strand)."""


def _clean(values: pd.Series) -> pd.Series:
    """Trimmed text with empty strings as missing (CHAR columns come back space-padded on SQL Server)."""
    out = values.astype("string").str.strip()
    return out.mask(out == "")


# --- rule 1: counting month ----------------------------------------------------------------------------
def cris_local_time(cris: pd.DataFrame) -> pd.Series:
    """CRIS stores London local time: used as stored."""
    return cris["recorded_at"]


def connect_local_time(connect: pd.DataFrame) -> pd.Series:
    """CONNECT stores UTC: converted to Europe/London."""
    return utc_to_london(connect["recorded_at_utc"])


def counting_month(local_time: pd.Series) -> pd.Series:
    return london_month(local_time)


def in_counting_month(local_time: pd.Series, month: str) -> pd.Series:
    """Whether each row counts in `month` (rule 1); False where the time is missing."""
    return in_month(local_time, month)


# --- rules 2 and 3: what counts, system of record ------------------------------------------------------
def cris_exclusion_reason(cris: pd.DataFrame) -> pd.Series:
    """Why each CRIS row is not counted (missing when it counts).

    A crime migrated to CONNECT is counted from CONNECT, whatever its CRIS status; a CRIS row recorded on
    or after the cut-over is an anomaly; otherwise only `CRIME` counts.
    """
    status = _clean(cris["crime_status"]).str.upper()
    reason = pd.Series(pd.NA, index=cris.index, dtype="string")
    reason = reason.mask(status.isin(["NO CRIME"]).fillna(False), "not a crime")
    reason = reason.mask(status.isin(["TRANSFER"]).fillna(False), "transferred")
    unknown = ~status.isin(["CRIME", *_CRIS_STATUS_REASON]).fillna(False)
    if unknown.any():
        raise DataError(
            f"CRIS crime_status values not in the contract: {sorted(set(status[unknown].fillna('NULL')))}"
        )
    reason = reason.mask(cris_local_time(cris) >= CUTOVER, "CRIS after cut-over")
    reason = reason.mask(cris["migrated_to_connect"].astype(bool), "duplicate of migrated crime")
    return reason


def connect_exclusion_reason(connect: pd.DataFrame) -> pd.Series:
    """Why each CONNECT offence is not counted (missing when it counts).

    Before the cut-over only migrated offences count (CRIS was the system of record); of several offences
    carrying one legacy CRIS reference only the first counts; otherwise only `CONFIRMED` counts.
    """
    status = _clean(connect["offence_status"]).str.upper()
    unknown = ~status.isin(["CONFIRMED", *_CONNECT_STATUS_REASON]).fillna(False)
    if unknown.any():
        raise DataError(
            "CONNECT offence_status values not in the contract: "
            f"{sorted(set(status[unknown].fillna('NULL')))}"
        )
    reason = pd.Series(pd.NA, index=connect.index, dtype="string")
    for value, why in reversed(list(_CONNECT_STATUS_REASON.items())):
        reason = reason.mask((status == value).fillna(False), why)
    reason = reason.mask(connect["legacy_ref_duplicate"].astype(bool), "duplicate legacy reference")
    before = (connect_local_time(connect) < CUTOVER) & ~connect["migrated_from_cris"].astype(bool)
    reason = reason.mask(before, "CONNECT before cut-over")
    return reason


# --- rule 4: offence classification --------------------------------------------------------------------
def classify(codes: pd.Series, premises: pd.Series, system: str) -> pd.DataFrame:
    """ho_code, mps_major, mps_minor (upper case) and premises_defaulted for each offence.

    Unmapped codes give missing categories (see `unmapped_codes`). Residential burglary splits by premises:
    no premises type, or one that is not residential, counts as HOME and is flagged premises_defaulted.
    """
    key = "cris_offence_code" if system == "CRIS" else "ho_code"
    premises_map = _CRIS_PREMISES if system == "CRIS" else _CONNECT_PREMISES
    table = offence_classification()
    code = _clean(codes)
    split_codes = set(table.loc[table["premises_type"] != "ANY", key])
    is_split = code.isin(split_codes).fillna(False)
    mapped_premises = _clean(premises).str.upper().map(premises_map).astype("string")
    defaulted = is_split & mapped_premises.isna()
    split = mapped_premises.fillna("HOME").where(is_split, "ANY")
    lookup = table.assign(_key=table[key]).set_index(["_key", "premises_type"])[
        ["ho_code", "mps_major", "mps_minor"]
    ]
    lookup = lookup[~lookup.index.duplicated()]
    out = lookup.reindex(pd.MultiIndex.from_arrays([code, split])).reset_index(drop=True)
    out.index = codes.index
    out = out.astype("string")
    out["mps_major"] = out["mps_major"].str.upper()
    out["mps_minor"] = out["mps_minor"].str.upper()
    out["premises_defaulted"] = defaulted.astype(bool)
    return out


def unmapped_codes(codes: pd.Series, classified: pd.DataFrame) -> dict[str, int]:
    """{code: rows} of offence codes not in offence_classification.csv."""
    missing = classified["ho_code"].isna()
    return {
        str(k): int(v) for k, v in _clean(codes)[missing].fillna("NULL").value_counts().sort_index().items()
    }


def unmapped_message(month: str, unmapped: dict[str, dict[str, int]]) -> str:
    """The error that stops a month: every unmapped code with its system and row count."""
    parts = [
        f"{system} {code} ({n} rows)"
        for system in ("CRIS", "CONNECT")
        for code, n in unmapped[system].items()
    ]
    return (
        f"{month}: {len(parts)} offence codes are not in offence_classification.csv: {', '.join(parts)}"
        " — map them before this month can be released"
    )


# --- rule 5: borough -------------------------------------------------------------------------------------
def _borough(units: pd.Series, key: str) -> pd.Series:
    table = mps_units()
    names = dict(zip(table[key], table["published_borough_name"], strict=True))
    names[AVIATION_UNIT] = AVIATION_BOROUGH
    return _clean(units).str.upper().map(names).astype("string").fillna(UNKNOWN_BOROUGH)


def cris_borough(recorded_ocu: pd.Series) -> pd.Series:
    """Recording OCU → published borough; SO18 → airports; NULL or unknown → Unknown."""
    return _borough(recorded_ocu, "cris_ocu_code")


def connect_borough(owning_unit_code: pd.Series) -> pd.Series:
    """Owning unit (GSS code or SO18) → published borough; NULL or unknown → Unknown."""
    return _borough(owning_unit_code, "connect_unit_code")


# --- rule 6: ward and LSOA -------------------------------------------------------------------------------
def geography(ward_code: pd.Series, lsoa_code: pd.Series) -> pd.DataFrame:
    """Ward and LSOA codes, names and boroughs; missing when not geocoded.

    A code that is not in the ONS lookups is a data error and stops the month: leaving it out silently
    would under-count the ward and LSOA files without the not-geocoded figure saying so.
    """
    ward_lookup, lsoa_lookup = _geography_lookups()
    ward = _clean(ward_code).str.upper()
    lsoa = _clean(lsoa_code).str.upper()
    bad = {c for c in ward.dropna().unique() if c not in ward_lookup} | {
        c for c in lsoa.dropna().unique() if c not in lsoa_lookup
    }
    if bad:
        raise DataError(f"geography codes not in the ONS ward/LSOA lookups: {', '.join(sorted(bad))}")

    def names(codes: pd.Series, lookup: dict) -> tuple[pd.Series, pd.Series]:
        # Every code is in the lookup (checked above); a missing code maps to missing. Looked up once
        # per distinct code and spread over the rows: a month has ~80,000 rows and ~5,000 codes.
        rows, distinct = pd.factorize(codes)  # -1 where missing
        found = [lookup[code] for code in distinct]

        def spread(i: int) -> pd.Series:
            values = pd.array([f[i] for f in found], dtype="string")
            return pd.Series(values.take(rows, allow_fill=True), index=codes.index)

        return spread(0), spread(1)

    ward_name, ward_borough = names(ward, ward_lookup)
    lsoa_name, lsoa_borough = names(lsoa, lsoa_lookup)
    return pd.DataFrame(
        {
            "ward_code": ward,
            "ward_name": ward_name,
            "ward_borough_name": ward_borough,
            "lsoa_code": lsoa,
            "lsoa_name": lsoa_name,
            "lsoa_borough_name": lsoa_borough,
        },
        index=ward_code.index,
    )


@lru_cache(maxsize=1)
def _geography_lookups() -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]]]:
    """WD23CD → (WD23NM, LAD23NM) and LSOA21CD → (LSOA21NM, LAD25NM), built once per process."""
    w, lk = wards(), lsoas()
    ward_lookup = dict(zip(w["WD23CD"], zip(w["WD23NM"], w["LAD23NM"], strict=True), strict=True))
    lsoa_lookup = dict(zip(lk["LSOA21CD"], zip(lk["LSOA21NM"], lk["LAD25NM"], strict=True), strict=True))
    return ward_lookup, lsoa_lookup


# --- rule 7: flags -------------------------------------------------------------------------------------
def cris_flags(cris: pd.DataFrame) -> pd.DataFrame:
    """CRIS's five hate bits and its domestic-abuse bit as booleans."""
    return pd.DataFrame(
        {c: cris[c].astype(bool) for c in (*HATE_COLUMNS, "domestic_abuse")}, index=cris.index
    )


def parse_hate_strands(text: object) -> set[str]:
    """`'Race; religion'` → {'hate_race', 'hate_religion'}: semicolon-separated, case and spaces ignored."""
    if text is None or text is pd.NA or (isinstance(text, float) and pd.isna(text)):
        return set()
    out = set()
    for token in str(text).split(";"):
        key = re.sub(r"\s+", "", token).upper()
        if not key:
            continue
        if key not in _STRAND_COLUMN:
            raise DataError(f"unknown hate crime strand {token.strip()!r} (known: {', '.join(HATE_STRANDS)})")
        out.add(_STRAND_COLUMN[key])
    return out


def connect_flags(connect: pd.DataFrame) -> pd.DataFrame:
    """CONNECT hate strands parsed into the five booleans; domestic abuse from `Y`/`N`."""
    # Each distinct text parsed once (a few dozen per month), in order of first appearance, so the first
    # unknown strand reported is the first row's.
    codes, texts = pd.factorize(connect["hate_crime_strands"], use_na_sentinel=True)
    parsed = [parse_hate_strands(v) for v in texts]
    out = pd.DataFrame(index=connect.index)
    for c in HATE_COLUMNS:
        has = np.array([c in p for p in parsed] + [False], dtype=bool)  # last: missing text (code -1)
        out[c] = has[codes]
    da = _clean(connect["domestic_abuse_flag"]).str.upper()
    bad = ~da.isin(["Y", "N"]).fillna(False)
    if bad.any():
        raise DataError(
            f"CONNECT domestic_abuse_flag values other than Y/N: {sorted(set(da[bad].fillna('NULL')))}"
        )
    out["domestic_abuse"] = (da == "Y").astype(bool)
    return out
