"""Publishable files from a suppressed release, written straight to their paths in chunks.

No file is ever held in memory whole: the wide CSVs are written a block of rows at a time, the tidy long
form a month at a time (CSV) and in row groups (Parquet). Each file goes to a temporary name beside its
path and is renamed into place (`workarea._atomic`), so a reader never sees a half-written file. Output
is deterministic: the same tables give the same bytes.

The tidy long form lists the cells that hold something: a cell whose count is 0 is left out (as the
wide files leave out rows that are zero in every month); a suppressed cell is always listed, with
count `[c]` in the CSV and a null count with `suppressed` true in the Parquet.
"""

from collections.abc import Iterator
from itertools import chain
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from metpipeline.datasets.render import GzipWhileWriting, csv_rows, render_header
from metpipeline.disclosure.tables import KEY_COLUMNS, PUBLISHED, TIDY_COLUMNS, Table, csv_name
from metpipeline.workarea import _atomic

WIDE_CHUNK_ROWS = 20_000  # rows of a wide table rendered to text at a time
ROW_GROUP_ROWS = 1 << 20  # rows per Parquet row group of the tidy file


def wide_columns(t: Table, marker: str, rows: slice = slice(None)) -> list[pa.Array]:
    """The wide table's columns (or a block of its rows) for `csv_rows`: key text, counts, and the marker
    where a cell is suppressed."""
    columns: list[pa.Array] = [pa.array(t.frame[k].iloc[rows].astype(str)) for k in KEY_COLUMNS[t.slug]]
    status = t.status[rows]
    for j, m in enumerate(t.months):
        counts = pa.array(t.frame[m].iloc[rows].to_numpy(dtype=np.int64))
        hidden = status[:, j] != PUBLISHED
        if hidden.any():
            counts = pc.if_else(pa.array(hidden), marker, pc.cast(counts, pa.large_string()))
        columns.append(counts)
    return columns


def _write_text(
    path: Path, blocks: Iterator[list[pa.Array]], header: list[str], gzip_to: Path | None = None
) -> None:
    """CSV (UTF-8, LF, no index): `header`, then the rows of each block of columns (render.csv_rows).
    With `gzip_to`, its gzip is made from the same bytes on a second thread (render.GzipWhileWriting)."""

    def write(tmp: str) -> None:
        compressed = GzipWhileWriting(gzip_to) if gzip_to is not None else None
        try:
            with open(tmp, "wb") as f:
                rows: Iterator[bytes | memoryview] = (csv_rows(block) for block in blocks)
                for data in chain([render_header(header)], rows):
                    f.write(data)
                    if compressed is not None:
                        compressed.write(data)
        except BaseException:
            if compressed is not None:
                compressed.abort()
            raise
        if compressed is not None:
            compressed.close()

    _atomic(path, write)


def write_wide_csv(path: Path, t: Table, marker: str) -> None:
    n = len(t.frame)
    blocks = (wide_columns(t, marker, slice(i, i + WIDE_CHUNK_ROWS)) for i in range(0, n, WIDE_CHUNK_ROWS))
    _write_text(path, blocks, [*KEY_COLUMNS[t.slug], *t.months])


def tidy_names(slug: str) -> list[str]:
    return ["month", *TIDY_COLUMNS[slug].values(), "count", "suppressed"]


def _month_order(t: Table) -> np.ndarray:
    """Row positions of `t` sorted by the tidy key columns (their tidy order), ties in file order."""
    rename = TIDY_COLUMNS[t.slug]
    keys = t.frame[list(rename)].rename(columns=rename)
    return keys.sort_values(list(rename.values()), kind="stable").index.to_numpy()


def tidy_parts(tables: list[Table]) -> Iterator[pd.DataFrame]:
    """The tidy long form one month at a time, months ascending, rows by key; zero cells left out.

    Columns: month (YYYY-MM), the geography codes and names, the categories (or flags), count (nullable
    Int64, null where suppressed), suppressed (bool).
    """
    columns = [(t, j, m) for t in tables for j, m in enumerate(t.months)]
    order = {id(t): _month_order(t) for t in tables}
    for t, j, m in sorted(columns, key=lambda c: c[2]):
        rename = TIDY_COLUMNS[t.slug]
        rows = order[id(t)]
        counts = t.frame[m].to_numpy(dtype=np.int64)[rows]
        suppressed = t.status[rows, j] != PUBLISHED
        keep = (counts != 0) | suppressed
        if not keep.any():
            continue
        rows, counts, suppressed = rows[keep], counts[keep], suppressed[keep]
        part = t.frame[list(rename)].take(rows).rename(columns=rename).reset_index(drop=True)
        part.insert(0, "month", f"{m[:4]}-{m[4:]}")
        part["count"] = pd.arrays.IntegerArray(counts, suppressed.copy())  # masked (null) where suppressed
        part["suppressed"] = suppressed
        yield part


def _empty_tidy(slug: str) -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.array([], dtype="str") for c in tidy_names(slug)[:-2]})
    frame["count"] = pd.array([], dtype="Int64")
    frame["suppressed"] = np.array([], dtype=bool)
    return frame


def tidy_csv_columns(part: pd.DataFrame, marker: str) -> list[pa.Array]:
    """A tidy part's columns as the CSV shows them: `count` as text, the marker where suppressed, no
    `suppressed`."""
    columns = [pa.array(part[c]) for c in part.columns[:-2]]
    counts = pa.array(part["count"].to_numpy(dtype=np.int64, na_value=0))
    suppressed = part["suppressed"].to_numpy(dtype=bool)
    if suppressed.any():
        counts = pc.if_else(pa.array(suppressed), marker, pc.cast(counts, pa.large_string()))
    columns.append(counts)
    return columns


def write_tidy(
    csv_path: Path,
    parquet_path: Path,
    slug: str,
    tables: list[Table],
    marker: str,
    gzip_to: Path | None = None,
) -> None:
    """Both tidy files in one pass over the tables (CSV a month at a time, Parquet in row groups); with
    `gzip_to`, the CSV's gzip too, for the public files."""

    def write_parquet(tmp: str) -> None:
        schema = pa.Schema.from_pandas(_empty_tidy(slug), preserve_index=False)
        with pq.ParquetWriter(tmp, schema) as writer:
            buffered: list[pd.DataFrame] = []
            n = 0

            def flush(final: bool) -> None:
                """Write whole row groups of ROW_GROUP_ROWS (and, at the end, the rest)."""
                nonlocal n
                if not buffered:
                    return
                frame = pd.concat(buffered, ignore_index=True)
                cut = len(frame) if final else len(frame) - len(frame) % ROW_GROUP_ROWS
                table = pa.Table.from_pandas(frame.iloc[:cut], schema=schema, preserve_index=False)
                writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
                buffered[:] = [frame.iloc[cut:]] if cut < len(frame) else []
                n = len(frame) - cut

            def csv_chunks() -> Iterator[list[pa.Array]]:
                nonlocal n
                for part in tidy_parts(tables):
                    buffered.append(part)
                    n += len(part)
                    if n >= ROW_GROUP_ROWS:
                        flush(final=False)
                    yield tidy_csv_columns(part, marker)

            _write_text(csv_path, csv_chunks(), tidy_names(slug)[:-1], gzip_to)
            flush(final=True)

    _atomic(parquet_path, write_parquet)


def write_publishable(
    out_dir: Path, slug: str, tables: list[Table], marker: str, gzip_dir: Path | None = None
) -> list[str]:
    """Write one dataset's publishable folder (`out_dir/<slug>/`); returns the file names written. With
    `gzip_dir`, the tidy CSV's gzip goes there as `<slug>-tidy.csv.gz` (never into the publishable folder,
    whose files are all scanned): the public files copy it (datasets/public.py)."""
    folder = out_dir / slug
    names = []
    for t in tables:
        name = csv_name(t.slug, t.window)
        write_wide_csv(folder / name, t, marker)
        names.append(name)
    gzip_to = gzip_dir / f"{slug}-tidy.csv.gz" if gzip_dir is not None else None
    write_tidy(folder / f"{slug}-tidy.csv", folder / f"{slug}-tidy.parquet", slug, tables, marker, gzip_to)
    return [*names, f"{slug}-tidy.csv", f"{slug}-tidy.parquet"]
