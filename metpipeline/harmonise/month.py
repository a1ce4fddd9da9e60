"""One month through the counting rules: two extracts in, harmonised rows and the reconciliation out."""

import pandas as pd

from metpipeline.harmonise import rules
from metpipeline.harmonise.reconcile import reconciliation

HARMONISED_COLUMNS = [
    "month", "system", "ho_code", "mps_major", "mps_minor", "borough_name",
    "ward_code", "ward_name", "ward_borough_name", "lsoa_code", "lsoa_name", "lsoa_borough_name",
    *rules.HATE_COLUMNS, "domestic_abuse", "premises_defaulted",
]  # fmt: skip
_STRING_COLUMNS = HARMONISED_COLUMNS[:12]


def _check_month_and_keys(month: str, df: pd.DataFrame, local: pd.Series, key: str, system: str) -> None:
    if df[key].duplicated().any():
        raise rules.DataError(
            f"{month}: {system} extract holds {int(df[key].duplicated().sum())} repeated {key}s"
        )
    wrong = local.notna() & ~rules.in_counting_month(local, month)
    if wrong.any():
        raise rules.DataError(f"{month}: {system} extract holds {int(wrong.sum())} rows of another month")


def _side(
    month: str, system: str, df: pd.DataFrame, reason: pd.Series, *, code: str, unit: str
) -> pd.DataFrame:
    counted = df.loc[reason.isna()]
    classified = rules.classify(counted[code], counted["premises_type"], system)
    borough = (rules.cris_borough if system == "CRIS" else rules.connect_borough)(counted[unit])
    flags = (rules.cris_flags if system == "CRIS" else rules.connect_flags)(counted)
    geo = rules.geography(counted["ward_code"], counted["lsoa_code"])
    out = pd.concat([classified, geo, flags], axis=1)
    out["borough_name"] = borough
    out["month"] = month
    out["system"] = system
    out.attrs["unmapped"] = rules.unmapped_codes(counted[code], classified)
    return out


def harmonise_month(month: str, cris: pd.DataFrame, connect: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Harmonised rows (no identifiers, no timestamps) and the reconciliation ledger of `month`.

    Raises `rules.DataError` naming every unmapped offence code (system and rows) or unknown geography
    code: such a month cannot be released until the reference data is fixed.
    """
    _check_month_and_keys(month, cris, rules.cris_local_time(cris), "cris_key", "CRIS")
    _check_month_and_keys(month, connect, rules.connect_local_time(connect), "offence_id", "CONNECT")
    cris_reason = rules.cris_exclusion_reason(cris)
    connect_reason = rules.connect_exclusion_reason(connect)
    parts = [
        _side(month, "CRIS", cris, cris_reason, code="offence_code", unit="recorded_ocu"),
        _side(month, "CONNECT", connect, connect_reason, code="ho_offence_code", unit="owning_unit_code"),
    ]
    unmapped = {"CRIS": parts[0].attrs["unmapped"], "CONNECT": parts[1].attrs["unmapped"]}
    if unmapped["CRIS"] or unmapped["CONNECT"]:
        raise rules.DataError(rules.unmapped_message(month, unmapped))
    out = pd.concat([p.reindex(columns=HARMONISED_COLUMNS) for p in parts], ignore_index=True)
    for col in _STRING_COLUMNS:
        out[col] = out[col].astype("string")
    for col in HARMONISED_COLUMNS[12:]:
        out[col] = out[col].astype(bool)
    # Deterministic order, so re-running a month writes identical bytes.
    out = out.sort_values(HARMONISED_COLUMNS, kind="stable", na_position="last").reset_index(drop=True)
    return out, reconciliation(month, cris_reason, connect_reason, out)
