"""Adding a fifth table is its specification, its build function, its policy and registry entries, and
nothing else: a copy of the package gets exactly those four edits ("flagged crime by ward"), and a month
released, approved and published through the command line carries the new table everywhere a table goes:
its dataset asset and checks, the disclosure control, the report, the owner's decision, the bucket (files,
data package, cover sheet with its definitions and not-geocoded figure, landing page) and the read-back."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from metpipeline.datamart.seed import seed_datamart
from metpipeline_tests.disclosure.demo_release import demo_run
from metpipeline_tests.publish.test_public_files import validate_datapackage

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PACKAGE = Path(__file__).resolve().parents[1] / "metpipeline"
MONTH = "2024-03"
SLUG, BUCKET_SLUG, TITLE = "flagged_ward", "mps-flagged-crime-by-ward", "MPS Flagged Crime by Ward"

# What a developer adds to catalogue.py: the specification and its build function.
SPEC = f'''

def flagged_ward_rows(harmonised: pd.DataFrame) -> pd.DataFrame:
    """One row per (crime, flag) with the crime's ward."""
    return flag_rows(harmonised, ("ward_name", "ward_code", "ward_borough_name"))


register(
    DatasetSpec(
        slug="{SLUG}",
        title="{TITLE}",
        keys=(
            Key("FlagType", "flag_type", True, "flag_type"),
            Key("FlagText", "flag_text", True, "flag"),
            Key("WardName", "ward_name", vocabulary="ward_name"),
            Key("WardCode", "ward_code", vocabulary="ward_code"),
            Key("LookUp_BoroughName", "ward_borough_name", vocabulary="borough"),
        ),
        tidy=(
            ("WardCode", "ward_code"),
            ("WardName", "ward_name"),
            ("LookUp_BoroughName", "borough_name"),
            ("FlagType", "flag_type"),
            ("FlagText", "flag"),
        ),
        category=("FlagType", "FlagText"),
        group=("LookUp_BoroughName",),
        geography="London electoral wards",
        bucket_slug="{BUCKET_SLUG}",
        sensitivity="special-category",
        reconciles_to=None,
        quality_rules=("columns", "counts_valid"),
        rows=flagged_ward_rows,
        description="hate crime strands and domestic abuse by ward",
        definitions=(FLAGS_DEFINITION,),
        not_geocoded="ward_code",
        part_of="flagged",
    )
)
'''
POLICY = f"""
  {SLUG}:
    action: suppress
    applies_to: all
    min_count: 1
    max_count: 2
"""
OWNERS = f"""
  {SLUG}:
    owners: [demo.owner]
    deputies: [demo.deputy]
"""


def _package_with_a_fifth_table(root: Path) -> Path:
    copy = root / "metpipeline"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "sql").symlink_to(PACKAGE.parent / "sql")  # the DataMart SQL layer, unchanged
    with open(copy / "catalogue.py", "a", encoding="utf-8") as f:
        f.write(SPEC)
    policy = (copy / "disclosure" / "policy.yaml").read_text(encoding="utf-8")
    (copy / "disclosure" / "policy.yaml").write_text(
        policy.replace("\ndatasets:\n", "\ndatasets:" + POLICY, 1), encoding="utf-8"
    )
    with open(copy / "approval" / "owners.embedded.yaml", "a", encoding="utf-8") as f:
        f.write(OWNERS)
    return root


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    root = tmp_path_factory.mktemp("fifth_table")
    code = _package_with_a_fifth_table(root / "code")
    var = root / "var"
    var.mkdir()
    seed_datamart(f"sqlite:///{var / 'datamart.sqlite'}", "2024-01", MONTH, scale=0.05, progress=False)
    _, run = demo_run(var, MONTH, "2024-01", code)
    # The run used the copy, not the installed package.
    where = subprocess.run(
        [sys.executable, "-c", "import metpipeline; print(metpipeline.__file__)"],
        cwd=var,
        env={**os.environ, "PYTHONPATH": str(code)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert str(code / "metpipeline") in where.stdout
    return var, run


def test_its_checks_ran_in_the_release_and_passed(released):
    var, _ = released
    report = json.loads((var / "work" / "releases" / MONTH / "report" / "report.json").read_text())
    outcome = {row["name"]: row["outcome"] for row in report["checks"]}
    assert outcome.get(f"{SLUG}_columns") == "pass" and outcome.get(f"{SLUG}_counts_valid") == "pass"
    assert report["counts"]["fail"] == 0
    # The disclosure control protected it as its policy says (small counts of a special category).
    disclosure = json.loads(
        (var / "work" / "releases" / MONTH / "publishable" / "disclosure.json").read_text()
    )
    assert disclosure["actions"][SLUG] == "suppress"
    assert disclosure["suppressed_cells"][SLUG]["primary"] > 0  # small counts of it were hidden


def test_its_public_files_cover_sheet_and_landing_page(released):
    var, run = released
    bucket = var / "bucket"
    latest = json.loads((bucket / "datasets" / BUCKET_SLUG / "latest.json").read_text())
    assert latest["latest"]["version"] == 1
    version = bucket / latest["latest"]["path"]
    names = {p.name for p in version.iterdir()}
    assert f"{TITLE} (most recent 24 months).csv" in names and f"{TITLE}.xlsx" in names
    assert {f"{SLUG}-tidy.csv.gz", "cover-sheet.html", "datapackage.json", "manifest.json"} <= names
    validate_datapackage(version / "datapackage.json")
    header = (version / f"{TITLE} (most recent 24 months).csv").read_text().splitlines()[0]
    assert header.startswith("FlagType,FlagText,WardName,WardCode,LookUp_BoroughName,2024")
    cover = (version / "cover-sheet.html").read_text()
    assert TITLE in cover
    assert "Flags: hate crime strands" in cover  # the definition its specification names
    ledger = json.loads((var / "work" / "reconciliation" / f"{MONTH}.json").read_text())
    assert isinstance(ledger["not_geocoded"][SLUG], int)
    assert f"Not geocoded (counted, but left out of the tables by area): {SLUG}: " in cover
    assert BUCKET_SLUG in (bucket / "index.html").read_text()
    assert f"{SLUG}: published v1" in run.stdout or BUCKET_SLUG in run.stdout
