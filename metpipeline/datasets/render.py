"""Files as published: deterministic UTF-8 CSV bytes with LF line endings and no index.

Two writers give the same bytes: pandas' `to_csv` (the reference, for small frames and headers) and
`csv_rows`, which renders a block of rows with Arrow's compute kernels in a few passes over columns of
text. The publishable files hold tens of millions of cells, and pandas' writer formats them one Python
object at a time; `csv_rows` quotes exactly as the csv module's minimal quoting does (a field holding a
comma, a double quote or a line end is enclosed in double quotes, its quotes doubled) and is checked
byte for byte against pandas (metpipeline_tests/datasets/test_render.py).
"""

import csv
import gzip
import io
import queue
import re
import shutil
import struct
import threading
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from metpipeline.datasets.tidy import SUPPRESSED


def _quote_triggers() -> str:
    """The characters that make the csv module (pandas' writer) quote a field with LF line ends: the
    comma, the double quote and LF always; CR only in some Python versions, so it is asked, not assumed."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(["\r", ""])
    return ',"\n\r' if out.getvalue().startswith('"') else ',"\n'


_TRIGGERS = _quote_triggers()
_NEEDS_QUOTES = "[" + re.escape(_TRIGGERS) + "]"
# The same characters as a lookup table over bytes: one vectorised pass over a column's text decides
# whether any field needs the per-field pattern at all (UTF-8 never uses these bytes inside a character).
_TRIGGER_BYTES = np.zeros(256, dtype=bool)
_TRIGGER_BYTES[list(_TRIGGERS.encode())] = True
_QUOTE, _EMPTY, _COMMA, _LF = (pa.scalar(s, pa.large_string()) for s in ('"', "", ",", "\n"))


def read_text(path, columns: list[str] | None = None) -> pd.DataFrame:
    """A published CSV exactly as written: every value as text (nothing parsed, no value read as missing);
    only `columns` when given.

    Multi-threaded pyarrow parser; the columns are pyarrow-backed strings, never Python object arrays.
    """
    return pd.read_csv(
        path, dtype=str, keep_default_na=False, encoding="utf-8", engine="pyarrow", usecols=columns
    )


def read_header(path: Path) -> list[str]:
    """A CSV file's header (plain or gzip), as the csv module reads it; [] for an empty file."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as f:
        return next(csv.reader(f), [])


def render_csv(df: pd.DataFrame) -> bytes:
    """A wide (or any) table as CSV bytes; integer cells as integers, `[c]` strings as written."""
    return df.to_csv(index=False, lineterminator="\n").encode("utf-8")


def render_header(columns: Sequence[str]) -> bytes:
    """The header line as pandas writes it."""
    return render_csv(pd.DataFrame(columns=list(columns)))


def render_tidy_csv(tidy: pd.DataFrame) -> bytes:
    """The tidy long form as CSV: `count` holds `[c]` where suppressed; the `suppressed` column is dropped."""
    out = tidy.drop(columns=["suppressed"]).copy()
    out["count"] = out["count"].astype("string").mask(tidy["suppressed"], SUPPRESSED)
    return render_csv(out)


def text_field(column: Any) -> pa.Array:
    """One column as CSV fields: integers as decimal text, text quoted where the csv module would."""
    if not isinstance(column, pa.Array | pa.ChunkedArray):
        column = pa.array(column)  # pandas' Arrow-backed text without a copy
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if column.null_count:
        raise ValueError("a CSV field is missing: published files have no empty cells")
    if pa.types.is_integer(column.type):
        return pc.cast(column, pa.large_string())  # digits only: never quoted
    column = column.cast(pa.large_string())
    if not _TRIGGER_BYTES[_text_bytes(column)].any():
        return column  # no field holds a comma, quote or line end (counts, markers, most names)
    needs = pc.match_substring_regex(column, _NEEDS_QUOTES)
    if pc.any(needs).as_py():
        quoted = pc.binary_join_element_wise(_QUOTE, pc.replace_substring(column, '"', '""'), _QUOTE, _EMPTY)
        column = pc.if_else(needs, quoted, column)
    return column


def _text_bytes(column: pa.Array) -> np.ndarray:
    """The UTF-8 bytes of every value of a large_string array, back to back (no copy)."""
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int64)[
        column.offset : column.offset + len(column) + 1
    ]
    data = column.buffers()[2]
    if data is None or not len(offsets):
        return np.zeros(0, dtype=np.uint8)
    return np.frombuffer(data, dtype=np.uint8)[int(offsets[0]) : int(offsets[-1])]


def csv_rows(columns: Sequence[Any]) -> memoryview:
    """The rows (no header) of equally long columns as CSV bytes, LF after every row.

    Columns may be Arrow arrays, NumPy arrays or pandas Series of text or integers."""
    fields = [text_field(c) for c in columns]
    if not fields or not len(fields[0]):
        return memoryview(b"")
    lines = pc.binary_join_element_wise(*fields, _COMMA)
    lines = pc.binary_join_element_wise(lines, _EMPTY, _LF)  # each row followed by its line end
    return memoryview(_text_bytes(lines).data)


# --- gzip: the public tidy files are the publishable tidy CSVs, compressed -------------------------------
GZIP_LEVEL = 6


def gzip_file(source: Path, target: Path) -> None:
    """`target` = gzip of `source`; mtime 0 and no file name in the header: the same CSV always gives the
    same bytes."""
    with open(source, "rb") as src, open(target, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=GZIP_LEVEL) as out:
            shutil.copyfileobj(src, out, 1 << 20)


def _gzip_header() -> bytes:
    """The 10 header bytes `gzip_file` writes: no file name, comment or extra field, mtime 0."""
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=GZIP_LEVEL):
        pass
    return out.getvalue()[:10]


GZIP_HEADER = _gzip_header()


class GzipWhileWriting:
    """The gzip of a file being written, made on a second thread from the same bytes as they are written
    (zlib releases the interpreter's lock, so it costs the writer nothing on a second core). Gives
    `gzip_file`'s bytes: deflate's output does not depend on how its input is split (tested).

    `close` finishes it (a temporary name, then renamed); `abort` leaves nothing. Nothing vouches for it
    but its content: `copy_or_gzip` checks that it decompresses to the source, byte for byte."""

    def __init__(self, target: Path):
        self.target = target
        self._tmp = target.with_name(f".{target.name}.partial")
        self._queue: queue.Queue = queue.Queue(maxsize=4)  # bounded: the slower side holds the other back
        self._error: BaseException | None = None
        target.parent.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name=f"gzip {target.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        data = b""
        try:
            with open(self._tmp, "wb") as raw:
                with gzip.GzipFile(
                    filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=GZIP_LEVEL
                ) as z:
                    while (data := self._queue.get()) is not None:
                        z.write(data)
        except BaseException as exc:  # noqa: BLE001 - reported to the writer by write() and close()
            if isinstance(exc, OSError) and exc.filename is None:
                exc.filename = str(self.target)  # a full disk is reported where it is
            self._error = exc
            # Let the writer finish; its bytes are dropped. Not when the end (None) was already taken: the
            # error came from closing the file (a full disk shows there), and no second None ever comes.
            while data is not None:
                data = self._queue.get()

    def write(self, data) -> None:
        if self._error is not None:
            raise self._error  # stop at once: no point writing the rest of the CSV
        if len(data):
            self._queue.put(data)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            self._tmp.unlink(missing_ok=True)
            raise self._error
        self._tmp.replace(self.target)

    def abort(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._tmp.unlink(missing_ok=True)


def is_gzip_of(compressed: Path, source: Path) -> bool:
    """Whether `compressed` is exactly a gzip of `source` as `gzip_file` frames one: its fixed header (so
    no file name, comment or extra field can carry text), one deflate stream that decompresses to
    `source`'s bytes, the trailer's CRC and size, and nothing after. Streams both files (bounded memory);
    decompressing costs a fraction of compressing."""
    with open(compressed, "rb") as gz, open(source, "rb") as src:
        if gz.read(len(GZIP_HEADER)) != GZIP_HEADER:
            return False
        inflate = zlib.decompressobj(-zlib.MAX_WBITS)
        crc = size = 0
        while not inflate.eof:
            chunk = gz.read(1 << 20)
            if not chunk:
                return False  # the stream ends early
            out = inflate.decompress(chunk)
            if src.read(len(out)) != out:
                return False
            crc, size = zlib.crc32(out, crc), size + len(out)
        trailer = inflate.unused_data + gz.read(9)
        return trailer == struct.pack("<II", crc, size & 0xFFFFFFFF) and src.read(1) == b""


def copy_or_gzip(source: Path, precompressed: Path | None, target: Path) -> bool:
    """`target` = gzip of `source`: copied from `precompressed` when that is exactly `source` compressed
    (`is_gzip_of`), compressed here otherwise (missing, stale, or altered). Returns whether it was copied."""
    if precompressed is not None and precompressed.is_file() and is_gzip_of(precompressed, source):
        shutil.copyfile(precompressed, target)
        return True
    gzip_file(source, target)
    return False
