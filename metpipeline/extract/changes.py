"""Revisions: which extracted months have source rows modified since they were extracted.

Each extraction records the DataMart's watermark (latest last-modified time per system) read just before
the month was extracted, in `extract/watermarks/<system>/YYYY-MM.json`. A month needs re-extraction when
any row recorded in it was modified after its own watermark. Reading the watermark before extracting errs
on the safe side: a row changed during the extraction makes the month look changed, never unchanged.
"""

from collections import defaultdict
from pathlib import Path

import sqlalchemy as sa

from metpipeline.extract.queries import months_changed_since
from metpipeline.workarea import WorkArea

SYSTEMS = ("CRIS", "CONNECT")
_NEVER = "9999-12-31T00:00:00"  # a watermark no row passes: asks nothing of the other system


def watermark_path(area: WorkArea, system: str, month: str) -> Path:
    return area.path("extract", "watermarks", system.lower(), f"{month}.json")


def record_watermark(area: WorkArea, system: str, month: str, watermark: str | None) -> None:
    area.write_json(watermark_path(area, system, month), {"system": system, "watermark": watermark})


def months_changed_since_extraction(engine: sa.Engine, area: WorkArea) -> set[str]:
    """Extracted months whose source rows changed after their extraction (a query per distinct watermark)."""
    changed: set[str] = set()
    for system in SYSTEMS:
        by_mark: dict[str | None, set[str]] = defaultdict(set)
        for month in area.months_with(f"extract/watermarks/{system.lower()}"):
            mark = area.read_json(watermark_path(area, system, month)).get("watermark")
            by_mark[mark].add(month)
        for mark, months in by_mark.items():
            other = {s: _NEVER for s in SYSTEMS if s != system}
            changed |= months_changed_since(engine, {system: mark, **other}) & months
    return changed
