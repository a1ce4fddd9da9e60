"""The dataset tables as architecture.md lays them out: key columns, month columns, file names.

A `Table` is one counts file (one dataset, one window) with a status per cell: published, primary or
secondary suppression. Pure: no Dagster, no file system.
"""

from dataclasses import dataclass, field
from typing import cast

import numpy as np
import pandas as pd

from metpipeline.catalogue import CATALOGUE, WINDOWS
from metpipeline.datasets.build import datastore_file_name
from metpipeline.memory import RELEASE_EVERY_COLUMNS, release_pools
from metpipeline.months.arithmetic import MONTH_COLUMN, month_columns, yyyymm
from metpipeline.workarea import WorkArea

__all__ = [
    "MONTH_COLUMN",
    "WINDOWS",
    "csv_name",
    "month_columns",
    "yyyymm",
]  # re-exported for the disclosure modules

# The published layouts, from the catalogue.
KEY_COLUMNS = {slug: spec.key_columns for slug, spec in CATALOGUE.items()}
# (major, minor) columns; for the flagged file (flag type, flag).
CATEGORY_COLUMNS = {slug: spec.category for slug, spec in CATALOGUE.items()}
TIDY_COLUMNS = {slug: spec.tidy_names for slug, spec in CATALOGUE.items()}  # wide key -> tidy name

PUBLISHED, PRIMARY, SECONDARY = 0, 1, 2
STATUS_NAMES = {PRIMARY: "primary", SECONDARY: "secondary"}


csv_name = datastore_file_name


counts_name = WorkArea.counts_name  # the one name of a counts file


def text_rows(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    """The rows of `columns` as tuples of text. Each column is converted whole (`tolist`): iterating an
    Arrow-backed column value by value costs a microsecond a value, and the tables hold millions."""
    return list(zip(*(frame[c].astype(str).tolist() for c in columns), strict=True))


def rows_kept(frame: pd.DataFrame, keep: np.ndarray) -> pd.DataFrame:
    """`frame.loc[keep].reset_index(drop=True)`, built a column at a time with `frame`'s columns popped as
    they are copied: withholding rows of the historical LSOA table held it twice (benchmarks/RESULTS.md).
    `frame` is left without those columns (a `Table`'s frame is its own object, so a caller's frame is
    untouched)."""
    counts = [c for c in frame.columns if isinstance(frame[c].dtype, np.dtype) and frame[c].dtype.kind == "i"]
    others = [c for c in frame.columns if c not in set(counts)]
    dtypes: set[np.dtype] = {cast(np.dtype, frame[c].dtype) for c in counts}
    if [*others, *counts] != list(frame.columns) or len(dtypes) > 1:  # not keys then counts of one type
        return frame.loc[keep].reset_index(drop=True)
    positions = np.flatnonzero(keep)
    # One block, as pandas holds columns of one type.
    block = np.empty((len(counts), len(positions)), dtype=dtypes.pop() if dtypes else np.dtype(np.int64))
    for i, column in enumerate(counts):
        np.take(frame.pop(column).to_numpy(), positions, out=block[i])
        if i % RELEASE_EVERY_COLUMNS == RELEASE_EVERY_COLUMNS - 1:
            release_pools(heaps=False)  # the popped columns (Arrow's memory), before the block grows
    kept = frame.iloc[positions].reset_index(drop=True)
    return pd.concat([kept, pd.DataFrame(block.T, columns=counts, copy=False)], axis=1)


@dataclass
class Table:
    slug: str
    window: str
    frame: pd.DataFrame  # the wide counts table exactly as published (before disclosure control)
    # int8, rows x month columns; None only until __post_init__ fills in all-published
    status: np.ndarray = field(default=cast(np.ndarray, None))
    # month columns and the column Index they were computed from (see `months`)
    _months: list[str] = field(default_factory=list, init=False, repr=False, compare=False)
    _months_of: pd.Index | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.frame = self.frame.reset_index(drop=True)
        if self.status is None:
            self.status = np.zeros((len(self.frame), len(self.months)), dtype=np.int8)

    @property
    def months(self) -> list[str]:
        """The YYYYMM columns in file order (do not mutate the list).

        Computed once per column Index: the disclosure stage asks for it once per suppressed cell, and
        frames are not changed after construction. Adding, removing or renaming a column (or replacing
        `frame`) gives the frame a new Index object, so the list is recomputed then.
        """
        cols = self.frame.columns
        if self._months_of is not cols:
            self._months = month_columns(self.frame)
            self._months_of = cols
        return self._months

    def values(self) -> np.ndarray:
        return (
            self.frame[self.months].to_numpy(dtype=np.int64)
            if self.months
            else np.zeros((len(self.frame), 0))
        )

    def categories(self) -> list[tuple[str, str]]:
        return text_rows(self.frame, list(CATEGORY_COLUMNS[self.slug]))

    def row_keys(self) -> list[tuple]:
        return text_rows(self.frame, KEY_COLUMNS[self.slug])

    def count(self, status: int) -> int:
        return int((self.status == status).sum())


Release = dict[tuple[str, str], Table]  # (slug, window) -> Table

SLUGS_WITH_FILES = tuple(KEY_COLUMNS)
