"""Allow-list scan of every publishable file (pure apart from reading the files it is given).

A file passes only if it has exactly the columns its dataset allows and every value is a known category,
flag, geography code or name, month, a count or the suppression marker. Anything else (free text, a date,
a coordinate, a CRIS or CONNECT reference) is rejected with a message naming the file and the column and
saying what the value looks like; the value itself is never echoed, since it could be an identifier.
"""

import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import cache, lru_cache
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from metpipeline import reference
from metpipeline.catalogue import spec
from metpipeline.datasets import layouts
from metpipeline.datasets.public import tidy_names as public_names
from metpipeline.datasets.public import workbook_name
from metpipeline.datasets.render import read_header, read_text
from metpipeline.datasets.workbook import SHEETS as WORKBOOK_SHEETS
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


@cache
def kinds(slug: str) -> dict[str, str]:
    """Every name a key column of `slug` goes by in its public files -> the vocabulary its values must be
    in: the catalogue's published and tidy names (each key declares its vocabulary) and each layout's
    header for it (datasets/layouts.py). A column of one table is never judged by another table's rule."""
    dataset = spec(slug)
    out = dict(dataset.vocabularies)
    for lay in layouts.LAYOUTS.values():
        out.update(zip(lay.header(dataset), (k.vocabulary for k in dataset.keys), strict=True))
    return out


def allowed_files(slug: str) -> dict[str, list[str] | None]:
    """File name -> fixed columns (None for wide files: key columns then YYYYMM columns)."""
    tidy = ["month", *TIDY_COLUMNS[slug].values(), "count"]
    files: dict[str, list[str] | None] = {csv_name(slug, w): None for w in WINDOWS}
    files[f"{slug}-tidy.csv"] = tidy
    files[f"{slug}-tidy.parquet"] = [*tidy, "suppressed"]
    return files


def scan_frame(
    name: str,
    slug: str,
    frame: pd.DataFrame,
    policy: Policy,
    fixed: list[str] | None,
    keys: list[str] | None = None,
) -> list[str]:
    """`keys`: a wide file's key columns (default: the canonical ones of `slug`)."""
    return scan_batches(name, slug, [str(c) for c in frame.columns], [frame], policy, fixed, keys)


def scan_batches(
    name: str,
    slug: str,
    cols: list[str],
    batches: Iterable[pd.DataFrame | pa.RecordBatch],
    policy: Policy,
    fixed: list[str] | None,
    keys: list[str] | None = None,
) -> list[str]:
    """`scan_frame` over a file read a block of rows at a time (`batches`, each with the columns `cols`):
    every value is judged where it is, so a file of any size is scanned in bounded memory."""
    problems: list[str] = []
    if fixed is None:
        keys = keys or KEY_COLUMNS[slug]
        bad = [c for c in cols[len(keys) :] if not MONTH_COLUMN.match(c)]
        if cols[: len(keys)] != keys or bad:
            extra = [c for c in cols if c not in keys and not MONTH_COLUMN.match(c)]
            problems.append(f"{name}: columns not allowed for {slug}: {extra or cols[: len(keys)]}")
    elif cols != fixed:
        extra = [c for c in cols if c not in fixed]
        problems.append(f"{name}: columns not allowed for {slug} (expected {fixed}); unexpected: {extra}")
    vocab = dict(_vocab(), flag_type=frozenset(policy.flag_types), flag=frozenset(policy.flag_texts))
    kind = kinds(slug)
    parquet = name.endswith(".parquet")
    found: dict[str, int] = {}
    shapes: dict[str, set[str]] = {}
    verdicts: dict[str, dict[str, bool]] = {}  # per column: each distinct text value judged once
    for frame in batches:
        if isinstance(frame, pa.RecordBatch) and parquet and not _arrow_judged(frame, kind):
            frame = frame.to_pandas()  # a type the Arrow path does not judge: as pandas reads it
        for col in cols:
            if isinstance(frame, pa.RecordBatch) and parquet and _is_count_column(col, kind):
                n, sample = _bad_arrow_counts(frame, col)
            elif isinstance(frame, pa.RecordBatch) and col == "suppressed":
                continue  # boolean without nulls (`_arrow_judged`): every value allowed
            elif isinstance(frame, pa.RecordBatch):  # text (all of a CSV): judged in Arrow, no pandas copy
                rule = _text_rule(col, kind, vocab, policy)
                if rule is None:
                    continue  # an unexpected column is already reported above
                n, sample = _bad_text(frame.column(col), rule, verdicts.setdefault(col, {}))
            else:
                bad_mask = _bad_cells(frame, col, kind, vocab, policy, parquet)
                if bad_mask is None:
                    continue
                n = int(bad_mask.sum())
                sample = frame[col][bad_mask].head(200).tolist() if n else []
            if n:
                found[col] = found.get(col, 0) + n
                seen = shapes.setdefault(col, set())
                if len(seen) < len(SHAPES) + 1:
                    seen.update(describe(str(v)) for v in sample)
    for col in cols:
        if col in found:
            problems.append(
                f"{name}: column {col!r}: {found[col]} values not allowed "
                f"(shaped like {', '.join(sorted(shapes[col]))})"
            )
    return problems


def _is_count_column(col: str, kind: dict[str, str]) -> bool:
    return col not in kind and (MONTH_COLUMN.match(col) is not None or col == "count")


def _arrow_judged(batch: pa.RecordBatch, keys: dict[str, str]) -> bool:
    """Whether a Parquet block is judged in Arrow: text columns as text, counts as integers, `suppressed`
    as booleans without nulls. Anything else (floats, dictionaries, a text count) goes through pandas,
    which judges every type (`_bad_cells`)."""
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        arrow_type = column.type
        if name == "suppressed":
            ok = pa.types.is_boolean(arrow_type) and column.null_count == 0
        elif _is_count_column(name, keys):
            ok = pa.types.is_integer(arrow_type)
        else:
            if pa.types.is_dictionary(arrow_type):
                arrow_type = arrow_type.value_type
            ok = pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)
        if not ok:
            return False
    return True


def _bad_arrow_counts(batch: pa.RecordBatch, col: str) -> tuple[int, list]:
    """Integer counts of a Parquet block that are not allowed: negative, or null where the cell is not
    suppressed (as `_bad_parquet_counts` judges them); and up to 200 of them."""
    values = batch.column(col)
    negative = pc.fill_null(pc.less(values, 0), False)
    bad = negative
    if "suppressed" in batch.schema.names:
        hidden = batch.column("suppressed")
        bad = pc.or_(negative, pc.and_(pc.is_null(values), pc.invert(hidden)))
    n = int(pc.sum(bad).as_py() or 0)
    return n, (pc.filter(values, bad).slice(0, 200).to_pylist() if n else [])


def _bad_cells(
    frame: pd.DataFrame, col: str, kind: dict[str, str], vocab: dict, policy: Policy, parquet: bool
) -> pd.Series | None:
    """The cells of one column that are not allowed (None: a column no rule knows)."""
    series = frame[col]
    if parquet and _is_count_column(col, kind):
        bad_mask = _bad_parquet_counts(series, frame.get("suppressed"))
    elif col == "suppressed":
        bad_mask = ~series.isin([True, False])
    else:
        rule = _text_rule(col, kind, vocab, policy)
        if rule is None:
            return None
        bad_mask = _bad_values(series, rule)
    return pd.Series(bad_mask, index=frame.index).fillna(True).astype(bool)


def _text_rule(col: str, kind: dict[str, str], vocab: dict, policy: Policy) -> Callable[[str], bool] | None:
    """What a text value of `col` must be (None: a column no rule knows)."""
    if col in kind:
        return _in_vocab(vocab[kind[col]], upper=kind[col] in ("flag_type", "flag"))
    if MONTH_COLUMN.match(col) or col == "count":
        return lambda v: v == policy.marker or COUNT.fullmatch(v) is not None
    if col == "month":
        return lambda v: TIDY_MONTH.fullmatch(v) is not None
    return None


def _bad_text(values: pa.Array, ok: Callable[[str], bool], verdicts: dict[str, bool]) -> tuple[int, list]:
    """How many cells of a text column `ok` rejects (a missing cell is rejected), and up to 200 of the
    distinct values rejected. Each distinct value is judged once per file (`verdicts` persists across the
    file's blocks); the count is one vectorised membership test. A dictionary-encoded column (Parquet text)
    is judged by its dictionary: each entry once, then its indices counted."""
    if pa.types.is_dictionary(values.type):
        return _bad_dictionary_text(values, ok, verdicts)
    distinct = pc.unique(values).to_pylist()
    for v in distinct:
        if v not in verdicts:
            verdicts[v] = isinstance(v, str) and ok(v)
    bad = [v for v in distinct if not verdicts[v]]
    if not bad:
        return 0, []
    bad_set = pa.array([v for v in bad if v is not None], type=values.type)
    n = int(pc.sum(pc.is_in(values, value_set=bad_set)).as_py() or 0) + values.null_count
    return n, bad[:200]


def _bad_dictionary_text(
    values: pa.DictionaryArray, ok: Callable[[str], bool], verdicts: dict[str, bool]
) -> tuple[int, list]:
    entries = values.dictionary.to_pylist()
    for v in entries:
        if v not in verdicts:
            verdicts[v] = isinstance(v, str) and ok(v)
    bad = [i for i, v in enumerate(entries) if not verdicts[v]]
    if not bad:
        return values.null_count, [None] if values.null_count else []
    used = pc.is_in(values.indices, value_set=pa.array(bad, type=values.indices.type))
    n = int(pc.sum(used).as_py() or 0)
    sample = [entries[i] for i in pc.unique(pc.filter(values.indices, used)).to_pylist()[:200]]
    return n + values.null_count, sample + ([None] if values.null_count else [])


def _in_vocab(allowed: frozenset[str], upper: bool) -> Callable[[str], bool]:
    return (lambda v: v.upper() in allowed) if upper else (lambda v: v in allowed)


def _bad_values(series: pd.Series, ok: Callable[[str], bool]) -> pd.Series:
    """Cells that are missing, not text, or text that `ok` rejects.

    Each distinct value is judged once (a column holds a few thousand distinct values among millions of
    cells), then the verdict is mapped back onto the cells with one vectorised `isin`.
    """
    bad = [v for v in pd.unique(series) if not (isinstance(v, str) and ok(v))]
    if not bad:
        return pd.Series(False, index=series.index)
    missing = any(not isinstance(v, str) and pd.isna(v) for v in bad)
    mask = series.isin([v for v in bad if not (not isinstance(v, str) and pd.isna(v))])
    return mask | series.isna() if missing else mask


def _bad_parquet_counts(series: pd.Series, suppressed: pd.Series | None) -> pd.Series:
    """Counts that are negative, fractional or not numbers; null only where the cell is suppressed."""
    if pd.api.types.is_integer_dtype(series.dtype):
        bad = (series < 0).fillna(False)
    else:
        num = pd.to_numeric(series, errors="coerce").astype("Float64")
        negative_or_fraction = ((num < 0) | (num % 1 != 0)).fillna(False)
        bad = negative_or_fraction | (series.notna() & num.isna())
    if suppressed is not None:  # a null count is only allowed where the cell is suppressed
        bad = bad | (series.isna() & ~suppressed.astype(bool))
    return bad


BATCH_ROWS = 1 << 18  # rows of a Parquet file judged at a time (a CSV: blocks of BATCH_BYTES)
# 1 MB: Arrow's CSV reader holds several blocks at once, and its parse buffers grow with the block;
# smaller blocks were no slower (benchmarks/RESULTS.md).
BATCH_BYTES = 1 << 20


def _read(path: Path) -> tuple[list[str], Iterator[pd.DataFrame | pa.RecordBatch]]:
    """The file as published, a block of rows at a time: Parquet typed as written, CSV (plain or gzip)
    every value as text. Returns its columns and the blocks."""
    if path.suffix == ".parquet":
        schema = pq.read_schema(path)
        # Text read as dictionaries: each distinct value decoded and judged once per block, several times
        # faster (benchmarks/RESULTS.md).
        text = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
        parquet = pq.ParquetFile(path, read_dictionary=text)
        names = list(parquet.schema_arrow.names)
        # Arrow record batches: judged in Arrow when their types allow it (`_arrow_judged`).
        return names, parquet.iter_batches(batch_size=BATCH_ROWS)
    header = read_header(path)
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=BATCH_BYTES),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()), null_values=[], strings_can_be_null=False
        ),
    )
    names = list(reader.schema.names)
    return names, iter(reader)  # Arrow record batches: judged without a pandas copy (scan_batches)


def scan_publishable(directory: str | Path, policy: Policy) -> list[str]:
    """Every problem found in a `releases/M/publishable/` folder; empty when every file is allowed.

    Files are scanned two at a time, the largest first (Arrow parses and judges outside the interpreter's
    lock); the problems are listed in path order whatever finished first."""
    root = Path(directory)
    paths = sorted(p for p in root.rglob("*") if p.is_file())
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="allowlist") as pool:
        by_size = sorted(paths, key=lambda p: -p.stat().st_size)
        try:
            verdicts = pool.map(lambda p: _scan_publishable_file(root, p, policy), by_size)
            found = dict(zip(by_size, verdicts, strict=True))
        except BaseException:  # an interrupt: the files not yet started are not scanned
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return [problem for path in paths for problem in found[path]]


def _scan_publishable_file(root: Path, path: Path, policy: Policy) -> list[str]:
    rel = path.relative_to(root).as_posix()
    if rel in EXTRA_FILES:
        return []
    parts = rel.split("/")
    slug = parts[0] if len(parts) == 2 else None
    files = allowed_files(slug) if slug in SLUGS_WITH_FILES else {}
    if parts[-1] not in files:
        return [f"{rel}: file not allowed in a publishable folder"]
    try:
        cols, batches = _read(path)
        assert slug is not None  # only a dataset folder (slug in SLUGS_WITH_FILES) has allowed files
        return scan_batches(rel, slug, cols, batches, policy, files[parts[-1]])
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a rejection, not a crash
        return [f"{rel}: unreadable ({exc.__class__.__name__})"]


def public_files(slug: str) -> dict[str, list[str] | None]:
    """The public files a candidate of `slug` may hold (datasets/public.py) -> fixed columns, None for a
    wide file or the workbook."""
    tidy_gz, parquet = public_names(slug)
    tidy = ["month", *TIDY_COLUMNS[slug].values(), "count"]
    files: dict[str, list[str] | None] = {tidy_gz: tidy, parquet: [*tidy, "suppressed"]}
    files[workbook_name(slug)] = None
    for window in WINDOWS:
        files[csv_name(slug, window)] = None
        for lay in layouts.LAYOUTS.values():
            files[layouts.file_name(spec(slug), window, lay, current=False)] = None
    return files


def _wide_keys(slug: str, columns: list[str]) -> list[str] | None:
    """The layout whose key columns the file starts with, or None."""
    for lay in layouts.LAYOUTS.values():
        keys = lay.header(spec(slug))
        if columns[: len(keys)] == keys:
            return keys
    return None


def scan_public(folder: str | Path, slug: str, policy: Policy, names: list[str] | None = None) -> list[str]:
    """Every problem in a folder of rendered public files of `slug`: only allowed names, every CSV value
    allowed (as `scan_frame` judges), and the workbook's tables equal, cell for cell, to the CSV files of
    the same layout (so the workbook holds nothing that was not scanned). `names`: the files of the folder
    that are public files (default every file in it)."""
    root = Path(folder)
    allowed = public_files(slug)
    problems: list[str] = []
    wide: dict[str, Path] = {}  # read again for the workbook's comparison: no file is held meanwhile
    listed = sorted(names) if names is not None else sorted(p.name for p in root.iterdir() if p.is_file())
    for path in (root / name for name in listed):
        name = path.name
        if name not in allowed:
            problems.append(f"{name}: file not allowed among the public files of {slug}")
            continue
        if name.endswith(".xlsx"):
            continue  # compared with the CSV files below
        try:
            cols, batches = _read(path)
            keys = None
            if allowed[name] is None:
                keys = _wide_keys(slug, cols)
                if keys is None:
                    problems.append(f"{name}: key columns of no known layout for {slug}")
                    continue
                wide[name] = path
            problems.extend(scan_batches(name, slug, cols, batches, policy, allowed[name], keys))
        except Exception as exc:  # noqa: BLE001 - any unreadable file is a rejection, not a crash
            problems.append(f"{name}: unreadable ({exc.__class__.__name__})")
    book = root / workbook_name(slug)
    if book.name in listed and book.is_file():
        problems.extend(_workbook_problems(book, wide))
    return problems


def _cell_text(value) -> str:
    """A workbook cell as its CSV twin writes it: whole numbers without a decimal point, empty as ''."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def _workbook_problems(path: Path, wide: dict[str, Path]) -> list[str]:
    # Read with calamine (a compiled reader): openpyxl took seconds for a sheet of 0.8 million cells.
    from python_calamine import CalamineWorkbook

    problems = []
    book = CalamineWorkbook.from_path(str(path))
    try:
        known = {"Cover", "Contents", "Notes", *WORKBOOK_SHEETS.values()}
        extra = [s for s in book.sheet_names if s not in known]
        if extra:
            problems.append(f"{path.name}: sheets not allowed: {extra}")
        for window, sheet in WORKBOOK_SHEETS.items():
            if sheet not in book.sheet_names:
                continue
            cells = book.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
            rows = [tuple(_cell_text(v) for v in row) for row in cells]
            twin_path = wide.get(_current_csv(wide, window))
            twin = read_text(twin_path) if twin_path is not None else None
            header = list(twin.columns) if twin is not None else []
            header_at = next(
                (i for i, r in enumerate(rows) if header and list(r[: len(header)]) == header), None
            )
            if twin is None or header_at is None:
                problems.append(f"{path.name}: sheet {sheet} has no table matching a public CSV file")
                continue
            body = [list(r[: len(twin.columns)]) for r in rows[header_at + 1 :] if any(r)]
            # Column by column (`tolist`), not value by value through the Arrow-backed frame.
            if body != [
                list(r) for r in zip(*(twin[c].astype(str).tolist() for c in twin.columns), strict=True)
            ]:
                problems.append(f"{path.name}: sheet {sheet} differs from its CSV file")
    finally:
        book.close()
    return problems


def _current_csv(wide: dict[str, Path], window: str) -> str:
    """The current layout's wide file of `window` among the scanned ones (its name has no layout mark)."""
    return next((n for n in wide if "layout]" not in n and ("24 months" in n) == (window == "24m")), "")
