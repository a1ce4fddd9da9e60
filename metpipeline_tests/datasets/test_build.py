"""Datastore tables: windows, columns, zero rows, sorting; tidy long form; CSV rendering."""

import pandas as pd

from metpipeline.datasets.build import build_table, datastore_file_name, window_months
from metpipeline.datasets.render import render_csv, render_tidy_csv
from metpipeline.datasets.tidy import to_tidy


def _crime(month, borough="Westminster", minor="VIOLENCE WITHOUT INJURY", ward=None, **flags):
    row = {
        "month": month, "system": "CONNECT", "ho_code": "105A", "mps_major": "violence against the person",
        "mps_minor": minor, "borough_name": borough, "ward_code": ward, "ward_name": ward and "Little Venice",
        "ward_borough_name": ward and "Westminster", "lsoa_code": None, "lsoa_name": None,
        "lsoa_borough_name": None, "hate_race": False, "hate_religion": False,
        "hate_sexual_orientation": False, "hate_disability": False, "hate_transgender": False,
        "domestic_abuse": False, "premises_defaulted": False,
    }  # fmt: skip
    row.update(flags)
    return row


def test_windows():
    assert window_months("2024-10", "24m", "2022-01")[0] == "2022-11"
    assert len(window_months("2024-10", "24m", "2022-01")) == 24
    assert window_months("2024-10", "historical", "2022-01") == [f"2022-{m:02d}" for m in range(1, 11)]
    assert window_months("2022-06", "24m", "2022-01") == [f"2022-{m:02d}" for m in range(1, 7)]
    assert window_months("2022-06", "historical", "2022-01") == []


def test_file_names():
    assert datastore_file_name("borough", "24m") == "MPS Borough Level Crime (most recent 24 months).csv"
    assert datastore_file_name("flagged", "historical") == "MPS Flagged Crime by Borough (Historical).csv"


def test_borough_table_columns_upper_case_zero_rows_and_order():
    h = pd.DataFrame(
        [_crime("2024-01"), _crime("2024-02"), _crime("2024-02", "Camden"), _crime("2023-01", "Barnet")]
    )
    t = build_table(h, "borough", ["2024-01", "2024-02"])
    assert list(t.columns) == ["MajorText", "MinorText", "BoroughName", "202401", "202402"]
    # Barnet's only crime is outside the window: the row is left out.
    assert t["BoroughName"].tolist() == ["Camden", "Westminster"]
    assert t["MajorText"].unique().tolist() == ["VIOLENCE AGAINST THE PERSON"]
    assert t[["202401", "202402"]].to_numpy().tolist() == [[0, 1], [1, 1]]
    assert str(t["202401"].dtype) == "int64"


def test_ward_table_leaves_out_not_geocoded():
    h = pd.DataFrame([_crime("2024-01", ward="E05013799"), _crime("2024-01")])
    t = build_table(h, "ward", ["2024-01"])
    assert t.to_dict("records") == [
        {"MajorText": "VIOLENCE AGAINST THE PERSON", "MinorText": "VIOLENCE WITHOUT INJURY",
         "WardName": "Little Venice", "WardCode": "E05013799", "LookUp_BoroughName": "Westminster",
         "202401": 1}
    ]  # fmt: skip


def test_flagged_table_and_empty_window():
    h = pd.DataFrame([_crime("2024-01", hate_race=True, hate_transgender=True, domestic_abuse=True)])
    t = build_table(h, "flagged", ["2024-01"])
    assert t[["FlagType", "FlagText"]].values.tolist() == [
        ["DOMESTIC ABUSE", "DOMESTIC ABUSE"], ["HATE CRIME", "RACE"], ["HATE CRIME", "TRANSGENDER"],
    ]  # fmt: skip
    empty = build_table(h, "flagged", [])
    assert list(empty.columns) == ["FlagType", "FlagText", "BoroughName"] and len(empty) == 0


def test_tidy_handles_suppressed_cells_and_renders():
    wide = pd.DataFrame(
        {"MajorText": ["THEFT"], "MinorText": ["SHOPLIFTING"], "BoroughName": ["Camden"],
         "202401": ["[c]"], "202402": [12]}
    )  # fmt: skip
    tidy = to_tidy(wide, "borough")
    assert list(tidy.columns) == ["month", "borough_name", "major", "minor", "count", "suppressed"]
    assert tidy["month"].tolist() == ["2024-01", "2024-02"]
    assert tidy["count"].tolist()[1] == 12 and pd.isna(tidy["count"].tolist()[0])
    assert str(tidy["count"].dtype) == "Int64" and tidy["suppressed"].tolist() == [True, False]
    assert render_tidy_csv(tidy) == (
        b"month,borough_name,major,minor,count\n2024-01,Camden,THEFT,SHOPLIFTING,[c]\n"
        b"2024-02,Camden,THEFT,SHOPLIFTING,12\n"
    )


def test_tidy_omits_zero_cells_but_keeps_suppressed():
    wide = pd.DataFrame(
        {"MajorText": ["THEFT", "THEFT"], "MinorText": ["OTHER THEFT", "SHOPLIFTING"],
         "BoroughName": ["Camden", "Camden"], "202401": [0, "[c]"], "202402": [5, 0]}
    )  # fmt: skip
    tidy = to_tidy(wide, "borough")
    assert tidy[["month", "minor"]].values.tolist() == [
        ["2024-01", "SHOPLIFTING"],
        ["2024-02", "OTHER THEFT"],
    ]
    assert tidy["suppressed"].tolist() == [True, False] and tidy["count"].tolist()[1] == 5
    assert render_tidy_csv(tidy) == (
        b"month,borough_name,major,minor,count\n2024-01,Camden,THEFT,SHOPLIFTING,[c]\n"
        b"2024-02,Camden,THEFT,OTHER THEFT,5\n"
    )


def test_render_is_lf_utf8_without_index():
    df = pd.DataFrame({"BoroughName": ["Hammersmith and Fulham"], "202401": [3]})
    assert render_csv(df) == b"BoroughName,202401\nHammersmith and Fulham,3\n"
    assert b"\r" not in render_csv(df)
