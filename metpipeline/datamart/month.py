"""One month of the synthetic DataMart: a pure function of (seed, month, scale, PII marker, defects)."""

import numpy as np

from metpipeline.datamart.crimes import CUTOVER_UTC, generate_crimes
from metpipeline.datamart.lookups import Lookups
from metpipeline.datamart.pii import PiiSampler
from metpipeline.datamart.tables import (
    CRIS_AFTER_CUTOVER,
    MIGRATION_RATES,
    MonthTables,
    connect_tables,
    cris_table,
)
from metpipeline.datamart.timeutil import utc_to_local

# --defects: deliberate data errors (kept few, with known counts) that must block a release.
UNMAPPED_CRIS_CODE = "999/99"
UNMAPPED_HO_CODE = "99Z"
DEFECT_COUNTS = {"unmapped_code": 3, "null_recorded_time": 2, "duplicate_key": 2}


def generate_month(
    lk: Lookups, pii: PiiSampler, seed: int, ym: tuple[int, int], scale: float = 1.0
) -> MonthTables:
    rng = np.random.default_rng([seed, ym[0], ym[1]])
    c = generate_crimes(lk, rng, ym, scale)
    local = utc_to_local(c.utc)
    is_connect = c.utc >= CUTOVER_UTC
    cris_idx = np.flatnonzero(~is_connect)
    n_regular_cris = len(cris_idx)
    late = np.flatnonzero(is_connect & c.counted)
    k = min(CRIS_AFTER_CUTOVER.get(ym, 0), len(late))
    if k:
        # Anomalies: a few crimes still keyed into CRIS after the cut-over (also recorded in CONNECT).
        cris_idx = np.concatenate([cris_idx, np.sort(rng.choice(late, k, replace=False))])
    out = MonthTables(ym)
    if len(cris_idx):
        out.tables["cris_crime_report"] = cris_table(lk, rng, pii, c, cris_idx, ym, local)

    mig_pos = np.array([], dtype=np.int64)
    if ym in MIGRATION_RATES and n_regular_cris:
        status = np.array(out.tables["cris_crime_report"]["crime_status"][:n_regular_cris], dtype=object)
        mig_pos = np.flatnonzero((status == "CRIME") & (rng.random(n_regular_cris) < MIGRATION_RATES[ym]))
    native = np.flatnonzero(is_connect)
    if len(native) or len(mig_pos):
        cris = out.tables.get("cris_crime_report", {})
        migrated = (
            cris_idx[mig_pos],
            [cris["cris_ref"][i] for i in mig_pos],
            [cris["premises_type"][i] for i in mig_pos],
        )
        out.tables.update(connect_tables(lk, rng, pii, c, native, migrated, ym))
    return out


def _append_copies(cols: dict[str, list], rows: list[int], **overrides) -> None:
    """Append copies of `rows` to a column dict; `overrides` maps column -> list of new values."""
    for name, values in cols.items():
        new = overrides.get(name)
        values.extend(new if new is not None else [values[r] for r in rows])


def add_defects(month: MonthTables, rng: np.random.Generator, system: str) -> dict[str, int]:
    """Add the release-blocking data errors of one system to a month; returns counts by defect."""
    k_code, k_null, k_dup = (
        DEFECT_COUNTS[d] for d in ("unmapped_code", "null_recorded_time", "duplicate_key")
    )
    if system == "CRIS":
        cols = month.tables["cris_crime_report"]
        key, code, code_col, time_col = "cris_ref", UNMAPPED_CRIS_CODE, "offence_code", "recorded_at"
        yy = month.month[0] % 100
        fresh = [f"{9_900_000 + month.month[1] * 10 + i:07d}/{yy:02d}" for i in range(k_code + k_null)]
    else:
        cols = month.tables["connect_offence"]
        key, code, code_col, time_col = "offence_id", UNMAPPED_HO_CODE, "ho_offence_code", "recorded_at_utc"
        top = max(cols["offence_id"])
        fresh = [top + 1 + i for i in range(k_code + k_null)]
    n = len(cols[key])
    picks = rng.choice(n, k_code + k_null + k_dup, replace=False).tolist()
    a, b = picks[:k_code], picks[k_code : k_code + k_null]
    _append_copies(cols, a, **{key: fresh[:k_code], code_col: [code] * k_code})
    _append_copies(cols, b, **{key: fresh[k_code:], time_col: [None] * k_null})
    dup = picks[k_code + k_null :]
    # Duplicate keys: new rows reusing existing keys with a different recording time.
    _append_copies(cols, rng.choice(n, k_dup).tolist(), **{key: [cols[key][i] for i in dup]})
    prefix = system.lower()
    return {
        f"{prefix}_unmapped_code": k_code,
        f"{prefix}_null_recorded_time": k_null,
        f"{prefix}_duplicate_key": k_dup,
    }
