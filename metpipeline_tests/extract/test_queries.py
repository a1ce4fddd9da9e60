"""Extraction: month assignment, contract-column and reachability errors, change detection, no PII."""

import pandas as pd
import pytest
import sqlalchemy as sa

from metpipeline.db import DataMartUnreachable
from metpipeline.extract.queries import (
    CONNECT_COLUMNS,
    CRIS_COLUMNS,
    ContractViolation,
    extract_connect,
    extract_cris,
    london_month,
    months_changed_since,
    sql_window,
    utc_to_london,
)
from metpipeline.resources import DataMartResource
from metpipeline_tests.deployment import deployment
from metpipeline_tests.golden.datamart import build_golden_datamart, execute


@pytest.fixture(scope="module")
def golden_url(tmp_path_factory):
    return build_golden_datamart(tmp_path_factory.mktemp("dm") / "datamart.sqlite")


def test_utc_to_london_month_edges():
    utc = pd.Series(
        pd.to_datetime(["2024-03-31 00:30", "2024-03-31 23:30", "2024-10-27 00:30", "2024-10-31 23:30"])
    )
    assert list(london_month(utc_to_london(utc))) == ["2024-03", "2024-04", "2024-10", "2024-10"]


def test_sql_window_is_widened_by_a_day():
    w = sql_window("2024-12")
    assert (str(w["window_start"]), str(w["window_end"])) == ("2024-11-30 00:00:00", "2025-01-02 00:00:00")


def test_extracts_have_contract_columns_and_exact_month(golden_url):
    engine = sa.create_engine(golden_url)
    cris, connect = extract_cris(engine, "2024-02"), extract_connect(engine, "2024-03")
    assert list(cris.columns) == CRIS_COLUMNS and list(connect.columns) == CONNECT_COLUMNS
    assert set(london_month(cris["recorded_at"])) == {"2024-02"}
    # 2024-03-31 23:30 UTC is April in London; 00:30 UTC the same day is still March.
    assert list(connect["offence_id"]) == [203]
    assert list(extract_connect(engine, "2024-10")["offence_id"]) == [206, 207, 208]
    # The T-separated DATETIME text another driver writes is read too.
    assert len(extract_cris(engine, "2023-09")) == 1
    feb = extract_connect(engine, "2024-02").set_index("offence_id")
    assert feb.loc[105, "legacy_ref_duplicate"] and not feb.loc[104, "legacy_ref_duplicate"]
    assert feb.loc[104, "migrated_from_cris"] and not feb.loc[202, "migrated_from_cris"]
    assert cris["migrated_to_connect"].any()
    # The CRIS reference never reaches the work area: a surrogate number stands in for it.
    assert "cris_ref" not in cris.columns and cris["cris_key"].is_unique
    assert "/24" not in cris.to_csv(index=False).replace("2024", "")


def test_renamed_contract_column_is_named(tmp_path):
    url = build_golden_datamart(tmp_path / "dm.sqlite")
    execute(url, "ALTER TABLE connect_offence RENAME COLUMN ho_offence_code TO ho_code;")
    with pytest.raises(ContractViolation, match=r"connect_offence has no column ho_offence_code"):
        extract_connect(sa.create_engine(url), "2024-03")


def test_missing_contract_table_is_named(tmp_path):
    url = build_golden_datamart(tmp_path / "dm.sqlite")
    execute(url, "DROP TABLE connect_location;")
    with pytest.raises(ContractViolation, match=r"table connect_location is missing"):
        extract_cris(sa.create_engine(url), "2024-03")


def test_unreachable_datamart_names_redacted_url():
    url = "postgresql+psycopg://reader:s3cret-pw@127.0.0.1:1/datamart"
    with deployment(DATAMART_URL=url), pytest.raises(DataMartUnreachable) as err:
        DataMartResource().engine()
    assert "reader:***@127.0.0.1:1/datamart" in str(err.value)
    assert "s3cret-pw" not in str(err.value)


def test_months_changed_since_reports_revised_months(tmp_path):
    url = build_golden_datamart(tmp_path / "dm.sqlite")
    engine = sa.create_engine(url)
    marks = {"CRIS": "2024-11-05T00:00:00", "CONNECT": "2024-11-05T00:00:00"}
    assert months_changed_since(engine, marks) == set()
    execute(
        url, "UPDATE connect_offence SET last_modified_at_utc = '2024-12-01 00:00:00' WHERE offence_id = 204;"
    )
    execute(
        url,
        "UPDATE cris_crime_report SET last_modified_at = '2024-12-01 00:00:00' "
        "WHERE cris_ref = '0000003/22';",
    )
    assert months_changed_since(engine, marks) == {"2024-04", "2022-10"}
    assert "2024-02" in months_changed_since(engine, {"CRIS": None, "CONNECT": None})


def test_sql_files_never_name_pii_columns():
    from metpipeline.db import SQL_DIR

    pii = ("victim_name", "victim_dob", "mo_text", "address_text", "latitude", "longitude", "easting",
           "northing", "connect_person", "connect_offence_person", "occurrence_ref")  # fmt: skip
    for path in (SQL_DIR / "extract").glob("*.sql"):
        body = "\n".join(line.split("--")[0] for line in path.read_text().splitlines()).lower()
        for column in pii:
            assert column not in body, (path.name, column)


def test_extraction_needs_no_secondary_index(golden_url, tmp_path):
    """The contract promises no secondary index. On a copy of the golden DataMart with every one dropped,
    no extract query plans a correlated subquery (a scan of a table per row: quadratic on SQLite), and every
    month extracts exactly what the indexed DataMart gives."""
    import shutil
    import sqlite3
    from pathlib import Path

    from metpipeline.db import make_engine

    source = Path(golden_url.removeprefix("sqlite:///"))
    bare = tmp_path / "no_index.sqlite"
    shutil.copyfile(source, bare)
    with sqlite3.connect(bare) as conn:
        indexes = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        ]
        assert indexes, "the golden DataMart has secondary indexes to drop"
        for name in indexes:
            conn.execute(f"DROP INDEX {name}")
        sql_dir = Path(__file__).resolve().parents[2] / "sql" / "extract"
        params = {k: str(v) for k, v in sql_window("2024-02").items()}
        for name in ("cris_offences.sql", "connect_offences.sql"):
            text = (sql_dir / name).read_text().replace("dm.", "")
            plan = " | ".join(str(r[-1]) for r in conn.execute(f"EXPLAIN QUERY PLAN {text}", params))
            assert "CORRELATED" not in plan, f"{name}: {plan}"
    indexed, unindexed = make_engine(golden_url), make_engine(f"sqlite:///{bare}")
    for month in ("2023-06", "2024-02", "2024-07"):
        for extract in (extract_cris, extract_connect):
            a, b = extract(indexed, month), extract(unindexed, month)
            pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def test_source_state_is_the_watermark_and_the_undated_rows_with_or_without_indexes(tmp_path):
    """One pass per table gives what the two questions asked apart give: the latest modification time and
    the rows with no recorded time (a DataMart outside the contract may allow them; they block a release)."""
    import sqlite3

    from metpipeline.db import SQL_DIR
    from metpipeline.extract.queries import source_state
    from metpipeline_tests.golden.datamart import GOLDEN_DIR

    path = tmp_path / "dm.sqlite"
    ddl = (SQL_DIR / "datamart" / "sqlite.sql").read_text(encoding="utf-8")
    ddl = ddl.replace("recorded_at DATETIME NOT NULL", "recorded_at DATETIME").replace(
        "recorded_at_utc DATETIME2 NOT NULL", "recorded_at_utc DATETIME2"
    )
    with sqlite3.connect(path) as conn:
        conn.executescript(ddl)
        conn.executescript((GOLDEN_DIR / "datamart.sql").read_text(encoding="utf-8"))
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    assert source_state(engine, "CRIS").undated == source_state(engine, "CONNECT").undated == 0
    execute(url, "UPDATE cris_crime_report SET recorded_at = NULL WHERE cris_ref = '0000003/22';")
    execute(url, "UPDATE connect_offence SET recorded_at_utc = NULL WHERE offence_id IN (204, 205);")
    execute(
        url, "UPDATE connect_offence SET last_modified_at_utc = '2031-01-02 03:04:05' WHERE offence_id = 206;"
    )
    expected = {
        "CRIS": (pd.read_sql("SELECT MAX(last_modified_at) AS m FROM cris_crime_report", engine)["m"][0], 1),
        "CONNECT": ("2031-01-02 03:04:05", 2),
    }
    for drop_indexes in (False, True):
        if drop_indexes:
            with sqlite3.connect(path) as conn:
                query = "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
                for (name,) in conn.execute(query).fetchall():
                    conn.execute(f"DROP INDEX {name}")
        for system, (watermark, undated) in expected.items():
            state = source_state(engine, system)
            assert (state.watermark, state.undated) == (pd.Timestamp(watermark).isoformat(), undated), system


def test_months_after_the_latest_recording_are_extracted_without_a_query(tmp_path):
    """CRIS after the cut-over: the state read before extraction gives the latest recording time, and a
    month whose window starts after its day is empty without asking (on a DataMart without an index on the
    recording time, asking is a scan of the whole table). A late row moves the latest time and is found."""
    from metpipeline.extract.queries import after_latest, source_state

    url = build_golden_datamart(tmp_path / "dm.sqlite")
    engine = sa.create_engine(url)
    state = source_state(engine, "CRIS")
    assert state.latest_recorded == "2024-03-02T10:00:00"  # the golden file's one report after the cut-over
    for month in ("2024-03", "2024-07"):
        asked = extract_cris(engine, month)
        told = extract_cris(engine, month, latest_recorded=state.latest_recorded)
        pd.testing.assert_frame_equal(asked, told)  # the same frame, dtypes included
        assert after_latest(month, state.latest_recorded) == (month == "2024-07")
    # Not asked: with the table gone, the month after the latest extracts (empty); the month before fails.
    execute(url, "ALTER TABLE cris_crime_report RENAME TO cris_gone;")
    engine.dispose()
    assert extract_cris(engine, "2024-07", checked=True, latest_recorded=state.latest_recorded).empty
    with pytest.raises(ContractViolation, match="cris_crime_report is missing"):
        extract_cris(engine, "2024-03", checked=True, latest_recorded=state.latest_recorded)
    execute(url, "ALTER TABLE cris_gone RENAME TO cris_crime_report;")
    # A report recorded late (after the cut-over): the state sees it, and its month is asked for.
    execute(
        url, "UPDATE cris_crime_report SET recorded_at = '2024-07-15 12:00:00' WHERE cris_ref = '0000003/22';"
    )
    late = source_state(engine, "CRIS").latest_recorded
    assert late == "2024-07-15T12:00:00"
    assert len(extract_cris(engine, "2024-07", latest_recorded=late)) == 1


def test_after_latest_compares_days_whatever_the_text_form():
    from metpipeline.extract.queries import after_latest

    # 2024-03's window starts 2024-02-29; a latest time on that day (or later) must not skip it.
    assert not after_latest("2024-03", "2024-02-29T23:59:59")
    assert not after_latest("2024-03", "2024-02-29T00:00:00")
    assert after_latest("2024-03", "2024-02-28T23:59:59")
    assert not after_latest("2024-03", None)  # an empty table's state: ask


def test_a_report_recorded_after_the_state_read_is_extracted_next_release(tmp_path):
    """The race the skip opens: a report lands in a month after the latest recording time between the state
    read and the month's extraction. This extraction misses it; the watermark read in the same pass marks
    its month as changed, so the next release extracts it."""
    from metpipeline.extract.queries import after_latest, source_state

    url = build_golden_datamart(tmp_path / "dm.sqlite")
    engine = sa.create_engine(url)
    state = source_state(engine, "CRIS")
    assert after_latest("2024-07", state.latest_recorded)
    execute(
        url,
        "UPDATE cris_crime_report SET recorded_at = '2024-07-15 12:00:00', "
        "last_modified_at = '2031-01-01 00:00:00' WHERE cris_ref = '0000003/22';",
    )
    assert extract_cris(engine, "2024-07", latest_recorded=state.latest_recorded).empty  # missed now
    marks = {"CRIS": state.watermark, "CONNECT": "9999-12-31T00:00:00"}
    assert "2024-07" in months_changed_since(engine, marks)  # and found next time
    assert (
        len(extract_cris(engine, "2024-07", latest_recorded=source_state(engine, "CRIS").latest_recorded))
        == 1
    )
