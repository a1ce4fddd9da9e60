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
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from metpipeline.datasets.render import (
    _COMMA,
    _EMPTY,
    _LF,
    GzipWhileWriting,
    _text_bytes,
    csv_rows,
    render_header,
    text_field,
)
from metpipeline.disclosure.tables import KEY_COLUMNS, PUBLISHED, TIDY_COLUMNS, Table, csv_name
from metpipeline.workarea import _atomic

# Rows of a wide table rendered to text at a time: a quarter of the memory of 20,000 rows a block, in the
# same time (benchmarks/RESULTS.md).
WIDE_CHUNK_ROWS = 5_000
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
    _write_bytes(path, (csv_rows(block) for block in blocks), header, gzip_to)


def _write_bytes(
    path: Path, rows: Iterator[bytes | memoryview], header: list[str], gzip_to: Path | None = None
) -> None:
    """`header`, then blocks of CSV rows already rendered; with `gzip_to`, the gzip of the same bytes."""

    def write(tmp: str) -> None:
        compressed = GzipWhileWriting(gzip_to) if gzip_to is not None else None
        try:
            with open(tmp, "wb") as f:
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


def _contiguous(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One array: a column read from a Parquet file of more than 131,072 rows comes in several chunks, and a
    chunked dictionary cannot be decoded as one (`_SortedKeys.month_columns`)."""
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


@dataclass
class _SortedKeys:
    """A table's rows in tidy order, once: the key columns (for the Parquet file) and each row's key fields
    already joined as CSV text with a trailing comma (so a month's CSV rows are one join).

    The key columns are held dictionary-encoded (a code or name repeats on every row of its area) and
    decoded a month's rows at a time (`month_columns`), a third less memory than text
    (benchmarks/RESULTS.md)."""

    order: np.ndarray
    columns: list[pa.DictionaryArray]
    csv_prefix: pa.Array

    @classmethod
    def of(cls, t: Table) -> "_SortedKeys":
        order = _month_order(t)
        index = pa.array(order)
        text = [
            _contiguous(pa.array(t.frame[k]).cast(pa.large_string()).take(index))
            for k in TIDY_COLUMNS[t.slug]
        ]
        fields = [text_field(c) for c in text]
        prefix = (
            pc.binary_join_element_wise(*fields, _EMPTY, _COMMA)
            if len(order)
            else pa.array([], pa.large_string())
        )
        del fields
        return cls(order, [c.dictionary_encode() for c in text], prefix)

    def month_columns(self, taken: pa.Array) -> list[pa.Array]:
        """The key columns of the rows at positions `taken` (of the tidy order), as text."""
        return [c.take(taken).dictionary_decode() for c in self.columns]


def tidy_months(tables: list[Table], marker: str) -> Iterator[tuple[memoryview, pa.Table]]:
    """The tidy long form one month at a time, months ascending, rows by key; zero cells left out: each
    month's CSV rows (count `marker` where suppressed) and its Parquet rows (`tidy_names`: count null and
    `suppressed` true where suppressed), built in Arrow from each table's rows sorted once."""
    columns = [(t, j, m) for t in tables for j, m in enumerate(t.months)]
    keys = {id(t): _SortedKeys.of(t) for t in tables}
    for t, j, m in sorted(columns, key=lambda c: c[2]):
        sorted_keys = keys[id(t)]
        rows = sorted_keys.order
        counts = t.frame[m].to_numpy(dtype=np.int64)[rows]
        suppressed = t.status[rows, j] != PUBLISHED
        keep = (counts != 0) | suppressed
        if not keep.any():
            continue
        taken = pa.array(np.flatnonzero(keep))
        counts, suppressed = counts[keep], suppressed[keep]
        month = f"{m[:4]}-{m[4:]}"
        count_text = pc.cast(pa.array(counts), pa.large_string())
        if suppressed.any():  # the marker quoted as the csv module would, should the policy's need it
            count_text = text_field(pc.if_else(pa.array(suppressed), marker, count_text))
        lines = pc.binary_join_element_wise(
            pa.scalar(month + ",", pa.large_string()),
            sorted_keys.csv_prefix.take(taken),
            count_text,
            _LF,
            _EMPTY,
        )
        n = len(counts)
        parquet = [
            pa.repeat(pa.scalar(month, pa.large_string()), n),
            *sorted_keys.month_columns(taken),
            pa.array(counts, mask=suppressed, type=pa.int64()),
            pa.array(suppressed, type=pa.bool_()),
        ]
        yield _text_bytes(lines).data, pa.Table.from_arrays(parquet, names=tidy_names(t.slug))


def _empty_tidy(slug: str) -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.array([], dtype="str") for c in tidy_names(slug)[:-2]})
    frame["count"] = pd.array([], dtype="Int64")
    frame["suppressed"] = np.array([], dtype=bool)
    return frame


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
        # The schema as pandas gives it for the tidy frame (the files' metadata is unchanged by Arrow rows).
        schema = pa.Schema.from_pandas(_empty_tidy(slug), preserve_index=False)
        with pq.ParquetWriter(tmp, schema) as writer:
            buffered: list[pa.Table] = []

            def flush(final: bool) -> None:
                """Write whole row groups of ROW_GROUP_ROWS (and, at the end, the rest)."""
                if not buffered:
                    return
                # Chunked by month, not copied into one table (benchmarks/RESULTS.md). The chunks
                # follow from the tables, so the bytes are deterministic; they equal the earlier pandas
                # writer's at full scale (Parquet's dictionary fallback could in principle follow chunks).
                table = pa.concat_tables(buffered)
                cut = len(table) if final else len(table) - len(table) % ROW_GROUP_ROWS
                writer.write_table(table.slice(0, cut), row_group_size=ROW_GROUP_ROWS)
                buffered[:] = [table.slice(cut)] if cut < len(table) else []

            def csv_blocks() -> Iterator[memoryview]:
                rows = 0
                for text, part in tidy_months(tables, marker):
                    buffered.append(part.cast(schema))
                    rows += len(part)
                    if rows >= ROW_GROUP_ROWS:
                        flush(final=False)
                        rows = sum(len(b) for b in buffered)
                    yield text

            _write_bytes(csv_path, csv_blocks(), tidy_names(slug)[:-1], gzip_to)
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
