"""Synthetic publishable files for one release month, in the layout disclosure and report write.

Small on purpose: a handful of rows and months is enough to exercise staging, hashing, diffing and
publication. Counts are made up; `revise` changes two cells of an earlier month, as a CONNECT
cancellation of a migrated crime would.
"""

import json

import pandas as pd

from metpipeline.datasets.build import airports_name
from metpipeline.datasets.tidy import TIDY_NAMES
from metpipeline.workarea import WorkArea

WIDE_KEYS = {
    "borough": ["MajorText", "MinorText", "BoroughName"],
    "ward": ["MajorText", "MinorText", "WardName", "WardCode", "LookUp_BoroughName"],
    "lsoa": ["LSOA Code", "LSOA Name", "Borough", "Major Category", "Minor Category"],
    "flagged": ["FlagType", "FlagText", "BoroughName"],
}
FILE_STEM = {
    "borough": "MPS Borough Level Crime",
    "ward": "MPS Ward Level Crime",
    "lsoa": "MPS LSOA Level Crime",
    "flagged": "MPS Flagged Crime by Borough",
}
ROWS = {
    "borough": [["BURGLARY", "RES BURGLARY OF A HOME", "Camden"], ["THEFT", "SHOPLIFTING", "Westminster"]],
    "ward": [["THEFT", "SHOPLIFTING", "St James's", "E05013806", "Westminster"]],
    "lsoa": [["E01004734", "Westminster 018A", "Westminster", "THEFT", "SHOPLIFTING"]],
    "flagged": [["HATE CRIME", "RACE", "Camden"], ["DOMESTIC ABUSE", "DOMESTIC ABUSE", "Camden"]],
}


FIRST_MONTH = "2023-10"


def months_up_to(month: str, first: str = FIRST_MONTH) -> list[str]:
    return [p.strftime("%Y-%m") for p in pd.period_range(first, month, freq="M")]


def _wide(dataset: str, months: list[str], revise: bool, month: str) -> str:
    header = WIDE_KEYS[dataset] + [m.replace("-", "") for m in months]
    lines = [",".join(header)]
    for r, keys in enumerate(ROWS[dataset]):
        cells = []
        for m in months:
            value = 10 + r * 7 + int(m[5:])  # depends on the month only, so a shifted window is no change
            if revise and m == FIRST_MONTH:
                value -= 1  # a crime cancelled in CONNECT after the first publication of that month
            cells.append("[c]" if (r == 0 and m == month and dataset == "flagged") else str(value))
        quoted = [f'"{k}"' if "," in k else k for k in keys]
        lines.append(",".join(quoted + cells))
    return "\n".join(lines) + "\n"


def write_release(
    area: WorkArea, month: str, *, revise: bool = False, check_status: str = "passed", window: int = 3
) -> None:
    """Write releases/<month>/publishable/... and releases/<month>/report/... for all four datasets."""
    months = months_up_to(month)
    recent, historical = months[-window:], months[:-window]
    pub = area.release_dir(month, "publishable")
    for dataset, stem in FILE_STEM.items():
        folder = pub / dataset
        area.write_bytes(
            folder / f"{stem} (most recent 24 months).csv", _wide(dataset, recent, False, month).encode()
        )
        area.write_bytes(
            folder / f"{stem} (Historical).csv", _wide(dataset, historical, revise, month).encode()
        )
        # The tidy form of the first row (columns as datasets/tidy.py names them).
        tidy = pd.DataFrame({"month": recent})
        for wide_key, value in zip(WIDE_KEYS[dataset], ROWS[dataset][0], strict=True):
            tidy[TIDY_NAMES[dataset][wide_key]] = value
        tidy["count"] = range(1, len(recent) + 1)
        tidy = tidy[["month", *TIDY_NAMES[dataset].values(), "count"]]
        tidy["count"] = tidy["count"].astype("Int64")
        tidy["suppressed"] = False
        area.write_bytes(
            folder / f"{dataset}-tidy.csv", tidy.drop(columns="suppressed").to_csv(index=False).encode()
        )
        area.write_parquet(folder / f"{dataset}-tidy.parquet", tidy)
    counts = area.release_dir(month, "counts")
    for window, ms in (("24m", recent), ("historical", historical)):
        # Where the 2026 layout counts the airports' crimes: none in these files.
        empty = pd.DataFrame(columns=[*WIDE_KEYS["borough"], *(m.replace("-", "") for m in ms)])
        area.write_parquet(counts / airports_name("borough", window), empty.astype("int64") if ms else empty)
    area.write_bytes(
        pub / "disclosure.json",
        json.dumps(
            {
                "policy_version": "2024.1",
                "suppressed_cells": {"flagged": {"primary": 1, "secondary": 0}, "borough": {"primary": 0}},
                "withheld_categories": {"lsoa": [{"major": "SEXUAL OFFENCES", "minor": "RAPE"}]},
            }
        ).encode(),
    )
    report = {
        "month": month,
        # The shape release_report writes: rows with passed/severity/outcome and an overall status.
        "status": "pass" if check_status == "passed" else "fail",
        "checks": [
            {"name": "reconciliation_balances", "passed": True, "severity": "ERROR", "outcome": "pass"},
            {"name": "volume_within_range", "passed": False, "severity": "WARN", "outcome": "warn"},
            {
                "name": "no_unmapped_codes",
                "passed": check_status == "passed",
                "severity": "ERROR",
                "outcome": "pass" if check_status == "passed" else "fail",
            },
        ],
        "reconciliation": {"counted": 120, "not_geocoded": {"ward": 7, "lsoa": 9}},
        "not_geocoded": {"ward": 7, "lsoa": 9},
    }
    rep = area.release_dir(month, "report")
    area.write_bytes(rep / "report.json", json.dumps(report).encode())
    area.write_bytes(rep / "report.html", f"<html><body>Release report {month}</body></html>".encode())
