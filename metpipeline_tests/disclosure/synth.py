"""Synthetic counts files following docs/architecture.md (small, hand-shaped, deterministic)."""

import numpy as np
import pandas as pd

from metpipeline.disclosure.tables import counts_name
from metpipeline.workarea import WorkArea

MONTH = "2024-03"
MONTHS = [p.strftime("%Y%m") for p in pd.period_range("2022-04", "2024-03", freq="M")]  # 24m window
HIST = [p.strftime("%Y%m") for p in pd.period_range("2022-01", "2022-03", freq="M")]
CATS = [("SEXUAL OFFENCES", "RAPE"), ("THEFT", "SHOPLIFTING"), ("BURGLARY", "RES BURGLARY OF A HOME")]
WARDS = [  # real codes and names from the reference lookup; four wards per borough
    ("E05013503", "Kilburn", "Brent"),
    ("E05013504", "Kingsbury", "Brent"),
    ("E05013505", "Northwick Park", "Brent"),
    ("E05013506", "Preston", "Brent"),
    ("E05013665", "Kilburn", "Camden"),
    ("E05013666", "King's Cross", "Camden"),
    ("E05013667", "Primrose Hill", "Camden"),
    ("E05013668", "Regent's Park", "Camden"),
    ("E05014070", "Village", "Barking and Dagenham"),
    ("E05014071", "Whalebone", "Barking and Dagenham"),
    ("E05014053", "Abbey", "Barking and Dagenham"),
    ("E05014054", "Alibon", "Barking and Dagenham"),
    ("E05013533", "Norwood Green", "Ealing"),
    ("E05013534", "Perivale", "Ealing"),
    ("E05013535", "Pitshanger", "Ealing"),
    ("E05013536", "South Acton", "Ealing"),
]
BOROUGHS = ["Brent", "Camden", "Barking and Dagenham", "Ealing", "Unknown"]
LSOAS = [
    ("E01000001", "City of London 001A", "City of London"),
    ("E01000003", "City of London 001C", "City of London"),
]


def frames(seed: int = 0, months=MONTHS) -> dict[tuple[str, str], pd.DataFrame]:
    """Consistent borough, ward, lsoa and flagged tables for one window: ward + not-geocoded = borough."""
    rng = np.random.default_rng(seed)
    ward = pd.DataFrame(
        [(a, b, n, c, bor) for a, b in CATS for c, n, bor in WARDS],
        columns=["MajorText", "MinorText", "WardName", "WardCode", "LookUp_BoroughName"],
    )
    lam = np.where(ward["MinorText"] == "RAPE", 2.0, 12.0)
    for m in months:
        ward[m] = rng.poisson(lam).astype("int64")
    borough = pd.DataFrame(
        [(a, b, bor) for a, b in CATS for bor in BOROUGHS], columns=["MajorText", "MinorText", "BoroughName"]
    )
    lsoa = pd.DataFrame(
        [(c, n, bor, a, b) for c, n, bor in LSOAS for a, b in CATS],
        columns=["LSOA Code", "LSOA Name", "Borough", "Major Category", "Minor Category"],
    )
    for m in months:
        per_cat = ward.groupby(["MajorText", "MinorText"], sort=False)[m].sum()
        vals = []
        for a, b in CATS:
            total = int(per_cat[(a, b)]) + int(rng.integers(0, 3))  # + not geocoded
            split = rng.multinomial(total, [1 / len(BOROUGHS)] * len(BOROUGHS))
            vals.extend(split.tolist())
        borough[m] = np.array(vals, dtype="int64")
        lsoa[m] = 0
        # LSOA file: every crime lands in the first LSOA, minus 1 not geocoded per category
        for a, b in CATS:
            total = int(borough.loc[(borough.MajorText == a) & (borough.MinorText == b), m].sum())
            lsoa.loc[
                (lsoa["Major Category"] == a)
                & (lsoa["Minor Category"] == b)
                & (lsoa["LSOA Code"] == "E01000001"),
                m,
            ] = max(total - 1, 0)
    flagged = pd.DataFrame(
        [("HATE CRIME", "RACE", bor) for bor in BOROUGHS[:4]]
        + [("DOMESTIC ABUSE", "DOMESTIC ABUSE", bor) for bor in BOROUGHS[:4]],
        columns=["FlagType", "FlagText", "BoroughName"],
    )
    for m in months:
        flagged[m] = rng.poisson(2.0, len(flagged)).astype("int64")
    return {"borough": borough, "ward": ward, "lsoa": lsoa, "flagged": flagged}


def write_release(area: WorkArea, month: str = MONTH, seed: int = 0) -> dict:
    """Counts files for both windows and the month's reconciliation ledger; returns the 24m frames."""
    f24, fh = frames(seed, MONTHS), frames(seed + 1, HIST)
    for slug in f24:
        area.write_parquet(area.release_dir(month, "counts", counts_name(slug, "24m")), f24[slug])
        area.write_parquet(area.release_dir(month, "counts", counts_name(slug, "historical")), fh[slug])
    col = month.replace("-", "")
    counted = int(f24["borough"][col].sum())
    ledger = {
        "month": month,
        "systems": {
            "CRIS": {"extracted": 0, "counted": 0, "excluded": {"not a crime": 0}},
            "CONNECT": {"extracted": counted + 3, "counted": counted, "excluded": {"cancelled": 3}},
        },
        "counted": counted,
        "not_geocoded": {
            "ward": counted - int(f24["ward"][col].sum()),
            "lsoa": counted - int(f24["lsoa"][col].sum()),
        },
        "premises_defaulted": 0,
    }
    area.write_json(area.reconciliation_path(month), ledger)
    return f24


# The complement draw's secret in tests that call the suppression directly (a deployment derives its own
# from the ledger key: suppress.complement_secret).
SECRET = b"metpipeline test-only complement draw secret, 32+ bytes"
