"""The files the public gets for one dataset's release, rendered from its protected publishable files.

Disclosure control, its audits and the quality checks work on the canonical tables
(`releases/M/publishable/<slug>/`). What is staged for the owner's decision, and published, is rendered
from them here:

- the 24-month and historical CSV files in the current layout (datasets/layouts.py), and in the previous
  layout beside them while it is deprecated (the file name says which);
- the tidy long form as `<slug>-tidy.csv.gz` (gzip, deterministic) and `<slug>-tidy.parquet`;
- an accessible workbook `<Title>.xlsx` (datasets/workbook.py).

Values are never changed: a layout renames the key columns and, for the borough file, counts the airports'
crimes where they happened (every crime still counted once; checked). Output is deterministic.
"""

import csv
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from metpipeline.catalogue import WINDOWS, DatasetSpec, spec
from metpipeline.datasets import layouts, workbook
from metpipeline.datasets.build import airports_name
from metpipeline.datasets.render import copy_or_gzip, read_text, render_csv
from metpipeline.resources import Publication


def layout_record(month: str, publication: Publication) -> dict:
    """The layouts of a release's files, as its manifest and cover sheet state them."""
    current, previous = layouts.in_force(month, publication)
    return {
        "current": current.name,
        "current_version": current.version,
        "current_text": f"the files follow the {current.name} layout: {current.description}.",
        "airports": current.airports_by_location,
        "previous": previous.name if previous else None,
        "previous_text": previous.description if previous else None,
        "previous_until": publication.previous_layout_until if previous else None,
    }


def workbook_name(slug: str) -> str:
    return f"{spec(slug).title}.xlsx"


def tidy_names(slug: str) -> tuple[str, str]:
    return f"{slug}-tidy.csv.gz", f"{slug}-tidy.parquet"


def _airports(counts: Path, dataset: DatasetSpec, window: str, month: str) -> pd.DataFrame:
    path = counts / airports_name(dataset.slug, window)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: materialise {dataset.asset_name} for {month} again")
    airports = pd.read_parquet(path)
    keys = dataset.key_columns
    airports[keys] = airports[keys].astype(str)
    months = [c for c in airports.columns if c not in keys]
    airports[months] = airports[months].astype("int64")
    return airports


def _with_header(source: Path, target: Path, keys: list[str], header: list[str]) -> tuple[int, int]:
    """Copy a canonical CSV with its key columns `keys` renamed to `header` (the header line written as
    pandas writes it, the rows byte for byte); returns its (data rows, columns)."""
    rows = 0
    with open(source, "rb") as src, open(target, "wb") as dst:
        first = src.readline()
        if not first.endswith(b"\n"):
            raise ValueError(f"{source.name}: no complete header line")
        old = next(csv.reader([first.decode("utf-8")]))
        if old[: len(keys)] != keys or len(header) != len(keys):
            raise ValueError(f"{source.name}: header {old[: len(keys)]} is not the key columns {keys}")
        dst.write(render_csv(pd.DataFrame(columns=header + old[len(keys) :])))
        for block in iter(lambda: src.read(1 << 20), b""):
            rows += block.count(b"\n")
            dst.write(block)
    return rows, len(old)


def render_public_files(
    publishable: Path,
    counts: Path,
    dataset: DatasetSpec,
    month: str,
    out: Path,
    publication: Publication,
    compressed: Path | None = None,
) -> list[str]:
    """Write the public files of `dataset` into `out`; returns their names.

    `publishable`: the dataset's protected folder (`releases/M/publishable/<slug>/`); `counts`: the month's
    counts folder (the borough file's airports-by-location table); `compressed`: where the disclosure stage
    left the tidy CSV's gzip (`releases/M/compressed/`), copied when it was made from exactly the
    publishable CSV, else the CSV is compressed on a second thread while the wide files and the workbook
    are written (zlib releases the interpreter's lock)."""
    out.mkdir(parents=True, exist_ok=True)
    slug = dataset.slug
    gz, parquet = tidy_names(slug)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"gzip-{slug}") as pool:
        precompressed = compressed / gz if compressed is not None else None
        zipped = pool.submit(copy_or_gzip, publishable / f"{slug}-tidy.csv", precompressed, out / gz)
        names = _wide_files_and_workbook(publishable, counts, dataset, month, out, publication)
        zipped.result()  # raises here if the compression failed
    shutil.copyfile(publishable / parquet, out / parquet)
    return sorted([*names, gz, parquet])


def _wide_files_and_workbook(
    publishable: Path, counts: Path, dataset: DatasetSpec, month: str, out: Path, publication: Publication
) -> list[str]:
    slug = dataset.slug
    current, previous = layouts.in_force(month, publication)
    names: list[str] = []
    current_tables = []
    max_cells = publication.workbook_max_cells
    for window in WINDOWS:
        source = publishable / dataset.file_name(window)
        if not source.is_file():
            raise FileNotFoundError(f"{source} is missing: materialise disclosed_datasets for {month} first")
        for lay, is_current in ((current, True), (previous, False)):
            if lay is None or (not is_current and not lay.differs(current, dataset)):
                continue
            where = f"{slug} {window} {month} ({lay.name})"
            name = layouts.file_name(dataset, window, lay, is_current)
            if dataset.airports_row and lay.airports_by_location:
                airports = _airports(counts, dataset, window, month)
                frame = layouts.render(read_text(source), dataset, lay, airports, where)
                (out / name).write_bytes(render_csv(frame.astype(str)))
                table = workbook.WorkbookTable(window, frame.astype(str), name)
            else:
                # The layout renames the header only: the rows are the canonical file's bytes, streamed.
                rows, columns = _with_header(source, out / name, dataset.key_columns, lay.header(dataset))
                small = rows * columns <= max_cells
                table = workbook.WorkbookTable(
                    window, read_text(out / name) if small else None, name, shape=(rows, columns)
                )
            names.append(name)
            if is_current:
                current_tables.append(table)
    layout_note = f"Files in the {current.name} layout: {current.description}."
    if previous is not None:
        layout_note += (
            f" The {previous.name} layout is published beside them until the release for "
            f"{publication.previous_layout_until} (files marked [{previous.name} layout])."
        )
    workbook.write_workbook(
        out / workbook_name(slug),
        slug,
        month,
        current_tables,
        key_count=len(dataset.key_columns),
        max_cells=max_cells,
        contact=publication.contact,
        layout_note=layout_note,
    )
    names.append(workbook_name(slug))
    return names
