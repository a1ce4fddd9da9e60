"""An accessible spreadsheet per dataset, made with `gptables` (the Analysis Function's package for
"Releasing statistics in spreadsheets"): a cover sheet, a contents sheet, a notes table, then one sheet per
table (the most recent 24 months, the historical months), each with its title in cell A1.

The tables are the public CSV files of the current layout, cell for cell: counts as numbers, suppressed
cells as `[c]` (explained in the notes). A table larger than METPIPELINE_WORKBOOK_MAX_CELLS is left out of
the spreadsheet (a reader's spreadsheet program would struggle with it) and the cover and notes say which
CSV file holds it. The bytes are deterministic: the workbook's creation date is the release month's first
day, so rebuilding a month gives the same file (and the same release candidate).
"""

import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from metpipeline.catalogue import spec
from metpipeline.datasets.tidy import SUPPRESSED

SHEETS = {"24m": "Recent_24_months", "historical": "Historical"}
WINDOW_TITLES = {"24m": "the most recent 24 months", "historical": "historical months"}


@dataclass(frozen=True)
class WorkbookTable:
    window: str
    frame: pd.DataFrame | None  # the public CSV as text (every value a string); None: not read (too large)
    csv_name: str
    shape: tuple[int, int] | None = None  # (rows, columns) when `frame` is None: a table left to its CSV

    @property
    def size(self) -> tuple[int, int]:
        return self.frame.shape if self.frame is not None else (self.shape or (0, 0))


def _typed(frame: pd.DataFrame, key_count: int) -> pd.DataFrame:
    """Counts as integers (so a reader can sum them), the suppression marker as text."""
    out = frame.copy()
    for column in out.columns[key_count:]:
        values = out[column].astype(str)
        numeric = values != SUPPRESSED
        out[column] = values.where(~numeric, None).astype(object)
        out.loc[numeric, column] = values[numeric].astype("int64").to_numpy()
    return out


def write_workbook(
    path: Path,
    slug: str,
    month: str,
    tables: list[WorkbookTable],
    key_count: int,
    max_cells: int,
    contact: str,
    layout_note: str,
) -> list[str]:
    """Write the dataset's workbook; returns the tables left out (as sentences naming their CSV)."""
    import gptables as gpt

    title = spec(slug).title
    left_out, sheets = [], {}
    for t in tables:
        rows, columns = t.size
        cells = rows * columns  # every cell a reader's spreadsheet program must hold
        if rows == 0 or columns <= key_count:
            left_out.append(f"{WINDOW_TITLES[t.window].capitalize()}: no months in this release.")
            continue
        if cells > max_cells or t.frame is None:
            left_out.append(
                f"{WINDOW_TITLES[t.window].capitalize()}: {cells:,} cells, too many for a spreadsheet; "
                f"published as the CSV file '{t.csv_name}'."
            )
            continue
        first, last = t.frame.columns[key_count], t.frame.columns[-1]
        sheets[SHEETS[t.window]] = gpt.GPTable(
            table=_typed(t.frame, key_count),
            table_name=f"{slug}_{t.window}_table",
            title=f"{title}: {WINDOW_TITLES[t.window]}, {first[:4]}-{first[4:]} to {last[:4]}-{last[4:]}",
            subtitles=[
                "Recorded crimes by month (columns YYYYMM) $$suppression$$",
                f"Same figures as the CSV file '{t.csv_name}'",
            ],
            scope=spec(slug).geography,
            source="Source: Metropolitan Police Service, crime recording systems CRIS and CONNECT (DataMart)",
            index_columns={2: 0},
        )
    notes = pd.DataFrame(
        {
            "Note number": ["suppression", "layout", "counting"],
            "Note text": [
                f"A cell shown as {SUPPRESSED} is suppressed to protect the people involved (small counts of "
                "sensitive categories, and the cells that would reveal them).",
                layout_note,
                "Crimes are counted in the month (London time) in which they were recorded; crimes recorded "
                "until 27 February 2024 come from CRIS, from 28 February 2024 from CONNECT.",
            ],
        }
    )
    cover = gpt.Cover(
        cover_label="Cover",
        title=f"{title}, release for {month}",
        intro=[
            "Recorded crime in London reported by the Metropolitan Police Service, by month.",
            *(left_out or ["Every table of this release is in this workbook."]),
        ],
        about=[
            f"Suppressed cells are shown as {SUPPRESSED}; see the Notes sheet.",
            "Licence: Open Government Licence v3.0.",
        ],
        contact=[f"Contact: {contact}"],
    )
    year, mon = int(month[:4]), int(month[5:7])
    with warnings.catch_warnings():
        # xlsxwriter warns that a table name such as "borough_24m_table" could look like a cell name.
        warnings.simplefilter("ignore")
        workbook = gpt.produce_workbook(
            filename=str(path),
            sheets=sheets,
            cover=cover,
            notes_table=notes,
            # A contents sheet lists the table sheets; with none (every table CSV only) the cover says so.
            contentsheet_label="Contents" if sheets else None,
            contentsheet_options={"title": "Contents"},
            auto_width=False,
            # Text is written as text: a cell beginning with = is never a formula.
            workbook_options={"constant_memory": True, "strings_to_formulas": False},
        )
        workbook.set_properties({"title": title, "created": datetime(year, mon, 1)})
        workbook.close()
    return left_out
