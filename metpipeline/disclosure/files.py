"""Reading counts and publishable files from the work area's layout (architecture.md)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from metpipeline.catalogue import CATALOGUE
from metpipeline.datasets.render import read_header, read_text
from metpipeline.disclosure.constraints import Hidden, Known
from metpipeline.disclosure.policy import Policy
from metpipeline.disclosure.suppress import SuppressionOutcome, withhold
from metpipeline.disclosure.tables import (
    CATEGORY_COLUMNS,
    KEY_COLUMNS,
    PRIMARY,
    PUBLISHED,
    SLUGS_WITH_FILES,
    WINDOWS,
    Release,
    Table,
    counts_name,
    csv_name,
    month_columns,
    rows_kept,
    text_rows,
)
from metpipeline.workarea import WorkArea

KEY_SEP = "\x1f"  # joins a row's key columns (a unit separator: never in a name or code)


def joined_keys(frame: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """Each row's key columns as text joined by KEY_SEP (one string per row, computed column-wise)."""
    if not len(frame):
        return np.array([], dtype=object)
    parts = [pa.array(frame[k].astype(str)).cast(pa.large_string()) for k in keys]
    separator = pa.scalar(KEY_SEP, pa.large_string())
    return pc.binary_join_element_wise(*parts, separator).to_numpy(zero_copy_only=False)


# Integer types a table's counts may be held in, narrowest first, with the least and greatest value of each.
_NARROW: list[tuple[pa.DataType, int, int]] = [
    (pa.int8(), -(2**7), 2**7 - 1),
    (pa.int16(), -(2**15), 2**15 - 1),
    (pa.int32(), -(2**31), 2**31 - 1),
]


def _counts_frame(path: Path) -> pd.DataFrame:
    """A counts file as a frame, its counts held in the narrowest integer type (8, 16 or 32 bits) that holds
    every count of the table; a column with a count beyond 32 bits keeps 64. Every use of them converts to
    64 bits (`Table.values`, the renderers; pandas sums in 64). The historical LSOA counts of the seeded
    full-scale DataMart fit 8 bits, a quarter of 32 bits, in the step that holds every table at once
    (benchmarks/RESULTS.md). One type for the table keeps its counts one block
    (`tables.rows_kept`). Each column is narrowed in Arrow and the frame made without a copy
    (WorkArea.read_parquet)."""
    table = pq.read_table(path)
    narrowed, low, high = [], 0, 0  # every type's range holds 0, so starting there changes no choice
    for i, field in enumerate(table.schema):
        if pa.types.is_int64(field.type) and table.column(i).null_count == 0:
            lo, hi = (v.as_py() or 0 for v in pc.min_max(table.column(i)).values())  # no rows: 0
            if _NARROW[-1][1] <= lo and hi <= _NARROW[-1][2]:
                narrowed.append(i)
                low, high = min(low, lo), max(high, hi)
    narrow = next(t for t, least, greatest in _NARROW if least <= low and high <= greatest)
    for i in narrowed:
        table = table.set_column(i, table.schema.field(i).name, pc.cast(table.column(i), narrow))
    return table.to_pandas(split_blocks=True, self_destruct=True)


def read_counts(counts_dir: Path, require: bool = False) -> Release:
    """Every `<slug>__<window>.parquet` of the catalogue's tables present in a `releases/M/counts/` folder
    (counts as `_counts_frame` reads them). `require`: every table of the catalogue must be there, as its
    dataset asset wrote it (a FileNotFoundError names each missing one and the asset to materialise)."""
    release: Release = {}
    missing = []
    for slug in SLUGS_WITH_FILES:
        for window in WINDOWS:
            path = counts_dir / counts_name(slug, window)
            if path.exists():
                release[(slug, window)] = Table(slug, window, _counts_frame(path))
            elif require:
                missing.append(f"{path.name} (materialise {CATALOGUE[slug].asset_name})")
    if missing:
        raise FileNotFoundError(f"{counts_dir}: no counts file " + ", ".join(missing))
    return release


def not_geocoded(release: Release) -> dict[str, dict[str, int]]:
    """Records left out of each geocoded table (ward, LSOA) per month, London-wide: the total of the table
    it is part of (borough) minus its own.

    Call before withholding: the LSOA figure counts only crimes with no LSOA geocode.
    """
    geocoded = {s.slug: s.part_of for s in CATALOGUE.values() if s.part_of}
    out: dict[str, dict[str, int]] = {slug: {} for slug in geocoded}
    for window in WINDOWS:
        for slug, whole in geocoded.items():
            b, t = release.get((whole, window)), release.get((slug, window))
            if b is None or t is None:
                continue
            for m in set(b.months) & set(t.months):
                out[slug][m] = int(b.frame[m].sum()) - int(t.frame[m].sum())
    return {k: dict(sorted(v.items())) for k, v in out.items()}


def read_published(publishable_dir: Path, counts_dir: Path, policy: Policy, sensitivity: dict) -> Release:
    """The tables the threshold and differencing checks judge, those of the datasets the policy suppresses
    in, with each cell's status as actually published (marker or number).

    Every other dataset's file is still compared row for row with its counts as withheld, and its month
    columns with theirs, so a withheld row put back is found; but only the counts' key columns and month
    names are read, and the dataset is not returned (none of its cells is suppressed, so neither check
    has anything to judge in it). The historical LSOA counts, the largest table, are never held here.

    A row of the counts that the file does not show was withheld (a row no suppression could protect);
    the release then holds the rows the file shows. Raises ValueError naming the file when a published file
    is missing, or shows a row the counts do not have, or rows in another order, or other months.
    """
    release: Release = {}
    months: dict[tuple[str, str], list[str]] = {}
    for slug in SLUGS_WITH_FILES:
        for window in WINDOWS:
            path = counts_dir / counts_name(slug, window)
            if not path.exists():
                continue
            if policy.rule(slug).action == "suppress":
                t = Table(slug, window, _counts_frame(path))
                months[(slug, window)] = t.months
            else:
                names = pq.read_schema(path).names
                months[(slug, window)] = month_columns(pd.DataFrame(columns=names))
                t = Table(slug, window, WorkArea.read_parquet(path, columns=KEY_COLUMNS[slug]))
            release[(slug, window)] = t
    withhold(release, policy, sensitivity, SuppressionOutcome())
    for (slug, window), t in list(release.items()):
        path = publishable_dir / slug / csv_name(slug, window)
        if not path.exists():
            raise ValueError(f"{path.name} is missing from the publishable folder")
        keys = KEY_COLUMNS[slug]
        suppressing = policy.rule(slug).action == "suppress"
        # A dataset the policy does not suppress in has no cell status to read: its rows and columns are
        # compared (a withheld row shown is still found) without reading its counts as text.
        header = read_header(path)
        pub = read_text(path) if suppressing else read_text(path, columns=[c for c in keys if c in header])
        shown, counted = joined_keys(pub, keys), joined_keys(t.frame, keys)
        if len(shown) != len(counted):
            present = np.isin(counted, shown)
            t = Table(slug, window, rows_kept(t.frame, present))
            release[(slug, window)] = t
            counted = counted[present]
        if (
            not np.array_equal(shown, counted)
            or month_columns(pd.DataFrame(columns=header)) != months[(slug, window)]
        ):
            raise ValueError(f"{path.name}: rows or month columns differ from the counts file")
        if not suppressing:
            del release[(slug, window)]  # compared; nothing in it for the checks to judge
            continue
        status = np.zeros((len(pub), len(t.months)), dtype=np.int8)
        for j, m in enumerate(t.months):  # column by column: no object array of the whole file
            status[:, j] = np.where((pub[m] == policy.marker).to_numpy(dtype=bool), PRIMARY, 0)
        t.status = status
    return release


KNOWN_CELLS = "published_cells.parquet"  # beside publishable/: every earlier version's published cells
HIDDEN_CELLS = "suppressed_cells.parquet"  # beside it: every earlier version's suppressed cells, true values


def published_cells(publishable_dir: Path, policy: Policy, sensitivity: dict) -> pd.DataFrame:
    """The numbers one publishable version shows in the cells that could ever be suppressed (protected
    categories of the datasets the policy suppresses in): slug, month (YYYYMM), key (the row's key columns
    joined), value."""
    parts = []
    for slug in SLUGS_WITH_FILES:
        rule = policy.rule(slug)
        if rule.action != "suppress":
            continue
        for window in WINDOWS:
            path = publishable_dir / slug / csv_name(slug, window)
            if not path.exists():
                continue
            pub = read_text(path)
            a, b = CATEGORY_COLUMNS[slug]
            categories = text_rows(pub, [a, b])
            protected = [rule.protects(sensitivity.get(c, "standard")) for c in categories]
            pub = pub[np.array(protected, dtype=bool)] if len(pub) else pub
            keys = joined_keys(pub, KEY_COLUMNS[slug])
            for m in month_columns(pub):
                text = pub[m].to_numpy(dtype=str)
                counted = np.char.isdigit(text)  # the marker and anything else are not known values
                parts.append(
                    pd.DataFrame(
                        {
                            "slug": slug,
                            "month": m,
                            "key": keys[counted],
                            "value": text[counted].astype("int64"),
                        }
                    )
                )
    columns = {"slug": "string", "month": "string", "key": "string", "value": "int64"}
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})
    return pd.concat(parts, ignore_index=True).astype(columns)


def record_published_cells(
    publishable_dir: Path, previous_dir: Path | None, policy: Policy, sensitivity: dict
) -> Path:
    """Write `published_cells.parquet` for this version: its own published cells and every earlier
    version's (carried from the previous month's file), so the attacker's knowledge of every earlier
    version is at hand without reading them all."""
    cells = [published_cells(publishable_dir, policy, sensitivity)]
    earlier = previous_dir.parent / KNOWN_CELLS if previous_dir is not None else None
    if earlier is not None and earlier.is_file():
        cells.append(pd.read_parquet(earlier))
    elif previous_dir is not None and previous_dir.is_dir():
        cells.append(published_cells(previous_dir, policy, sensitivity))
    merged = (
        pd.concat(cells, ignore_index=True).drop_duplicates().sort_values(["slug", "month", "key", "value"])
    )
    out = publishable_dir.parent / KNOWN_CELLS
    merged.reset_index(drop=True).to_parquet(out, index=False)
    return out


def record_suppressed_cells(release: Release, month: str, out_dir: Path, previous_dir: Path | None) -> Path:
    """Write `suppressed_cells.parquet` (internal, never published): the cells this version suppresses with
    their true values, tagged with the release month, after every earlier version's (carried from the
    previous month's file). The next release's audit writes each version's group equations from it."""
    parts = []
    for (slug, _w), t in release.items():
        hidden = np.argwhere(t.status != PUBLISHED)
        if not len(hidden):
            continue
        keys = joined_keys(t.frame, KEY_COLUMNS[slug])
        vals = t.values()
        parts.append(
            pd.DataFrame(
                {
                    "version": month,
                    "slug": slug,
                    "month": [t.months[c] for c in hidden[:, 1]],
                    "key": keys[hidden[:, 0]],
                    "value": vals[hidden[:, 0], hidden[:, 1]].astype("int64"),
                }
            )
        )
    earlier = previous_dir.parent / HIDDEN_CELLS if previous_dir is not None else None
    if earlier is not None and earlier.is_file():
        parts.append(pd.read_parquet(earlier))
    columns = {"version": "string", "slug": "string", "month": "string", "key": "string", "value": "int64"}
    frame = (
        pd.concat(parts, ignore_index=True).astype(columns)
        if parts
        else pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})
    )
    out = out_dir.parent / HIDDEN_CELLS
    frame.sort_values(["version", "slug", "month", "key"]).reset_index(drop=True).to_parquet(out, index=False)
    return out


def _rows(frame: pd.DataFrame) -> zip:
    """A record file's rows as tuples, each column converted whole (not value by value). Text values are
    shared objects, one per distinct value, and a `key` column comes as the tuple of its key columns: the
    records hold a few thousand keys and months over hundreds of thousands of rows, which as separate
    strings and tuples cost much more (benchmarks/RESULTS.md)."""
    columns = []
    for c in frame.columns:
        values = frame[c].tolist()
        if frame[c].dtype.kind not in "iub":
            one = {v: (tuple(v.split(KEY_SEP)) if c == "key" else v) for v in set(values)}
            values = [one[v] for v in values]
        columns.append(values)
    return zip(*columns, strict=True)


def hidden_from_previous(previous_dir: Path | None) -> Hidden:
    """Every earlier version's suppressed cells, by (dataset, month) and version (constraints.Hidden)."""
    hidden: Hidden = {}
    record = previous_dir.parent / HIDDEN_CELLS if previous_dir is not None else None
    if record is None or not record.is_file():
        return hidden
    cells = pd.read_parquet(record)
    for version, slug, month, key, value in _rows(cells):
        hidden.setdefault((slug, month), {}).setdefault(version, {})[key] = int(value)
    return hidden


def known_from_previous(previous_dir: Path | None, policy: Policy, sensitivity: dict | None = None) -> Known:
    """Cells any earlier version published, with the values they showed (the attacker's knowledge).

    Read from the previous month's `published_cells.parquet` (every version up to it); a work area without
    one (made before it existed) gives the previous version's files only. Only the protected categories of
    datasets the policy suppresses in can hold a cell suppressed now, so only those are read."""
    known: Known = {}
    if previous_dir is None or not previous_dir.is_dir():
        return known
    from metpipeline.reference import category_sensitivity

    sensitivity = sensitivity if sensitivity is not None else category_sensitivity()
    record = previous_dir.parent / KNOWN_CELLS
    cells = (
        pd.read_parquet(record) if record.is_file() else published_cells(previous_dir, policy, sensitivity)
    )
    for slug, month, key, value in _rows(cells):
        known.setdefault((slug, month, key), set()).add(int(value))
    return known


def previous_publishable(releases_root: Path, month: str) -> Path | None:
    """The latest earlier month's publishable folder in the work area, if any."""
    if not releases_root.is_dir():
        return None
    earlier = sorted(
        p.name for p in releases_root.iterdir() if p.name < month and (p / "publishable").is_dir()
    )
    return releases_root / earlier[-1] / "publishable" if earlier else None
