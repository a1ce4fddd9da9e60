"""The public files' layouts: named, versioned profiles of the London Datastore's headers and rows.

The pipeline counts, checks and protects one canonical table per dataset (the key columns of the
catalogue, catalogue.py: the layout the Datastore used until 2025). A layout profile says how that table
is written for the public:

- `datastore-2026`, the current one: the borough file starts `Group,SubGroup,BOCU` and has no separate
  airports row (crimes recorded by Aviation Security, SO18, are counted in the borough where they happened,
  Heathrow in Hillingdon, London City Airport in Newham; in `Unknown` when not geocoded); the ward file
  starts `Group,SubGroup,WardName,WardCode,LookUp_BoroughName`. No 2026 LSOA or flagged file is known: they
  keep the earlier layout (reference/PROVENANCE.md says what was found).
- `datastore-2024`, the earlier one: `MajorText,MinorText,BoroughName` with the airports row; ward
  `MajorText,MinorText,WardName,…`.

The category values (upper case) and the month columns are the same in both. Only the borough file's rows
differ between the profiles, and only by where the airports' crimes are counted; every crime is counted in
both (checked when the table is written).
"""

from dataclasses import dataclass

import pandas as pd

from metpipeline.catalogue import CATALOGUE, DatasetSpec
from metpipeline.datasets.build import key_columns
from metpipeline.reference import AVIATION_BOROUGH
from metpipeline.resources import Publication


@dataclass(frozen=True)
class Layout:
    name: str
    version: str
    description: str
    headers: dict[str, list[str]]  # slug -> the key columns' public names, in the canonical order
    airports_by_location: bool  # borough: no airports row; SO18 crimes counted where they happened

    def header(self, dataset: DatasetSpec) -> list[str]:
        return self.headers.get(dataset.slug, dataset.key_columns)

    def differs(self, other: "Layout", dataset: DatasetSpec) -> bool:
        """Whether the two layouts write different files for `dataset`."""
        rows_differ = dataset.airports_row and self.airports_by_location != other.airports_by_location
        return self.header(dataset) != other.header(dataset) or rows_differ


DATASTORE_2026 = Layout(
    name="datastore-2026",
    version="2026.1",
    description="the London Datastore's layout from 2026: Group, SubGroup, BOCU (borough); Group, SubGroup, "
    "WardName, WardCode, LookUp_BoroughName (ward); no separate airports row",
    headers={
        "borough": ["Group", "SubGroup", "BOCU"],
        "ward": ["Group", "SubGroup", "WardName", "WardCode", "LookUp_BoroughName"],
    },
    airports_by_location=True,
)
DATASTORE_2024 = Layout(
    name="datastore-2024",
    version="2024.1",
    description="the London Datastore's layout until 2025: MajorText, MinorText, BoroughName (borough), with "
    "a 'London Heathrow and London City Airports' row; MajorText, MinorText, WardName, WardCode, "
    "LookUp_BoroughName (ward)",
    headers={slug: key_columns(slug) for slug in CATALOGUE},
    airports_by_location=False,
)
LAYOUTS = {layout.name: layout for layout in (DATASTORE_2026, DATASTORE_2024)}
CURRENT = DATASTORE_2026.name


def layout(name: str) -> Layout:
    try:
        return LAYOUTS[name.strip()]
    except KeyError:
        raise ValueError(f"unknown layout {name!r}: expected one of {', '.join(LAYOUTS)}") from None


def file_name(dataset: DatasetSpec, window: str, layout_: Layout, current: bool) -> str:
    """The Datastore's file name for the current layout; the other one published beside it says which
    layout it is, e.g. `MPS Borough Level Crime (most recent 24 months) [datastore-2024 layout].csv`."""
    name = dataset.file_name(window)
    return name if current else name.removesuffix(".csv") + f" [{layout_.name} layout].csv"


def airports_by_location(
    wide: pd.DataFrame, by_location: pd.DataFrame, dataset: DatasetSpec, where: str
) -> pd.DataFrame:
    """The canonical borough table with the airports row's crimes moved to the boroughs where they happened.

    `wide`: the canonical table as published (text cells: numbers or the suppression marker);
    `by_location`: the airports' crimes as a canonical table whose borough is the crime's location
    (`Unknown` when not geocoded), same months. Every crime stays counted: the month totals are checked.
    """
    keys = dataset.key_columns
    borough = next(k.published for k in dataset.keys if k.source == "borough_name")
    months = [c for c in wide.columns if c not in keys]
    if list(by_location.columns) != keys + months:
        raise ValueError(
            f"{where}: the airports-by-location table's columns differ from the {dataset.slug} table's"
        )
    kept = wide[wide[borough] != AVIATION_BOROUGH]
    moved = wide[wide[borough] == AVIATION_BOROUGH]
    # int64 conversion raises on anything but a whole number (the borough file is never suppressed).
    numbers = [frame.set_index(keys)[months].astype("int64") for frame in (kept, by_location)]
    merged = numbers[0].add(numbers[1], fill_value=0).astype("int64")
    before = wide[months].astype("int64").sum()
    after = merged.sum()
    if not after.reindex(months).equals(before.reindex(months)):
        raise ValueError(f"{where}: moving the airports row changed the month totals")
    if int(moved[months].apply(pd.to_numeric).to_numpy().sum()) != int(by_location[months].to_numpy().sum()):
        raise ValueError(
            f"{where}: the airports row and the airports-by-location table count different crimes"
        )
    out = merged.reset_index()
    return out.sort_values(keys, kind="stable").reset_index(drop=True)


def render(
    wide: pd.DataFrame, dataset: DatasetSpec, layout_: Layout, airports: pd.DataFrame | None, where: str
):
    """The canonical table (text cells) in `layout_`: rows moved where the layout says, headers renamed."""
    if dataset.airports_row and layout_.airports_by_location:
        if airports is None:
            raise ValueError(f"{where}: the airports-by-location counts are missing")
        wide = airports_by_location(wide, airports, dataset, where)
    renamed = dict(zip(dataset.key_columns, layout_.header(dataset), strict=True))
    return wide.rename(columns=renamed)


def in_force(month: str, publication: Publication) -> tuple[Layout, Layout | None]:
    """The current layout and, while its deprecation period lasts, the previous one published beside it
    (METPIPELINE_LAYOUT, METPIPELINE_PREVIOUS_LAYOUT, METPIPELINE_PREVIOUS_LAYOUT_UNTIL, through the
    publication resource)."""
    current = layout(publication.layout)
    if publication.previous_layout is None:
        return current, None
    previous, until = layout(publication.previous_layout), publication.previous_layout_until
    return current, (previous if previous.name != current.name and month <= until else None)
