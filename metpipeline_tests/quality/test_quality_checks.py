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


# --- a back-fill's checks over a range of months ------------------------------------------------------
RANGE = ["2024-01", "2024-02", "2024-03", "2024-04", "2024-05", "2024-06", "2024-07"]


def _in_month(frame: pd.DataFrame, month: str) -> pd.DataFrame:
    """The fixture frame moved into `month` (days 1, 15 and 28 at noon: the same month in UTC and London)."""
    days = pd.to_datetime([f"{month}-01 12:00", f"{month}-15 12:00", f"{month}-28 12:00"][: len(frame)])
    time = "recorded_at" if "recorded_at" in frame else "recorded_at_utc"
    return frame.assign(**{time: days})


def _range_frames(good: pd.DataFrame, breaker, bad_month: str, read: list[str]) -> dict[str, pd.DataFrame]:
    """Months with rows, months with none (CONNECT before the cut-over), one broken month, and one month
    whose file holds the first column the rule reads as another type (plain objects)."""
    frames = {m: _in_month(good, m) for m in RANGE}
    frames["2024-02"] = frames["2024-02"].iloc[0:0]
    frames["2024-03"] = frames["2024-03"].iloc[0:0]
    frames[bad_month] = breaker(frames[bad_month])
    frames["2024-07"] = frames["2024-07"].astype({read[0]: object})
    return frames


def _outcome(result) -> tuple:
    return result.passed, result.description, _meta(result)


@pytest.mark.parametrize("group_rows", [6, 500_000])  # two fixture months to a group, or all of them
@pytest.mark.parametrize("bad_month", ["2024-01", "2024-05"])
@pytest.mark.parametrize("system, rule, breaker", EXTRACT_CASES)
def test_a_range_of_months_is_judged_as_month_by_month(
    monkeypatch, system, rule, breaker, bad_month, group_rows
):
    """Months validated together give exactly the month-by-month result: the same months fail, for the same
    reasons, whether the broken month has neighbours with rows, without rows, or with another schema."""
    from metpipeline.quality import checks
    from metpipeline.quality.checks import per_month, per_month_grouped

    monkeypatch.setattr(checks, "GROUP_ROWS", group_rows)
    good = cris() if system == "cris" else connect()
    columns = extracts.columns(system, rule)
    month_free = rule not in extracts.MONTH_RULES

    def both(months: dict[str, pd.DataFrame]) -> tuple:
        def read(m):
            return months[m][[c for c in months[m].columns if c in columns]]

        def result_of(f, m):
            return extract_result(system, rule, f, m)

        alone = per_month(RANGE, lambda m: result_of(read(m), m))
        return alone, per_month_grouped(RANGE, read, result_of, month_free=month_free)

    for broken, failing in ((breaker, [bad_month]), (lambda f: f, [])):
        alone, grouped = both(_range_frames(good, broken, bad_month, columns))
        assert _outcome(grouped) == _outcome(alone)
        assert grouped.metadata["months_failed"].value == failing


@pytest.mark.parametrize("rule", list(harmonised_rules.RULES))
def test_a_range_of_harmonised_months_is_judged_as_month_by_month(rule):
    from metpipeline.quality.checks import per_month, per_month_grouped

    frames = {m: harmonised().assign(month=m) for m in RANGE}
    frames["2024-02"] = frames["2024-02"].iloc[0:0]
    frames["2024-05"] = frames["2024-05"].assign(
        mps_minor=[None, "RAPE"], month=["2024-04", "2024-05"], borough_name=["X", "Brent"]
    )
    read = lambda m: frames[m][harmonised_rules.COLUMNS[rule]]  # noqa: E731
    result_of = lambda f, m: harmonised_result(rule, f, m)  # noqa: E731
    alone = per_month(RANGE, lambda m: result_of(read(m), m))
    grouped = per_month_grouped(RANGE, read, result_of, month_free=rule not in harmonised_rules.MONTH_RULES)
    assert _outcome(grouped) == _outcome(alone)
    assert grouped.metadata["months_failed"].value == ["2024-05"]


def test_a_range_of_good_months_takes_fewer_validations():
    from metpipeline.quality.checks import per_month_grouped

    frames = {m: _in_month(cris(), m) for m in RANGE}
    calls = []

    def result_of(frame, month):
        calls.append(month)
        return extract_result("cris", "required_not_null", frame, month)

    result = per_month_grouped(RANGE, frames.__getitem__, result_of, month_free=True)
    assert result.passed and result.metadata["months_checked"].value == len(RANGE)
    assert len(calls) == 1


@pytest.mark.parametrize(
    "suite, rules, frame",
    [
        ("extracts", [("cris", r) for r in extracts.RULES], cris),
        ("extracts", [("connect", r) for r in extracts.RULES], connect),
        ("harmonised", [(None, r) for r in harmonised_rules.RULES], harmonised),
    ],
)
def test_rules_validated_across_months_judge_each_row_alone_and_never_name_the_month(suite, rules, frame):
    """A rule left out of its suite's MONTH_RULES is validated over joined months: it may only use
    expectations that judge each row on its own, with parameters that do not depend on the month."""
    module = extracts if suite == "extracts" else harmonised_rules
    row_wise = {"expect_column_values_to_not_be_null", "expect_column_values_to_be_in_set"}
    for system, rule in rules:
        if rule in module.MONTH_RULES:
            continue
        fn = module.RULES[rule]
        made = [fn(*((system,) if system else ()), frame(), month) for month in ("2011-01", "2025-06")]
        configs = [[e.configuration.to_json_dict() for _, exps in pairs for e in exps] for pairs in made]
        assert configs[0] == configs[1], rule
        assert {c["type"] for c in configs[0]} <= row_wise, rule


@pytest.mark.parametrize("system", ["cris", "connect", "harmonised"])
def test_a_month_holding_the_previous_months_rows_fails_in_a_range(system):
    """The rules that name the month are never judged over two months with rows: validated with the first
    month, February's file holding January's rows would pass."""
    from metpipeline.quality.checks import per_month_grouped

    if system == "harmonised":
        january = harmonised().assign(month="2024-01")
        rule = "month_is_partition"
        month_free = rule not in harmonised_rules.MONTH_RULES

        def result_of(f, m):
            return harmonised_result(rule, f, m)
    else:
        january = _in_month(cris() if system == "cris" else connect(), "2024-01")
        rule, month_free = "recorded_in_extraction_window", False

        def result_of(f, m):
            return extract_result(system, rule, f, m)

    for months in (
        {"2024-01": january, "2024-02": january},
        # CONNECT's shape: empty months before the first month with rows, which holds January's rows
        {"2024-01": january.iloc[0:0], "2024-02": january, "2024-03": january.iloc[0:0]},
    ):
        result = per_month_grouped(list(months), months.__getitem__, result_of, month_free=month_free)
        assert result.metadata["months_failed"].value == ["2024-02"]


def test_month_text_is_strftime_year_month():
    times = pd.Series(
        pd.to_datetime(
            ["2024-01-31 23:59:59", None, "1999-12-01 00:00", "2024-02-01 00:00", "2010-04-15 12:00"],
            format="ISO8601",
        ),
        name="recorded_at",
    )
    early = pd.Series(pd.to_datetime(["0001-01-05", "0999-12-31"], format="ISO8601").as_unit("s"))
    for series in (times, times.iloc[0:0], times.dropna().astype("datetime64[ns]"), early):
        pd.testing.assert_series_equal(extracts.month_text(series), series.dt.strftime("%Y-%m"))


def test_publishable_totals_read_the_release_month_of_the_24_month_file(tmp_path):
    """The publishable totals rule reads the release month's column of the 24-month file (the historical
    file, 175 months of the LSOA table, is not read): a changed count there fails, a missing column fails."""
    from metpipeline.datasets.build import datastore_file_name
    from metpipeline.quality.checks import publishable_files

    f = frames(0)
    ledger = _ledger(f)
    folder = tmp_path / "lsoa"
    folder.mkdir()
    path = folder / datastore_file_name("lsoa", "24m")
    (folder / datastore_file_name("lsoa", "historical")).write_text("not, a table\n\x00")

    def result(frame):
        frame.to_csv(path, index=False)
        return dataset_result(
            "lsoa", "totals_reconcile", publishable_files(tmp_path, "lsoa", MONTH), MONTH, ledger
        )

    assert result(f["lsoa"]).passed
    assert list(publishable_files(tmp_path, "lsoa", MONTH)["24m"].columns) == [COL]
    changed = f["lsoa"].copy()
    changed.loc[len(changed) - 1, COL] += 1
    assert not result(changed).passed
    assert not result(f["lsoa"].drop(columns=[COL])).passed
    assert publishable_files(tmp_path, "borough", MONTH) == {}


def test_a_defect_found_in_many_months_of_a_back_fill_is_said_once():
    """Undated source rows belong to no month, so every month of a back-fill reports them: the check's
    result says so once, with the months, and still says each different defect."""
    import dagster as dg

    from metpipeline.quality.checks import per_month

    months = ["2022-01", "2022-02", "2022-03", "2022-04", "2022-05"]
    undated = "2 rows of connect_offence (in no month) have no recorded_at_utc"

    def result(month: str) -> dg.AssetCheckResult:
        if month == "2022-03":
            return dg.AssetCheckResult(
                passed=False, description="unknown offence code 99/99", metadata={"rule": "r"}
            )
        if month == "2022-05":
            return dg.AssetCheckResult(passed=True, description="ok", metadata={"rule": "r"})
        return dg.AssetCheckResult(passed=False, description=undated, metadata={"rule": "r"})

    found = per_month(months, result)
    assert not found.passed
    assert found.description == (
        f"3 months (2022-01..2022-02, 2022-04): {undated}; 2022-03: unknown offence code 99/99"
    )
    assert found.description.count("connect_offence") == 1
    everywhere = per_month(months[:2], lambda m: dg.AssetCheckResult(passed=False, description=undated))
    assert everywhere.description == f"all 2 months: {undated}"
