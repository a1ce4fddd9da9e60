"""Each quality rule fails on a deliberately bad frame and passes on a good one; metadata holds counts and
value summaries, never record-level rows or identifiers."""

import json

import pandas as pd
import pytest

from metpipeline.quality import extracts
from metpipeline.quality import harmonised as harmonised_rules
from metpipeline.quality.checks import (
    dataset_result,
    extract_result,
    harmonised_result,
    read_columns,
    volume_result,
)
from metpipeline.quality.gx import validate
from metpipeline_tests.disclosure.synth import MONTH, frames

COL = MONTH.replace("-", "")


def cris(n=3) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cris_key": list(range(1, n + 1)),
            "recorded_ocu": ["QK"] * n,
            "offence_code": ["058/01"] * n,
            "premises_type": ["DWELLING", None, "OTHER"][:n],
            "recorded_at": pd.to_datetime(["2024-03-01 00:00", "2024-03-15 12:00", "2024-03-31 23:59"][:n]),
            "crime_status": ["CRIME"] * n,
            **{c: [0, 1, 0][:n] for c in ["hate_race", "hate_religion", "hate_sexual_orientation"]},
            **{c: [0, 0, 1][:n] for c in ["hate_disability", "hate_transgender", "domestic_abuse"]},
            "last_modified_at": pd.to_datetime(["2024-04-01"] * n),
        }
    )


def connect(n=2) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "offence_id": [11, 12][:n],
            "occurrence_id": [1, 1][:n],
            "ho_offence_code": ["8N", "105A"][:n],
            "premises_type": ["Non-Residential", None][:n],
            # 2024-03-31 23:30 UTC is 2024-04-01 00:30 BST: April, so outside March
            "recorded_at_utc": pd.to_datetime(["2024-03-01 00:00", "2024-03-31 22:59"][:n]),
            "offence_status": ["CONFIRMED", "PENDING"][:n],
            "domestic_abuse_flag": ["Y", "N"][:n],
            "last_modified_at_utc": pd.to_datetime(["2024-04-01"] * n),
        }
    )


def _meta(result) -> str:
    return json.dumps({k: getattr(v, "value", v) for k, v in result.metadata.items()}, default=str)


EXTRACT_CASES = [
    ("cris", "key_unique", lambda f: f.assign(cris_key=[7, 7, 7])),
    ("cris", "key_not_null", lambda f: f.assign(cris_key=pd.array([None, 1, 2], dtype="Int64"))),
    ("cris", "required_not_null", lambda f: f.assign(offence_code=[None, "058/01", None])),
    ("cris", "status_vocabulary", lambda f: f.assign(crime_status=["CRIME", "FOO", "FOO"])),
    ("cris", "premises_type_vocabulary", lambda f: f.assign(premises_type=["HOUSE", None, "OTHER"])),
    ("cris", "flags_vocabulary", lambda f: f.assign(hate_race=[0, 2, 1])),
    (
        "cris",
        "recorded_in_extraction_window",
        lambda f: f.assign(recorded_at=pd.to_datetime(["2024-04-01"] * 3)),
    ),
    ("connect", "key_unique", lambda f: f.assign(offence_id=[11, 11])),
    ("connect", "status_vocabulary", lambda f: f.assign(offence_status=["CONFIRMED", "BAR"])),
    ("connect", "flags_vocabulary", lambda f: f.assign(domestic_abuse_flag=["Y", "yes"])),
    (
        "connect",
        "recorded_in_extraction_window",
        lambda f: f.assign(recorded_at_utc=pd.to_datetime(["2024-03-01 00:00", "2024-03-31 23:30"])),
    ),
]


@pytest.mark.parametrize("system, rule, breaker", EXTRACT_CASES)
def test_extract_rules(system, rule, breaker):
    good = cris() if system == "cris" else connect()
    assert extract_result(system, rule, good, MONTH).passed
    bad = extract_result(system, rule, breaker(good), MONTH)
    assert not bad.passed
    meta = _meta(bad)
    assert '"unexpected_count": 0' not in meta.split('"expectations"')[0]
    assert "0104471/23" not in meta and "0104471/23" not in (bad.description or "")  # no identifiers


def test_key_unique_reports_number_of_duplicate_keys_not_keys():
    bad = extract_result("cris", "key_unique", cris().assign(cris_key=[7, 7, 7]), MONTH)
    assert bad.metadata["duplicate_keys"].value == 1


def test_vocabulary_summary_counts_values():
    bad = extract_result(
        "cris", "status_vocabulary", cris().assign(crime_status=["CRIME", "FOO", "FOO"]), MONTH
    )
    assert "2 unexpected values: 'FOO' (2)" in bad.description


def harmonised() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "month": [MONTH] * 2,
            "mps_major": ["THEFT", "SEXUAL OFFENCES"],
            "mps_minor": ["SHOPLIFTING", "RAPE"],
            "borough_name": ["Brent", "London Heathrow and London City Airports"],
        }
    )


@pytest.mark.parametrize(
    "rule, breaker",
    [
        ("every_record_classified", lambda f: f.assign(mps_minor=[None, "RAPE"])),
        ("every_record_classified", lambda f: f.assign(mps_minor=["RAPE", "RAPE"])),  # unknown pair
        ("month_is_partition", lambda f: f.assign(month=["2024-02", MONTH])),
        ("borough_is_published", lambda f: f.assign(borough_name=["Brent", "Atlantis"])),
    ],
)
def test_harmonised_rules(rule, breaker):
    assert harmonised_result(rule, harmonised(), MONTH).passed
    assert not harmonised_result(rule, breaker(harmonised()), MONTH).passed


def _files(slug):
    f = frames(0)[slug]
    return {"24m": f}


def _ledger(f):
    counted = int(f["borough"][COL].sum())
    return {
        "counted": counted,
        "not_geocoded": {
            "ward": counted - int(f["ward"][COL].sum()),
            "lsoa": counted - int(f["lsoa"][COL].sum()),
        },
    }


@pytest.mark.parametrize("slug", ["borough", "ward", "lsoa", "flagged"])
def test_dataset_columns_and_counts(slug):
    files = _files(slug)
    assert dataset_result(slug, "columns", files, MONTH, first_month="2022-04").passed
    extra = {"24m": files["24m"].assign(note="x")}
    assert not dataset_result(slug, "columns", extra, MONTH, first_month="2022-04").passed
    assert dataset_result(slug, "counts_valid", files, MONTH).passed
    neg = files["24m"].copy()
    neg.loc[0, COL] = -1
    bad = dataset_result(slug, "counts_valid", {"24m": neg}, MONTH)
    assert not bad.passed and "'-1' (1)" in bad.description


def test_counts_valid_judges_every_distinct_value_text_or_number():
    files = _files("borough")
    text = files["24m"].astype({COL: "string"})
    text.loc[[0, 1], COL] = "[c]"
    assert dataset_result("borough", "counts_valid", {"24m": text}, MONTH).passed
    for bad_value in ("1.5", "c", "", pd.NA):
        bad = text.copy()
        bad.loc[len(bad) - 1, COL] = bad_value  # the last row: one cell among many valid ones
        assert not dataset_result("borough", "counts_valid", {"24m": bad}, MONTH).passed, bad_value


@pytest.mark.parametrize("slug", ["borough", "ward", "lsoa"])
def test_dataset_totals_reconcile(slug):
    f = frames(0)
    ledger = _ledger(f)
    assert dataset_result(slug, "totals_reconcile", {"24m": f[slug]}, MONTH, ledger).passed
    lost = f[slug].copy()
    lost.loc[0, COL] += 1
    assert not dataset_result(slug, "totals_reconcile", {"24m": lost}, MONTH, ledger).passed


def test_volume_warns_and_says_how_much_history():
    b = frames(0)["borough"]
    ok = volume_result(b, MONTH)
    assert ok.severity.value == "WARN" and "trailing 12 months" in ok.description
    spike = b.copy()
    spike[COL] = spike[COL] * 3
    warn = volume_result(spike, MONTH)
    assert not warn.passed and warn.severity.value == "WARN"
    short = volume_result(
        b.drop(columns=[c for c in b.columns if c.startswith("2022") or c.startswith("2023")]), MONTH
    )
    assert "only 2 months of history" in short.description


def _write(path, frame):
    frame.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize("system, rule, breaker", EXTRACT_CASES)
def test_extract_rules_on_the_columns_read_from_the_file(tmp_path, system, rule, breaker):
    """The checks read only the rule's columns from the file: same outcome and metadata as the whole frame."""
    good = cris() if system == "cris" else connect()
    for name, frame in (("good", good), ("bad", breaker(good))):
        path = _write(tmp_path / f"{name}.parquet", frame)
        narrow = read_columns(path, extracts.columns(system, rule))
        assert set(narrow.columns) <= set(frame.columns) and len(narrow) == len(frame)
        whole, read = (extract_result(system, rule, f, MONTH) for f in (frame, narrow))
        assert (read.passed, read.description, _meta(read)) == (whole.passed, whole.description, _meta(whole))
        assert read.passed == (name == "good")


@pytest.mark.parametrize("rule", list(harmonised_rules.RULES))
def test_harmonised_rules_on_the_columns_read_from_the_file(tmp_path, rule):
    bad = harmonised().assign(mps_minor=[None, "RAPE"], month=["2024-02", MONTH], borough_name=["X", "Brent"])
    for name, frame in (("good", harmonised()), ("bad", bad)):
        narrow = read_columns(_write(tmp_path / f"{name}.parquet", frame), harmonised_rules.COLUMNS[rule])
        assert harmonised_result(rule, narrow, MONTH).passed == (name == "good")


def test_read_columns_is_never_stale_and_leaves_out_missing_columns(tmp_path):
    path = _write(tmp_path / "m.parquet", cris())
    assert read_columns(path, ["crime_status"])["crime_status"].tolist() == ["CRIME"] * 3
    _write(path, cris().assign(crime_status=["CRIME", "FOO", "CRIME"], extra=[1, 2, 3]))
    assert read_columns(path, ["crime_status"])["crime_status"].tolist() == ["CRIME", "FOO", "CRIME"]
    _write(path, cris().drop(columns="crime_status"))
    narrow = read_columns(path, ["crime_status"])
    assert "crime_status" not in narrow.columns and len(narrow) == 3
    assert not extract_result("cris", "status_vocabulary", narrow, MONTH).passed


def test_validate_keeps_the_whole_frame_for_table_expectations():
    import great_expectations.expectations as gxe

    frame = pd.DataFrame({"a": [1, 2], "b": [3, 4]})
    ordered = gxe.ExpectTableColumnsToMatchOrderedList(column_list=["a"])
    assert not validate(frame, "t", [ordered]).success
    assert validate(frame, "t", [gxe.ExpectColumnValuesToNotBeNull(column="a")]).success
    assert not validate(frame, "t", [gxe.ExpectColumnValuesToNotBeNull(column="c")]).success
