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
