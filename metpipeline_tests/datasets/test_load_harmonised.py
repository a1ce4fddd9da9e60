"""The dataset assets read only the columns the tables need, as categoricals; the tables are the same."""

import io

import pandas as pd

from metpipeline.datasets.assets import COLUMNS, load_harmonised
from metpipeline.datasets.build import SLUGS, WINDOWS, build_table, window_months
from metpipeline.workarea import WorkArea


def _month(month: str, n: int) -> pd.DataFrame:
    boroughs = ["Westminster", "Camden", "Unknown"]
    return pd.DataFrame(
        {
            "month": [month] * n,
            "system": ["CONNECT"] * n,
            "ho_code": ["105A"] * n,
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
            "premises_defaulted": [False] * n,
        }
    ).astype({c: "string" for c in ("month", "ward_code", "ward_name", "lsoa_code", "lsoa_name")})


def _bytes(table: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    table.to_parquet(buf, index=False)
    return buf.getvalue()


def test_tables_from_the_categorical_read_are_byte_identical(tmp_path):
    area = WorkArea(tmp_path)
    months = ["2022-01", "2022-02", "2022-03"]
    frames = {m: _month(m, 40 + i) for i, m in enumerate(months)}
    for m, frame in frames.items():
        path = area.harmonised_path(m)
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(path, index=False)
    whole = pd.concat(frames.values(), ignore_index=True)
    loaded = load_harmonised(area, "2022-03", "2022-01")
    assert list(loaded.columns) == COLUMNS
    assert isinstance(loaded["lsoa_name"].dtype, pd.CategoricalDtype)
    for slug in SLUGS:
        for window in WINDOWS:
            window_ = window_months("2022-03", window, "2022-01")
            expected = build_table(whole, slug, window_)
            assert _bytes(build_table(loaded, slug, window_)) == _bytes(expected), (slug, window)


def test_a_rewritten_month_is_read_again(tmp_path):
    area = WorkArea(tmp_path)
    path = area.harmonised_path("2022-01")
    path.parent.mkdir(parents=True, exist_ok=True)
    _month("2022-01", 10).to_parquet(path, index=False)
    assert len(load_harmonised(area, "2022-01", "2022-01")) == 10
    _month("2022-01", 13).to_parquet(path, index=False)
    assert len(load_harmonised(area, "2022-01", "2022-01")) == 13
