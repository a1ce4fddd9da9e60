"""The work area: intermediate files between stages, one file per month, so a re-run replaces just that month.

Layout under METPIPELINE_WORK_DIR (default var/work):
  extract/cris/YYYY-MM.parquet        rows extracted from CRIS for the month (no PII column is ever read)
  extract/connect/YYYY-MM.parquet     rows extracted from CONNECT for the month
  extract/<system>/YYYY-MM.undated.json  source rows with no recorded time (in no month), at extraction
  extract/watermark.json              latest last-modified time seen, per system (change detection)
  harmonised/YYYY-MM.parquet          one row per counted crime of the month (no identifiers)
  cells/YYYY-MM/<table>.parquet       the month's crimes reduced to each table's cells (cellstore.py)
  cells/history/<slug>.parquet        the last historical table built, extended while its months stand
  reconciliation/YYYY-MM.json         every extracted row counted or excluded with a reason, per system
  releases/YYYY-MM/counts/            unsuppressed dataset tables for the release month (internal)
  releases/YYYY-MM/publishable/       the files as they would be published, after disclosure control
  releases/YYYY-MM/report/            release report (report.html, report.json)
  candidates/YYYY-MM/<slug>/<hash>/   staged release candidates (files + report + manifest.json)
Writes go to a temporary name and are renamed into place, so a reader never sees a half-written file.
"""

import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq


class WorkArea:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    # --- per-month intermediate files -------------------------------------------------------------
    def extract_path(self, system: str, month: str) -> Path:
        return self.path("extract", system.lower(), f"{month}.parquet")

    def undated_path(self, system: str, month: str) -> Path:
        """How many source rows of the system had no recorded time when the month was extracted."""
        return self.path("extract", system.lower(), f"{month}.undated.json")

    def harmonised_path(self, month: str) -> Path:
        return self.path("harmonised", f"{month}.parquet")

    def reconciliation_path(self, month: str) -> Path:
        return self.path("reconciliation", f"{month}.json")

    def release_dir(self, month: str, *parts: str) -> Path:
        return self.path("releases", month, *parts)

    def counts_dir(self, month: str) -> Path:
        """The release's unsuppressed tables (datasets stage)."""
        return self.release_dir(month, "counts")

    def publishable_dir(self, month: str) -> Path:
        """The release's files after disclosure control, and its disclosure.json (disclosure stage)."""
        return self.release_dir(month, "publishable")

    def compressed_dir(self, month: str) -> Path:
        """The tidy CSVs' gzips, made with them (disclosure stage), copied into the public files."""
        return self.release_dir(month, "compressed")

    def report_dir(self, month: str) -> Path:
        """The release report (report stage)."""
        return self.release_dir(month, "report")

    @staticmethod
    def counts_name(slug: str, window: str) -> str:
        return f"{slug}__{window}.parquet"

    def counts_path(self, month: str, slug: str, window: str) -> Path:
        """The unsuppressed table of one dataset and window of a release (written by its dataset asset)."""
        return self.counts_dir(month) / self.counts_name(slug, window)

    def months_with(self, kind: str) -> list[str]:
        """Months that have a file of `kind` ('harmonised', 'reconciliation', 'extract/cris', ...)."""
        folder = self.path(*kind.split("/"))
        if not folder.is_dir():
            return []
        return sorted(p.stem for p in folder.iterdir() if p.suffix in (".parquet", ".json"))

    # --- atomic writers ---------------------------------------------------------------------------
    def write_parquet(self, path: Path, df: pd.DataFrame) -> None:
        _atomic(path, lambda tmp: df.to_parquet(tmp, index=False))

    def write_json(self, path: Path, obj: Any) -> None:
        text = json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n"
        _atomic(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))

    def write_bytes(self, path: Path, data: bytes) -> None:
        _atomic(path, lambda tmp: Path(tmp).write_bytes(data))

    @staticmethod
    def read_parquet(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
        """`pd.read_parquet(path, columns=columns)`, with less memory: each column becomes its own block
        and Arrow's buffers are released as they are converted, so the file is never held twice
        (benchmarks/RESULTS.md). Numeric
        columns are read-only views of Arrow's memory: writing into one raises; a new column is fine."""
        table = pq.read_table(path, columns=columns)
        return table.to_pandas(split_blocks=True, self_destruct=True)

    @staticmethod
    def read_json(path: Path) -> Any:
        return json.loads(path.read_text(encoding="utf-8"))


class WorkAreaFull(OSError):
    """The work area's file system is full: one line naming the folder, for the run's failure."""


TEMP_SUFFIX = ".tmp"  # `.<name>.<random>.tmp`: what remove_stale_temporaries recognises


def _atomic(path: Path, write) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    except OSError as exc:
        raise _clear(exc, path) from None
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, WorkAreaFull):
            raise _clear(exc, path) from None
        raise


def _clear(exc: OSError, path: Path) -> OSError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        where = Path(exc.filename) if exc.filename else path
        return WorkAreaFull(
            exc.errno,
            f"no space left on the device holding {where.parent} (METPIPELINE_WORK_DIR) "
            f"while writing {where.name}: free space there, then run again",
        )
    return exc


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete temporary files a killed run left in `folder` (and below): every hidden file (`_atomic`'s
    `.<name>.*.tmp`, GzipWhileWriting's `.<name>.partial`, and earlier versions' names), for no file the
    pipeline publishes is hidden. Only for a folder no other run writes (the month's lock held)."""
    if not folder.is_dir():
        return []
    stale = [p for p in folder.rglob(".*") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale
