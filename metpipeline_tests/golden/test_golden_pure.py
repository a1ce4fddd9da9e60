"""Golden test through the pure functions: DataMart → extract → harmonise → tables → CSV bytes."""

import json

import pandas as pd
import pytest
import sqlalchemy as sa

from metpipeline.datasets.build import SLUGS, WINDOWS, build_datasets, month_range
from metpipeline.datasets.render import render_csv
from metpipeline.extract.queries import extract_connect, extract_cris
from metpipeline.harmonise.month import harmonise_month
from metpipeline_tests.golden.datamart import (
    EXPECTED_DIR,
    FIRST_MONTH,
    PII_SENTINEL,
    RELEASE_MONTH,
    build_golden_datamart,
)


@pytest.fixture(scope="module")
def golden_run(tmp_path_factory):
    url = build_golden_datamart(tmp_path_factory.mktemp("golden") / "datamart.sqlite")
    engine = sa.create_engine(url)
    extracts, harmonised, ledgers = {}, [], {}
    for month in month_range(FIRST_MONTH, RELEASE_MONTH):
        cris, connect = extract_cris(engine, month), extract_connect(engine, month)
        extracts[month] = (cris, connect)
        frame, ledgers[month] = harmonise_month(month, cris, connect)
        harmonised.append(frame)
    engine.dispose()
    return extracts, pd.concat(harmonised, ignore_index=True), ledgers


@pytest.mark.parametrize("slug", SLUGS)
@pytest.mark.parametrize("window", WINDOWS)
def test_tables_match_hand_computed_csv_byte_for_byte(golden_run, slug, window):
    _, harmonised, _ = golden_run
    tables = build_datasets(harmonised, RELEASE_MONTH, FIRST_MONTH)
    expected = (EXPECTED_DIR / f"{slug}__{window}.csv").read_bytes()
    assert render_csv(tables[(slug, window)]) == expected


@pytest.mark.parametrize("month", ["2023-06", "2024-02", "2024-04", "2024-07"])
def test_reconciliation_matches_hand_computed(golden_run, month):
    _, _, ledgers = golden_run
    expected = json.loads((EXPECTED_DIR / f"reconciliation_{month}.json").read_text())
    assert ledgers[month] == expected


def test_every_month_reconciles_and_totals_match(golden_run):
    extracts, harmonised, ledgers = golden_run
    for month, ledger in ledgers.items():
        cris, connect = extracts[month]
        assert ledger["systems"]["CRIS"]["extracted"] == len(cris)
        assert ledger["systems"]["CONNECT"]["extracted"] == len(connect)
        assert ledger["counted"] == int((harmonised["month"] == month).sum())
    # 21 CRIS + 28 CONNECT fixture rows; offence 209 is November, outside the golden months.
    assert sum(x["systems"]["CRIS"]["extracted"] for x in ledgers.values()) == 21
    assert sum(x["systems"]["CONNECT"]["extracted"] for x in ledgers.values()) == 27
    assert len(harmonised) == 34


def test_migrated_crime_counted_once_in_its_original_month(golden_run):
    _, harmonised, _ = golden_run
    jan = harmonised[harmonised["month"] == "2024-01"]
    assert list(jan["system"]) == ["CONNECT"]  # 0000014/24 counted once, from CONNECT


def test_no_identifier_timestamp_or_pii_reaches_harmonised_output(golden_run):
    extracts, harmonised, _ = golden_run
    forbidden = {
        "cris_ref",
        "offence_id",
        "occurrence_id",
        "recorded_at",
        "recorded_at_utc",
        "legacy_cris_ref",
    }
    assert not forbidden & set(harmonised.columns)
    for cris, connect in extracts.values():
        for frame in (cris, connect, harmonised):
            text = frame.astype(str).to_csv()
            assert PII_SENTINEL not in text
            assert "victim_name" not in frame.columns and "address_text" not in frame.columns
