"""Allow-list scan: identifiers, dates, coordinates, free text, extra columns rejected by file and column."""

import pandas as pd
import pytest

from metpipeline.disclosure.allowlist import scan_publishable
from metpipeline.disclosure.policy import load_policy
from metpipeline.settings import POLICY_FILE

POLICY = load_policy(POLICY_FILE.default())
NAME = "MPS Borough Level Crime (most recent 24 months).csv"


def _good() -> pd.DataFrame:
    return pd.DataFrame(
        {"MajorText": ["THEFT"], "MinorText": ["SHOPLIFTING"], "BoroughName": ["Brent"], "202403": ["12"]}
    )


def _scan(tmp_path, frame) -> list[str]:
    (tmp_path / "borough").mkdir(exist_ok=True)
    frame.to_csv(tmp_path / "borough" / NAME, index=False)
    return scan_publishable(tmp_path, POLICY)


def test_good_file_passes(tmp_path):
    assert _scan(tmp_path, _good()) == []


@pytest.mark.parametrize(
    "column, value, shape",
    [
        ("BoroughName", "0104471/23", "CRIS reference"),
        ("BoroughName", "01/123456/24", "CONNECT reference"),
        ("BoroughName", "1987-04-02", "date"),
        ("BoroughName", "51.507351", "coordinate"),
        ("MinorText", "victim followed home from the station", "free text"),
        ("202403", "0104471/23", "CRIS reference"),
    ],
)
def test_rejected_values_name_file_and_column(tmp_path, column, value, shape):
    bad = _good()
    bad[column] = [value]
    problems = _scan(tmp_path, bad)
    assert len(problems) == 1
    assert NAME in problems[0] and repr(column) in problems[0] and shape in problems[0]
    assert value not in problems[0]  # never echo the value: it may be an identifier


def test_extra_column_rejected(tmp_path):
    bad = _good().assign(victim_dob=["1987-04-02"])
    problems = _scan(tmp_path, bad)
    assert any(NAME in p and "victim_dob" in p for p in problems)


def test_unknown_file_rejected(tmp_path):
    (tmp_path / "borough").mkdir()
    (tmp_path / "borough" / "notes.csv").write_text("a\n1\n")
    assert scan_publishable(tmp_path, POLICY) == [
        "borough/notes.csv: file not allowed in a publishable folder"
    ]


def test_a_file_larger_than_a_block_is_judged_in_every_block(tmp_path, monkeypatch):
    """Files are read a block at a time (bounded memory): a value deep in the file is still found, and
    the count in the message adds up every block's."""
    import metpipeline.disclosure.allowlist as allowlist

    monkeypatch.setattr(allowlist, "BATCH_BYTES", 4096)
    rows = 20_000  # about 0.7 MB of CSV: well over a hundred blocks
    big = pd.concat([_good()] * rows, ignore_index=True)
    assert _scan(tmp_path, big) == []
    big.loc[[3, rows // 2, rows - 1], "BoroughName"] = "0104471/23"
    problems = _scan(tmp_path, big)
    assert problems == [
        f"borough/{NAME}: column 'BoroughName': 3 values not allowed (shaped like a CRIS reference)"
    ]


def test_a_tidy_parquet_file_is_judged_a_row_group_at_a_time(tmp_path, monkeypatch):
    import metpipeline.disclosure.allowlist as allowlist

    monkeypatch.setattr(allowlist, "BATCH_ROWS", 1000)
    n = 5000
    tidy = pd.DataFrame(
        {
            "month": ["2024-03"] * n,
            "borough_name": ["Brent"] * n,
            "major": ["THEFT"] * n,
            "minor": ["SHOPLIFTING"] * n,
            "count": pd.array([3] * n, dtype="Int64"),
            "suppressed": [False] * n,
        }
    )
    (tmp_path / "borough").mkdir()
    tidy.to_parquet(tmp_path / "borough" / "borough-tidy.parquet", index=False, row_group_size=1000)
    assert scan_publishable(tmp_path, POLICY) == []
    tidy.loc[n - 1, "count"] = pd.NA  # a null count where the cell is not suppressed, in the last group
    tidy.to_parquet(tmp_path / "borough" / "borough-tidy.parquet", index=False, row_group_size=1000)
    problems = scan_publishable(tmp_path, POLICY)
    assert len(problems) == 1 and "'count': 1 values not allowed" in problems[0]


def _tidy_parquet(tmp_path, **changes) -> list[str]:
    """A tidy Parquet file of 3 rows, with `changes` (column -> values) applied, scanned."""
    tidy = pd.DataFrame(
        {
            "month": ["2024-03"] * 3,
            "borough_name": ["Brent", "Camden", "Brent"],
            "major": ["THEFT"] * 3,
            "minor": ["SHOPLIFTING"] * 3,
            "count": pd.array([3, None, 0], dtype="Int64"),
            "suppressed": [False, True, False],
        }
    )
    for column, values in changes.items():
        tidy[column] = values
    (tmp_path / "borough").mkdir(exist_ok=True)
    tidy.to_parquet(tmp_path / "borough" / "borough-tidy.parquet", index=False)
    return scan_publishable(tmp_path, POLICY)


@pytest.mark.parametrize(
    "changes, column, bad",
    [
        ({}, None, 0),
        ({"count": pd.array([3, None, -2], dtype="Int64")}, "count", 1),  # negative
        ({"count": pd.array([3, None, None], dtype="Int64")}, "count", 1),  # null, not suppressed
        ({"count": [3.0, None, 1.5]}, "count", 1),  # a fraction (floats: judged through pandas)
        ({"count": ["3", None, "x"]}, "count", 1),  # text counts
        ({"suppressed": ["no", "yes", "no"]}, "suppressed", 3),  # not booleans
        ({"borough_name": ["Brent", "0104471/23", "0104471/23"]}, "borough_name", 2),  # an identifier
        ({"borough_name": pd.Categorical(["Brent", "51.507351", "Brent"])}, "borough_name", 1),
        ({"month": ["2024-03", None, "2024-13"]}, "month", 2),  # missing and impossible months
    ],
)
def test_every_parquet_value_is_judged_whatever_its_type(tmp_path, changes, column, bad):
    """Parquet text is judged by its dictionary and integer counts in Arrow; any other type through
    pandas: each kind of bad value is counted, in the column where it is."""
    problems = _tidy_parquet(tmp_path, **changes)
    if column is None:
        assert problems == []
    else:
        assert len(problems) == 1, problems
        assert problems[0].startswith(f"borough/borough-tidy.parquet: column {column!r}: {bad} values not")


def test_problems_are_listed_in_path_order_whichever_file_is_scanned_first(tmp_path):
    """Files are scanned two at a time, the largest first: the problems still come in path order."""
    bad = _good()
    bad["BoroughName"] = ["0104471/23"]
    big = pd.concat([bad] * 5000, ignore_index=True)  # the largest file, scanned first, listed second
    (tmp_path / "borough").mkdir()
    big.to_csv(tmp_path / "borough" / NAME, index=False)
    bad.to_csv(tmp_path / "borough" / NAME.replace("most recent 24 months", "Historical"), index=False)
    (tmp_path / "ward").mkdir()
    (tmp_path / "ward" / "notes.csv").write_text("a\n1\n")
    problems = scan_publishable(tmp_path, POLICY)
    assert [p.split(":")[0] for p in problems] == [
        "borough/MPS Borough Level Crime (Historical).csv",
        f"borough/{NAME}",
        "ward/notes.csv",
    ]
    assert "1 values not allowed" in problems[0] and "5000 values not allowed" in problems[1]
