"""disclosed_datasets + blocking checks + release_report with a tmp work area."""

from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from metpipeline.disclosure import suppress
from metpipeline.disclosure.assets import disclosed_datasets
from metpipeline.disclosure.checks import CHECKS
from metpipeline.report.assets import release_report
from metpipeline.resources import GovernanceResource, WorkAreaResource
from metpipeline.settings import POLICY_FILE
from metpipeline.workarea import WorkArea
from metpipeline_tests.deployment import deployment
from metpipeline_tests.disclosure.synth import MONTH, write_release


def _run(tmp_path):
    resources = {"workarea": WorkAreaResource(), "governance": GovernanceResource()}
    with deployment(WORK_DIR=tmp_path, DISCLOSURE_POLICY=POLICY_FILE.default()):
        return dg.materialize(
            [disclosed_datasets, release_report, *CHECKS],
            partition_key=MONTH,
            resources=resources,
            raise_on_error=False,
        )


def test_release_passes_and_report_is_written(tmp_path):
    area = WorkArea(tmp_path)
    write_release(area)
    result = _run(tmp_path)
    assert result.success
    evals = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evals == {
        "disclosure_threshold": True,
        "disclosure_differencing_audit": True,
        "disclosure_allowlist": True,
    }
    pub = area.release_dir(MONTH, "publishable")
    ward = pd.read_csv(pub / "ward" / "MPS Ward Level Crime (most recent 24 months).csv", dtype=str)
    assert (ward == "[c]").any().any()
    tidy = pd.read_parquet(pub / "lsoa" / "lsoa-tidy.parquet")
    assert "RAPE" not in set(tidy["minor"])  # high categories withheld from the LSOA file
    for slug in ("borough", "ward", "lsoa", "flagged"):  # tidy files list non-zero and suppressed cells only
        tidy = pd.read_parquet(pub / slug / f"{slug}-tidy.parquet")
        assert len(tidy) and not (tidy["count"] == 0).any()
        assert (tidy["count"].isna() == tidy["suppressed"]).all()
        text = pd.read_csv(pub / slug / f"{slug}-tidy.csv", dtype=str, keep_default_na=False)
        assert text["count"].tolist() == tidy["count"].astype("string").fillna("[c]").tolist()
    record = WorkArea.read_json(pub / "disclosure.json")
    assert record["withheld_categories"]["lsoa"] == [{"major": "SEXUAL OFFENCES", "minor": "RAPE"}]
    html = (area.release_dir(MONTH, "report") / "report.html").read_text()
    assert "<svg" in html and "RAPE" in html and "Disclosure control" in html
    mats = {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()}
    assert mats == {"disclosed_datasets", "release_report"}


def test_publishable_files_are_identical_when_rebuilt(tmp_path):
    area = WorkArea(tmp_path)
    write_release(area)
    pub = area.release_dir(MONTH, "publishable")
    assert _run(tmp_path).success
    first = {p.relative_to(pub): p.read_bytes() for p in sorted(pub.rglob("*")) if p.is_file()}
    assert _run(tmp_path).success
    again = {p.relative_to(pub): p.read_bytes() for p in sorted(pub.rglob("*")) if p.is_file()}
    assert first == again  # no temporary file left behind, same bytes
    ward = first[Path("ward", "ward-tidy.csv")]
    assert ward.endswith(b"\n") and b"\r" not in ward


@pytest.mark.parametrize("broken", ["primary_only"])
def test_failing_blocking_check_stops_the_report(tmp_path, monkeypatch, broken):
    write_release(WorkArea(tmp_path))
    # primary only: nothing complementary, nothing left unprotectable
    monkeypatch.setattr(
        suppress, "secondary", lambda release, policy, known=None, hidden=None, secret=b"": ([], {})
    )
    result = _run(tmp_path)
    evals = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evals["disclosure_differencing_audit"] is False
    mats = {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()}
    assert "release_report" not in mats
    assert not (tmp_path / "releases" / MONTH / "report" / "report.html").exists()
