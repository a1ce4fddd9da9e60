"""Suite `extracts`: the CRIS and CONNECT extract files against the DataMart contract.

Each rule returns the frame to validate and its expectations; `great_expectations` is imported lazily.
"""

from datetime import datetime

import pandas as pd

SUITE_VERSION = "extracts-1.0.0"

CRIS_STATUSES = ["CRIME", "NO CRIME", "TRANSFER"]
CRIS_PREMISES = ["DWELLING", "UNCONNECTED BUILDING", "OTHER"]
CRIS_BITS = ["hate_race", "hate_religion", "hate_sexual_orientation", "hate_disability", "hate_transgender"]
CRIS_BITS = [*CRIS_BITS, "domestic_abuse"]
CRIS_NOT_NULL = ["cris_key", "offence_code", "recorded_at", "crime_status", *CRIS_BITS, "last_modified_at"]
CONNECT_STATUSES = ["CONFIRMED", "CANCELLED", "TRANSFERRED", "PENDING"]
CONNECT_PREMISES = ["Residential - Home", "Residential - Unconnected Building", "Non-Residential"]
CONNECT_NOT_NULL = [
    "offence_id",
    "occurrence_id",
    "ho_offence_code",
    "recorded_at_utc",
    "offence_status",
    "domestic_abuse_flag",
    "last_modified_at_utc",
]
KEYS = {"cris": "cris_key", "connect": "offence_id"}


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """First instant of the month and of the next, naive London time."""
    start = pd.Timestamp(f"{month}-01")
    return start.to_pydatetime(), (start + pd.offsets.MonthBegin(1)).to_pydatetime()


def london_time(utc: pd.Series) -> pd.Series:
    """Naive UTC timestamps as naive London local time."""
    ts = pd.to_datetime(utc)
    return ts.dt.tz_localize("UTC").dt.tz_convert("Europe/London").dt.tz_localize(None)


def month_text(local: pd.Series) -> pd.Series:
    """`YYYY-MM` of each timestamp (missing where the time is), as `.dt.strftime("%Y-%m")` gives it, but
    formatting each distinct month once: strftime on every row costs more than the validation."""
    year_month = local.dt.year * 100 + local.dt.month
    rows, distinct = pd.factorize(year_month)  # -1 where the time is missing
    labels = pd.array([f"{int(v) // 100:04d}-{int(v) % 100:02d}" for v in distinct], dtype="str")
    return pd.Series(labels.take(rows, allow_fill=True), index=local.index, name=local.name)


def key_unique(system: str, frame: pd.DataFrame, month: str):
    import great_expectations.expectations as gxe

    return [(frame, [gxe.ExpectColumnValuesToBeUnique(column=KEYS[system])])]


def key_not_null(system: str, frame: pd.DataFrame, month: str):
    import great_expectations.expectations as gxe

    return [(frame, [gxe.ExpectColumnValuesToNotBeNull(column=KEYS[system])])]


def required_not_null(system: str, frame: pd.DataFrame, month: str):
    import great_expectations.expectations as gxe

    cols = CRIS_NOT_NULL if system == "cris" else CONNECT_NOT_NULL
    return [(frame, [gxe.ExpectColumnValuesToNotBeNull(column=c) for c in cols])]


def status_vocabulary(system: str, frame: pd.DataFrame, month: str):
    import great_expectations.expectations as gxe

    col, values = (
        ("crime_status", CRIS_STATUSES) if system == "cris" else ("offence_status", CONNECT_STATUSES)
    )
    return [(frame, [gxe.ExpectColumnValuesToBeInSet(column=col, value_set=values)])]


def premises_vocabulary(system: str, frame: pd.DataFrame, month: str):
    import great_expectations.expectations as gxe

    values = CRIS_PREMISES if system == "cris" else CONNECT_PREMISES
    # Nulls are allowed (premises type is nullable); in-set expectations ignore them.
    return [(frame, [gxe.ExpectColumnValuesToBeInSet(column="premises_type", value_set=values)])]


def flags_vocabulary(system: str, frame: pd.DataFrame, month: str):
    import great_expectations.expectations as gxe

    if system == "connect":
        return [
            (frame, [gxe.ExpectColumnValuesToBeInSet(column="domestic_abuse_flag", value_set=["Y", "N"])])
        ]
    bits = frame[CRIS_BITS].copy()
    for c in CRIS_BITS:  # drivers return BIT as bool or int: compare as int, keep anything else as is
        if bits[c].dtype == bool:
            bits[c] = bits[c].astype(int)
    return [(bits, [gxe.ExpectColumnValuesToBeInSet(column=c, value_set=[0, 1]) for c in CRIS_BITS])]


def recorded_in_window(system: str, frame: pd.DataFrame, month: str):
    import great_expectations.expectations as gxe

    if system == "cris":
        view = pd.DataFrame({"recorded_at_london": pd.to_datetime(frame["recorded_at"])})
    else:
        view = pd.DataFrame({"recorded_at_london": london_time(frame["recorded_at_utc"])})
    # Validated at month granularity, so a failure summary shows months ('2024-04' (3)), never times.
    view["recorded_month"] = month_text(view["recorded_at_london"])
    expectation = gxe.ExpectColumnValuesToBeInSet(column="recorded_month", value_set=[month])
    return [(view[["recorded_month"]], [expectation])]


def offence_code_known(system: str, frame: pd.DataFrame, month: str):
    """Every offence code is in the Home Office / MPS classification (reference/offence_classification.csv):
    checked at extraction, so an unknown code is reported in the same run as every other defect."""
    import great_expectations.expectations as gxe

    from metpipeline.reference import offence_classification

    table = offence_classification()
    col, known = (
        ("offence_code", table["cris_offence_code"])
        if system == "cris"
        else ("ho_offence_code", table["ho_code"])
    )
    expectation = gxe.ExpectColumnValuesToBeInSet(column=col, value_set=sorted(set(known)))
    return [(frame[[col]], [expectation])]


def columns(system: str, rule: str) -> list[str]:
    """The extract columns `rule` reads (the check reads only these from the file)."""
    if rule in ("key_unique", "key_not_null"):
        return [KEYS[system]]
    if rule == "required_not_null":
        return CRIS_NOT_NULL if system == "cris" else CONNECT_NOT_NULL
    if rule == "status_vocabulary":
        return ["crime_status" if system == "cris" else "offence_status"]
    if rule == "premises_type_vocabulary":
        return ["premises_type"]
    if rule == "flags_vocabulary":
        return CRIS_BITS if system == "cris" else ["domestic_abuse_flag"]
    if rule == "offence_code_known":
        return ["offence_code" if system == "cris" else "ho_offence_code"]
    if rule == "recorded_in_extraction_window":
        return ["recorded_at" if system == "cris" else "recorded_at_utc"]
    raise ValueError(f"unknown extract rule {rule!r}")


RULES = {
    "key_unique": key_unique,
    "key_not_null": key_not_null,
    "required_not_null": required_not_null,
    "status_vocabulary": status_vocabulary,
    "premises_type_vocabulary": premises_vocabulary,
    "flags_vocabulary": flags_vocabulary,
    "recorded_in_extraction_window": recorded_in_window,
    "offence_code_known": offence_code_known,
}
REDACTED = {"key_unique", "key_not_null"}  # identifiers: counts only
# Rules judged within one month: the expectations name the month, or keys are unique within a month (a
# CRIS key is numbered per month). The others judge each row alone, the same in every month.
MONTH_RULES = {"recorded_in_extraction_window", "key_unique"}
