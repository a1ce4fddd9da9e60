"""Allow-list scan of every publishable file (pure apart from reading the files it is given).

A file passes only if it has exactly the columns its dataset allows and every value is a known category,
flag, geography code or name, month, a count or the suppression marker. Anything else (free text, a date,
a coordinate, a CRIS or CONNECT reference) is rejected with a message naming the file and the column and
saying what the value looks like; the value itself is never echoed, since it could be an identifier.
"""

import re
from functools import lru_cache
from pathlib import Path

import pandas as pd

from metpipeline import reference
from metpipeline.disclosure.policy import Policy
from metpipeline.disclosure.tables import (
    KEY_COLUMNS,
    MONTH_COLUMN,
    SLUGS_WITH_FILES,
    TIDY_COLUMNS,
    WINDOWS,
    csv_name,
)

COUNT = re.compile(r"^(0|[1-9][0-9]*)$")
TIDY_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
SHAPES = [
    ("a CRIS reference", re.compile(r"^\d{7}/\d{2}$")),
    ("a CONNECT reference", re.compile(r"^\d{2}/\d{6}/\d{2}$")),
    ("a date (e.g. of birth)", re.compile(r"^\d{4}-\d{2}-\d{2}|^\d{1,2}/\d{1,2}/\d{2,4}$")),
    ("a coordinate or measurement", re.compile(r"^-?\d+\.\d+$|^-?\d{4,}$")),
    ("a number", re.compile(r"^-?\d+$")),
]
EXTRA_FILES = {"disclosure.json"}


def describe(value: str) -> str:
    for label, pattern in SHAPES:
        if pattern.search(value):
            return label
    return "free text or an unknown name"


@lru_cache(maxsize=1)
def _vocab() -> dict[str, frozenset[str]]:
    c = reference.offence_classification()
    w, lsoa, b = reference.wards(), reference.lsoas(), reference.boroughs()
    boroughs = (
        set(reference.published_borough_names()) | set(b["name"]) | set(w["LAD23NM"]) | set(lsoa["LAD25NM"])
    )
    return {
        "major": frozenset(c["mps_major"]),
        "minor": frozenset(c["mps_minor"]),
        "ward_code": frozenset(w["WD23CD"]),
        "ward_name": frozenset(w["WD23NM"]),
        "lsoa_code": frozenset(lsoa["LSOA21CD"]),
        "lsoa_name": frozenset(lsoa["LSOA21NM"]),
        "borough": frozenset(boroughs),
    }


KIND = {
    "MajorText": "major", "Major Category": "major", "major": "major",
    "MinorText": "minor", "Minor Category": "minor", "minor": "minor",
    "WardCode": "ward_code", "ward_code": "ward_code", "WardName": "ward_name", "ward_name": "ward_name",
    "LSOA Code": "lsoa_code", "lsoa_code": "lsoa_code", "LSOA Name": "lsoa_name", "lsoa_name": "lsoa_name",
    "BoroughName": "borough", "LookUp_BoroughName": "borough", "Borough": "borough",
    "borough_name": "borough",
    "FlagType": "flag_type", "flag_type": "flag_type", "FlagText": "flag", "flag": "flag",
}  # fmt: skip


def allowed_files(slug: str) -> dict[str, list[str] | None]:
    """File name -> fixed columns (None for wide files: key columns then YYYYMM columns)."""
    tidy = ["month", *TIDY_COLUMNS[slug].values(), "count"]
    files: dict[str, list[str] | None] = {csv_name(slug, w): None for w in WINDOWS}
    files[f"{slug}-tidy.csv"] = tidy
    files[f"{slug}-tidy.parquet"] = [*tidy, "suppressed"]
    return files


def scan_frame(
    name: str, slug: str, frame: pd.DataFrame, policy: Policy, fixed: list[str] | None
) -> list[str]:
    problems: list[str] = []
    cols = [str(c) for c in frame.columns]
    if fixed is None:
        keys = KEY_COLUMNS[slug]
        bad = [c for c in cols[len(keys) :] if not MONTH_COLUMN.match(c)]
        if cols[: len(keys)] != keys or bad:
            extra = [c for c in cols if c not in keys and not MONTH_COLUMN.match(c)]
            problems.append(f"{name}: columns not allowed for {slug}: {extra or cols[: len(keys)]}")
    elif cols != fixed:
        extra = [c for c in cols if c not in fixed]
        problems.append(f"{name}: columns not allowed for {slug} (expected {fixed}); unexpected: {extra}")
    vocab = dict(_vocab(), flag_type=frozenset(policy.flag_types), flag=frozenset(policy.flag_texts))
    for col in cols:
        series = frame[col]
        if col in KIND:
            allowed = vocab[KIND[col]]
            text = series.astype("string")
            upper = KIND[col] in ("flag_type", "flag")
            bad_mask = ~(text.str.upper() if upper else text).isin(allowed) | text.isna()
        elif MONTH_COLUMN.match(col) or col == "count":
            if name.endswith(".parquet"):
                num = pd.to_numeric(series, errors="coerce").astype("Float64")
                negative_or_fraction = ((num < 0) | (num % 1 != 0)).fillna(False)
                bad_mask = negative_or_fraction | (series.notna() & num.isna())
                if "suppressed" in frame:  # a null count is only allowed where the cell is suppressed
                    bad_mask = bad_mask | (series.isna() & ~frame["suppressed"].astype(bool))
            else:
                text = series.astype("string")
                bad_mask = ~(text.str.match(COUNT.pattern) | (text == policy.marker)).fillna(False)
        elif col == "month":
            bad_mask = ~series.astype("string").str.match(TIDY_MONTH.pattern).fillna(False)
        elif col == "suppressed":
            bad_mask = ~series.isin([True, False])
        else:
            continue  # an unexpected column is already reported above
        bad_mask = pd.Series(bad_mask, index=frame.index).fillna(True).astype(bool)
        n = int(bad_mask.sum())
        if n:
            kinds = sorted({describe(str(v)) for v in series[bad_mask].head(200)})
            problems.append(
                f"{name}: column {col!r}: {n} values not allowed (shaped like {', '.join(kinds)})"
            )
    return problems


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")


def scan_publishable(directory: str | Path, policy: Policy) -> list[str]:
    """Every problem found in a `releases/M/publishable/` folder; empty when every file is allowed."""
    root = Path(directory)
    problems: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel in EXTRA_FILES:
            continue
        parts = rel.split("/")
        slug = parts[0] if len(parts) == 2 else None
        files = allowed_files(slug) if slug in SLUGS_WITH_FILES else {}
        if parts[-1] not in files:
            problems.append(f"{rel}: file not allowed in a publishable folder")
            continue
        try:
            frame = _read(path)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is a rejection, not a crash
            problems.append(f"{rel}: unreadable ({exc.__class__.__name__})")
            continue
        assert slug is not None  # only a dataset folder (slug in SLUGS_WITH_FILES) has allowed files
        problems.extend(scan_frame(rel, slug, frame, policy, files[parts[-1]]))
    return problems
