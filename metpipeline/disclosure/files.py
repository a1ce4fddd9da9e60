"""Reading counts and publishable files from the work area's layout (architecture.md)."""

from pathlib import Path

import numpy as np
import pandas as pd

from metpipeline.disclosure.constraints import Known
from metpipeline.disclosure.policy import Policy
from metpipeline.disclosure.suppress import SuppressionOutcome, withhold
from metpipeline.disclosure.tables import (
    KEY_COLUMNS,
    PRIMARY,
    SLUGS_WITH_FILES,
    WINDOWS,
    Release,
    Table,
    counts_name,
    csv_name,
    month_columns,
)


def read_counts(counts_dir: Path) -> Release:
    """Every `<slug>__<window>.parquet` present in a `releases/M/counts/` folder."""
    release: Release = {}
    for slug in SLUGS_WITH_FILES:
        for window in WINDOWS:
            path = counts_dir / counts_name(slug, window)
            if path.exists():
                release[(slug, window)] = Table(slug, window, pd.read_parquet(path))
    return release


def not_geocoded(release: Release) -> dict[str, dict[str, int]]:
    """Crimes left out of the ward and LSOA files per month, London-wide: borough total minus file total.

    Call before withholding: the LSOA figure counts only crimes with no LSOA geocode.
    """
    out: dict[str, dict[str, int]] = {"ward": {}, "lsoa": {}}
    for window in WINDOWS:
        b = release.get(("borough", window))
        if b is None:
            continue
        for slug in ("ward", "lsoa"):
            t = release.get((slug, window))
            if t is None:
                continue
            for m in set(b.months) & set(t.months):
                out[slug][m] = int(b.frame[m].sum()) - int(t.frame[m].sum())
    return {k: dict(sorted(v.items())) for k, v in out.items()}


def read_text(path: Path) -> pd.DataFrame:
    """A published CSV exactly as written: every value as text (nothing parsed, no value read as missing).

    Multi-threaded pyarrow parser; the columns are pyarrow-backed strings, never Python object arrays.
    """
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8", engine="pyarrow")


def read_published(publishable_dir: Path, counts_dir: Path, policy: Policy, sensitivity: dict) -> Release:
    """The counts release with each cell's status as actually published (marker or number).

    Raises ValueError naming the file when a published file is missing or its rows differ from the counts.
    """
    release = read_counts(counts_dir)
    withhold(release, policy, sensitivity, SuppressionOutcome())
    for (slug, window), t in release.items():
        path = publishable_dir / slug / csv_name(slug, window)
        if not path.exists():
            raise ValueError(f"{path.name} is missing from the publishable folder")
        pub = read_text(path)
        keys = KEY_COLUMNS[slug]
        same_rows = len(pub) == len(t.frame) and (
            pub[keys].reset_index(drop=True).equals(t.frame[keys].astype(str).reset_index(drop=True))
        )
        if not same_rows or month_columns(pub) != t.months:
            raise ValueError(f"{path.name}: rows or month columns differ from the counts file")
        status = np.zeros((len(pub), len(t.months)), dtype=np.int8)
        for j, m in enumerate(t.months):  # column by column: no object array of the whole file
            status[:, j] = np.where((pub[m] == policy.marker).to_numpy(dtype=bool), PRIMARY, 0)
        t.status = status
    return release


def known_from_previous(previous_dir: Path | None, policy: Policy) -> Known:
    """Cells the previous publishable version published, with their values (the attacker's knowledge).

    Only datasets the policy suppresses in can hold a cell that is suppressed now but was public before, so
    only those are read (the LSOA and borough files, the largest, never are).
    """
    known: Known = {}
    if previous_dir is None or not previous_dir.is_dir():
        return known
    for slug in SLUGS_WITH_FILES:
        if policy.rule(slug).action != "suppress":
            continue
        for window in WINDOWS:
            path = previous_dir / slug / csv_name(slug, window)
            if not path.exists():
                continue
            pub = read_text(path)
            keys = np.empty(len(pub), dtype=object)
            keys[:] = list(pub[KEY_COLUMNS[slug]].itertuples(index=False, name=None))
            for m in month_columns(pub):
                text = pub[m].to_numpy(dtype=str)
                counted = np.char.isdigit(text)  # the marker and anything else are not known values
                values = text[counted].astype(np.int64)
                known.update(zip(((slug, m, k) for k in keys[counted]), values.tolist(), strict=True))
    return known


def previous_publishable(releases_root: Path, month: str) -> Path | None:
    """The latest earlier month's publishable folder in the work area, if any."""
    if not releases_root.is_dir():
        return None
    earlier = sorted(
        p.name for p in releases_root.iterdir() if p.name < month and (p / "publishable").is_dir()
    )
    return releases_root / earlier[-1] / "publishable" if earlier else None
