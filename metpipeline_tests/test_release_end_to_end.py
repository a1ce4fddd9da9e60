"""A whole release on a seeded DataMart, through the real CLI against a real (temporary) Dagster instance.

One small DataMart (2 % of MPS volumes, 2024-01..2024-04: CRIS, the cut-over, CONNECT) is seeded with a
unique marker in every PII value. The `metpipeline demo` command back-fills, releases 2024-04, approves as
the embedded demo owner and publishes to a local bucket. Then:
- the counts hold together (borough total = counted; ward and LSOA totals + not geocoded = counted);
- the reconciliation holds for every back-filled month;
- the canary: no PII marker, CRIS or CONNECT reference, coordinate or 1901 sentinel date of birth appears
  in any output file, the command's log, or the Dagster event log.
A second DataMart seeded with --defects must stop at the right check with an actionable message.
"""

import gzip
import os
import re
import sqlite3
import subprocess
import sys
import urllib.parse
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

from metpipeline.datamart.seed import seed_datamart
from metpipeline_tests.publish.test_public_files import validate_datapackage

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
MARKER = "CANARY7Q"
MONTH = "2024-04"


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("METPIPELINE_", "DAGSTER_"))}
    env.update(
        METPIPELINE_VAR_DIR=str(tmp / "var"),
        METPIPELINE_FIRST_MONTH="2024-01",
        DAGSTER_HOME=str(tmp / "var" / "dagster"),
    )
    return env


def _cli(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "metpipeline", *args],
        cwd=REPO,
        env=_env(tmp),
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("release")
    (tmp / "var").mkdir()
    seed_datamart(
        f"sqlite:///{tmp / 'var' / 'datamart.sqlite'}",
        "2024-01",
        MONTH,
        scale=0.02,
        pii_marker=MARKER,
        progress=False,
    )
    run = _cli(tmp, "demo", "--month", MONTH)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return tmp, run


def test_counts_hold_together_and_every_month_reconciles(released):
    tmp, _ = released
    work = tmp / "var" / "work"
    for month in ("2024-01", "2024-02", "2024-03", MONTH):
        ledger = pd.read_json(work / "reconciliation" / f"{month}.json", typ="series")
        for system, figures in ledger["systems"].items():
            assert figures["counted"] + sum(figures["excluded"].values()) == figures["extracted"], (
                month,
                system,
            )
    recon = pd.read_json(work / "reconciliation" / f"{MONTH}.json", typ="series")
    pub = work / "releases" / MONTH / "counts"
    col = MONTH.replace("-", "")
    borough = pd.read_parquet(pub / "borough__24m.parquet")
    ward = pd.read_parquet(pub / "ward__24m.parquet")
    lsoa = pd.read_parquet(pub / "lsoa__24m.parquet")
    assert borough[col].sum() == recon["counted"] > 0
    assert ward[col].sum() + recon["not_geocoded"]["ward"] == recon["counted"]
    assert lsoa[col].sum() + recon["not_geocoded"]["lsoa"] == recon["counted"]


def test_published_versions_exist(released):
    tmp, run = released
    bucket = tmp / "var" / "bucket"
    for slug in (
        "mps-borough-level-crime",
        "mps-ward-level-crime",
        "mps-lsoa-level-crime",
        "mps-flagged-crime",
    ):
        assert (bucket / "datasets" / slug / "latest.json").is_file(), slug
        version = bucket / "datasets" / slug / MONTH / "v1"
        assert list(version.glob("*.csv")), slug
        assert list(version.glob("*.xlsx")) and list(version.glob("*.csv.gz")), slug
        validate_datapackage(version / "datapackage.json")  # Data Package v2, every resource (frictionless)
    assert (bucket / "catalog.json").is_file()
    assert "published v1" in run.stdout


IDENTIFYING = {
    "PII marker": re.compile(MARKER),
    "CRIS reference": re.compile(r"\b\d{7}/\d{2}\b"),
    "CONNECT reference": re.compile(r"\b\d{2}/\d{6}/\d{2}\b"),
    "coordinate": re.compile(r"\b5[01]\.\d{4,6}\b|-0\.\d{4,6}\b"),
    "sentinel date of birth": re.compile(r"\b1901-\d{2}-\d{2}\b"),
}


def _leaks(text: str) -> list[str]:
    return [name for name, pattern in IDENTIFYING.items() if pattern.search(text)]


def test_canary_nothing_identifying_anywhere(released):
    tmp, run = released
    var = tmp / "var"
    # The DataMart really holds the markers (else the test proves nothing).
    with sqlite3.connect(var / "datamart.sqlite") as conn:
        (victims,) = conn.execute(
            "SELECT COUNT(*) FROM cris_crime_report WHERE victim_name LIKE ?", (f"%{MARKER}%",)
        ).fetchone()
    assert victims > 0
    scanned = 0
    for root in (var / "work", var / "bucket"):
        for path in root.rglob("*"):
            if not path.is_file():
                continue
            if path.suffix == ".parquet":
                text = pd.read_parquet(path).to_csv(index=False)
            elif path.suffix == ".gz":  # the tidy CSV, compressed: read what a reader gets
                text = gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace")
            elif path.suffix == ".xlsx":  # a zip of XML parts: every part's text
                with zipfile.ZipFile(path) as book:
                    text = "\n".join(book.read(n).decode("utf-8", "replace") for n in book.namelist())
            else:
                text = path.read_bytes().decode("utf-8", errors="replace")
            assert not _leaks(text), f"{path.relative_to(var)} contains {_leaks(text)}"
            scanned += 1
    assert scanned > 50
    assert not _leaks(run.stdout + run.stderr), "the command's output leaks"
    # The Dagster event log: every event of every run, as stored.
    with sqlite3.connect(var / "dagster" / "history" / "runs.db") as conn:
        run_ids = [r[0] for r in conn.execute("SELECT run_id FROM runs")]
    assert run_ids
    for db in (var / "dagster" / "history" / "runs").glob("*.db"):
        with sqlite3.connect(db) as conn:
            events = "\n".join(r[0] for r in conn.execute("SELECT event FROM event_logs"))
        assert not _leaks(events), f"event log {db.name} contains {_leaks(events)}"


def test_defects_stop_the_release_at_the_right_check(tmp_path):
    (tmp_path / "var").mkdir()
    seed_datamart(
        f"sqlite:///{tmp_path / 'var' / 'datamart.sqlite'}",
        "2024-01",
        "2024-03",
        scale=0.02,
        defects=True,
        progress=False,
    )
    run = _cli(tmp_path, "release", "2024-03")
    output = run.stdout + run.stderr
    assert run.returncode != 0
    # Every defect of the DataMart is named in one run, at extraction (counts and codes, never the keys
    # themselves), in the back-fill of the earlier months, so the release of 2024-03 is never started.
    assert "backfill_job" in output and "4 failed check(s)" in output
    assert "check cris_key_unique on cris_extract: 2024-" in output  # the month and what was found
    assert (
        "check cris_offence_code_known on cris_extract: 2024-02: offence_code 3 unexpected values: '999/99'"
        in output
    )
    assert "check cris_source_rows_dated on cris_extract" in output and "have no recorded_at" in output
    assert "check connect_source_rows_dated on connect_extract" in output
    # One summary, not a wall of skipped-step errors.
    assert "were not executed" not in output and "Stack Trace" not in output
    assert output.count("failed check(s)") == 1
    assert "monthly_release_job" not in output.split("failed:")[0].splitlines()[-1]
    assert not (tmp_path / "var" / "work" / "candidates").exists(), "nothing may be staged"
    assert not (tmp_path / "var" / "work" / "releases").exists(), "no dataset may be built"


def test_report_shows_every_check_of_the_release_run(released):
    tmp, _ = released
    report = pd.read_json(tmp / "var" / "work" / "releases" / MONTH / "report" / "report.json", typ="series")
    names = {row["name"] for row in report["checks"]}
    # Read from the release run's own event log: the extract and harmonisation checks are there too.
    assert {"cris_key_unique", "connect_status_vocabulary", "harmonised_every_record_classified"} <= names
    assert {"disclosure_threshold", "disclosure_differencing_audit", "disclosure_allowlist"} <= names
    assert report["status"] in ("pass", "warn") and report["counts"]["fail"] == 0


def test_a_month_without_crime_blocks_until_an_owner_acknowledges_it(tmp_path):
    (tmp_path / "var").mkdir()
    # The DataMart stops at 2024-02: 2024-03 arrives empty, as a broken feed would deliver it.
    seed_datamart(
        f"sqlite:///{tmp_path / 'var' / 'datamart.sqlite'}", "2024-01", "2024-02", scale=0.02, progress=False
    )
    run = _cli(tmp_path, "release", "2024-03")
    output = run.stdout + run.stderr
    assert run.returncode != 0
    assert "check month_volume_plausible on borough_dataset" in output
    assert "2024-03 has no counted crime at all" in output and "acknowledge_volume" in output
    # The check links the owner to the acknowledgement's Launchpad with the blocked month and its total
    # filled in (not the latest month, which the job's own default would be).
    link = re.search(r"(http://[^\s)]+/jobs/acknowledge_volume/playground/setup\?[^\s)]+)", output)
    assert link, output[-3000:]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(link.group(1)).query)
    config = yaml.safe_load(query["config"][0])["ops"]["acknowledge_volume_op"]["config"]
    assert (config["month"], config["total"]) == ("2024-03", 0) and query["tags[0][value]"] == ["2024-03"]
    assert not (tmp_path / "var" / "work" / "candidates").exists(), "nothing may be staged"

    # A row typed into the state database does not count; an owner's sealed acknowledgement does.
    refused = _cli(
        tmp_path, "acknowledge-volume", "2024-03", "--total", "0", "--as", "nobody.here", "--reason", "x"
    )
    assert refused.returncode == 1 and "not an owner or deputy" in refused.stderr
    ack = _cli(
        tmp_path, "acknowledge-volume", "2024-03", "--total", "0", "--as", "demo.owner",
        "--reason", "feed outage confirmed; publishing the empty month on purpose",
    )  # fmt: skip
    assert ack.returncode == 0, ack.stderr
    again = _cli(tmp_path, "release", "2024-03")
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert list((tmp_path / "var" / "work" / "candidates" / "2024-03").iterdir())
