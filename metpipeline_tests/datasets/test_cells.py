"""Monthly cells and the tables assembled from them: the same tables as counting the crimes directly, and
a historical table extended from the last one built only while none of its months changed."""

import io

import pandas as pd
import pytest

from metpipeline.catalogue import CATALOGUE, WINDOWS, spec
from metpipeline.cellstore import MissingMonths, MonthlyCells, months_ready, write_month
from metpipeline.datasets import assets as dataset_assets
from metpipeline.datasets.assets import historical_table
from metpipeline.datasets.build import all_month_cells, assemble, build_table, extend, window_months
from metpipeline.workarea import WorkArea

MONTHS = ["2022-01", "2022-02", "2022-03", "2022-04"]


def _month(month: str, n: int) -> pd.DataFrame:
    boroughs = ["Westminster", "Camden", "Unknown"]
    return pd.DataFrame(
        {
            "month": [month] * n,
            "mps_major": ["VIOLENCE AGAINST THE PERSON", "THEFT"] * (n // 2) + ["THEFT"] * (n % 2),
            "mps_minor": ["Violence without Injury", "SHOPLIFTING"] * (n // 2) + ["SHOPLIFTING"] * (n % 2),
            "borough_name": [boroughs[i % 3] for i in range(n)],
            "ward_code": [None if i % 4 == 0 else f"E0503{i % 5:04d}" for i in range(n)],
            "ward_name": [None if i % 4 == 0 else f"Ward {i % 5}" for i in range(n)],
            "ward_borough_name": [None if i % 4 == 0 else boroughs[i % 2] for i in range(n)],
            "lsoa_code": [None if i % 3 == 0 else f"E0100{i % 7:04d}" for i in range(n)],
            "lsoa_name": [None if i % 3 == 0 else f"LSOA {i % 7}" for i in range(n)],
            "lsoa_borough_name": [None if i % 3 == 0 else boroughs[i % 2] for i in range(n)],
            "hate_race": [i % 5 == 0 for i in range(n)],
            "hate_religion": [i % 7 == 0 for i in range(n)],
            "hate_sexual_orientation": [False] * n,
            "hate_disability": [i % 11 == 0 for i in range(n)],
            "hate_transgender": [False] * n,
            "domestic_abuse": [i % 3 == 1 for i in range(n)],
        }
    ).astype({c: "string" for c in ("month", "ward_code", "ward_name", "lsoa_code", "lsoa_name")})


def _naive(crimes: pd.DataFrame, slug: str, months: list[str]) -> pd.DataFrame:
    """What the table must be, counted the plain way: one pivot of the crimes (flags one row per flag)."""
    dataset = spec(slug)
    rows = dataset.counted_rows(crimes).dropna(subset=dataset.source_columns)
    rows = rows[rows["month"].isin(months)]
    frame = pd.DataFrame({k.published: rows[k.source].astype(str) for k in dataset.keys})
    for key in dataset.keys:
        if key.upper:
            frame[key.published] = frame[key.published].str.upper()
    frame["m"] = rows["month"].astype(str).str.replace("-", "")
    wide = frame.pivot_table(index=dataset.key_columns, columns="m", aggfunc="size", fill_value=0)
    wide = wide.reindex(columns=[m.replace("-", "") for m in months], fill_value=0).reset_index()
    wide.columns.name = None
    return wide.astype({m.replace("-", ""): "int64" for m in months})


def _bytes(table: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    table.to_parquet(buf, index=False)
    return buf.getvalue()


@pytest.fixture
def stored(tmp_path):
    area = WorkArea(tmp_path)
    frames = {m: _month(m, 40 + 3 * i) for i, m in enumerate(MONTHS)}
    for month, frame in frames.items():
        write_month(area, month, all_month_cells(frame))
    return area, pd.concat(frames.values(), ignore_index=True)


def test_tables_from_cells_equal_counting_the_crimes(stored):
    area, crimes = stored
    cells = MonthlyCells(area, MONTHS)
    for slug, dataset in CATALOGUE.items():
        for window in WINDOWS:
            for release in ("2022-03", "2024-03", "2024-04"):  # a historical window of 0, 1 and 2 months
                months = [m for m in window_months(release, window, "2022-01") if m in MONTHS]
                table = assemble(cells.read(slug, months, dataset.key_columns), dataset, months)
                expected = _naive(crimes, slug, months)
                pd.testing.assert_frame_equal(table, expected, check_dtype=False, obj=f"{slug} {window}")
                assert _bytes(table) == _bytes(build_table(crimes, slug, months)), (slug, window)


def test_historical_table_is_extended_only_while_its_months_stand(stored):
    area, crimes = stored
    dataset = spec("ward")
    cells = MonthlyCells(area, MONTHS)
    first, how = historical_table(cells, "ward", dataset, MONTHS[:2])
    assert how == "rebuilt"
    extended, how = historical_table(cells, "ward", dataset, MONTHS[:3])
    assert how == "extended by 1 months"
    assert _bytes(extended) == _bytes(
        assemble(cells.read("ward", MONTHS[:3], dataset.key_columns), dataset, MONTHS[:3])
    )
    # A revised month inside the table: its cells change, so the table is rebuilt, not extended.
    write_month(area, "2022-02", all_month_cells(_month("2022-02", 17)))
    revised = MonthlyCells(area, MONTHS)
    table, how = historical_table(revised, "ward", dataset, MONTHS)
    assert how == "rebuilt"
    crimes = pd.concat(
        [_month(m, n) for m, n in zip(MONTHS, (40, 17, 46, 49), strict=True)], ignore_index=True
    )
    pd.testing.assert_frame_equal(table, _naive(crimes, "ward", MONTHS), check_dtype=False)


def test_a_stored_historical_table_with_a_repeated_key_is_rebuilt_not_extended(stored):
    """The stored table is extended only if it is one this code wrote: a repeated key (a file changed by
    hand, or by other code) would give repeated rows, so the table is rebuilt from the cells instead."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    area, _crimes = stored
    dataset = spec("ward")
    cells = MonthlyCells(area, MONTHS)
    historical_table(cells, "ward", dataset, MONTHS[:2])
    path = area.path("cells", "history", "ward.parquet")
    stored_table = pq.read_table(path)
    doubled = pa.concat_tables([stored_table, stored_table.slice(0, 1)])
    pq.write_table(doubled.replace_schema_metadata(stored_table.schema.metadata), path)
    table, how = historical_table(cells, "ward", dataset, MONTHS[:3])
    assert how == "rebuilt"
    assert _bytes(table) == _bytes(
        assemble(cells.read("ward", MONTHS[:3], dataset.key_columns), dataset, MONTHS[:3])
    )


@pytest.mark.parametrize("chunk", [1, 3])
def test_a_historical_table_rebuilt_a_few_months_at_a_time_equals_assembling_every_month(
    stored, monkeypatch, chunk
):
    """The first release after a back-fill rebuilds each historical table from the cells REBUILD_MONTHS
    months at a time (not every month's cells in one frame): the same table, dtype for dtype and byte for
    byte, as `assemble` of all of them, and what `historical_table` stores and returns."""
    area, _crimes = stored
    monkeypatch.setattr(dataset_assets, "REBUILD_MONTHS", chunk)
    cells = MonthlyCells(area, MONTHS)
    for slug, dataset in CATALOGUE.items():
        whole = assemble(cells.read(slug, MONTHS, dataset.key_columns), dataset, MONTHS)
        chunked = dataset_assets.rebuilt(cells, slug, dataset, MONTHS)
        pd.testing.assert_frame_equal(chunked, whole, check_exact=True, obj=f"{slug} by {chunk}")
        assert _bytes(chunked) == _bytes(whole), slug
        table, how = historical_table(cells, slug, dataset, MONTHS)
        assert how == "rebuilt" and _bytes(table) == _bytes(whole), slug


def test_a_historical_table_rebuilt_from_months_without_cells_is_the_empty_table(tmp_path, monkeypatch):
    """No flagged crime in any month: rebuilt a month at a time, the flagged table is the empty table
    `assemble` makes (key columns of no type), byte for byte, not one the chunks' extension typed."""
    area = WorkArea(tmp_path)
    for i, month in enumerate(MONTHS):
        frame = _month(month, 10 + i)
        flags = [c for c in frame.columns if c.startswith("hate_")] + ["domestic_abuse"]
        frame[flags] = False
        write_month(area, month, all_month_cells(frame))
    monkeypatch.setattr(dataset_assets, "REBUILD_MONTHS", 1)
    cells, dataset = MonthlyCells(area, MONTHS), spec("flagged")
    whole = assemble(cells.read("flagged", MONTHS, dataset.key_columns), dataset, MONTHS)
    chunked = dataset_assets.rebuilt(cells, "flagged", dataset, MONTHS)
    assert len(whole) == 0 and _bytes(chunked) == _bytes(whole)


def test_a_month_without_cells_is_named(stored):
    area, _ = stored
    cells = MonthlyCells(area, [*MONTHS, "2022-05", "2022-06"])
    with pytest.raises(MissingMonths, match=r"2 months \(2022-05\.\.2022-06\): run `metpipeline backfill"):
        cells.require("lsoa", "2022-06", "2022-01")


def test_a_month_harmonised_before_the_cells_existed_is_back_filled_again(stored):
    """A work area back-filled by earlier code has harmonised months without cells: the release plans them
    for the back-fill instead of failing on missing cells."""
    area, _ = stored
    for month in [*MONTHS, "2022-05"]:
        path = area.harmonised_path(month)
        path.parent.mkdir(parents=True, exist_ok=True)
        _month(month, 5).to_parquet(path, index=False)
    assert months_ready(area) == set(MONTHS)
    (area.path("cells", "2022-02", "digest.json")).unlink()  # a reduction that did not finish
    assert months_ready(area) == set(MONTHS) - {"2022-02"}


@pytest.mark.parametrize("slug", ["ward", "lsoa", "flagged"])
def test_extending_with_new_keys_anywhere_in_the_order_equals_assembling_every_month(stored, slug):
    """`extend` builds the grown table column by column: rows whose keys first appear in the added months
    land where the sort puts them, zero in the earlier months, and every row has the values `assemble`
    gives, dtype for dtype. The earlier table has every other row dropped and its rows reversed, so new
    keys and a reordering are both needed."""
    area, _crimes = stored
    dataset = spec(slug)
    cells = MonthlyCells(area, MONTHS)
    full = assemble(cells.read(slug, MONTHS, dataset.key_columns), dataset, MONTHS)
    earlier = assemble(cells.read(slug, MONTHS[:3], dataset.key_columns), dataset, MONTHS[:3])
    earlier = earlier.iloc[::2].iloc[::-1].reset_index(drop=True)
    months = [m.replace("-", "") for m in MONTHS]
    seen = full.set_index(dataset.key_columns).index.isin(earlier.set_index(dataset.key_columns).index)
    expected = full.copy()
    expected.loc[~seen, months[:3]] = 0  # a key new in the added month was zero before it
    expected = expected[seen | (full[months[3]] != 0).to_numpy()].reset_index(drop=True)
    grown = extend(earlier.copy(), cells.read(slug, MONTHS[3:], dataset.key_columns), dataset, MONTHS[3:])
    assert (~seen & (full[months[3]] != 0).to_numpy()).any()  # some keys are new, so rows are inserted
    pd.testing.assert_frame_equal(grown, expected, check_exact=True)
    assert _bytes(grown) == _bytes(expected)


def test_a_work_area_table_reads_as_pandas_reads_it(stored, tmp_path):
    """`WorkArea.read_parquet` (columns as their own blocks, Arrow's buffers released) gives the frame
    `pd.read_parquet` gives: values, dtypes, index, column order."""
    area, _crimes = stored
    dataset = spec("lsoa")
    table = assemble(MonthlyCells(area, MONTHS).read("lsoa", MONTHS, dataset.key_columns), dataset, MONTHS)
    path = tmp_path / "t.parquet"
    area.write_parquet(path, table)
    ours, theirs = WorkArea.read_parquet(path), pd.read_parquet(path)
    pd.testing.assert_frame_equal(ours, theirs, check_exact=True)
    assert list(ours.dtypes) == list(theirs.dtypes) and ours.index.equals(theirs.index)
    # The counts are read-only views of Arrow's buffers (no copy): a write into them is refused, loudly;
    # a new column, or a copy, is a frame's own as usual.
    with pytest.raises(ValueError, match="read-only"):
        ours.iloc[0, -1] = 999
    ours["extra"] = ours.iloc[:, -1] + 1
    assert (ours["extra"] == theirs.iloc[:, -1] + 1).all()
