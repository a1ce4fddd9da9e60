"""The public's files as a reader gets them from a local bucket: validated metadata (frictionless), the
accessible workbook (openpyxl), the cover sheet's links, the layouts in force, and the scan that stops a
public file nobody checked."""

import gzip
import hashlib
import json
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from metpipeline.approval import candidates
from metpipeline.bucket import LocalStore
from metpipeline.catalogue import spec
from metpipeline.datasets import layouts
from metpipeline.datasets.build import build_airports_by_location
from metpipeline.disclosure.allowlist import scan_public
from metpipeline.disclosure.policy import load_policy
from metpipeline.publish.publisher import publish_candidate
from metpipeline.settings import ConfigError
from metpipeline_tests.deployment import publication

LONDON = ZoneInfo("Europe/London")
DATASETS = ("borough", "ward", "lsoa", "flagged")
SLUGS = {
    "borough": "mps-borough-level-crime",
    "ward": "mps-ward-level-crime",
    "lsoa": "mps-lsoa-level-crime",
    "flagged": "mps-flagged-crime",
}


def validate_datapackage(path: Path) -> None:
    """A published datapackage.json as a data user checks it: `frictionless validate datapackage.json`, the
    command, in the package's folder (every resource: schema, rows, bytes and hash where declared). A
    Parquet resource declares no byte count (frictionless's Parquet reader counts none), so its file's
    size and sha256 are checked against the manifest as well."""
    descriptor = json.loads(path.read_text(encoding="utf-8"))
    assert descriptor["$schema"] == "https://datapackage.org/profiles/2.0/datapackage.json"
    command = [str(Path(sys.executable).parent / "frictionless"), "validate", "--json", path.name]
    run = subprocess.run(command, cwd=path.parent, capture_output=True, text=True, timeout=600)
    report = json.loads(run.stdout)
    problems = [f"{task['name']}: {e['message']}" for task in report["tasks"] for e in task["errors"]]
    assert run.returncode == 0 and report["valid"], problems or run.stderr[-2000:]
    assert len(report["tasks"]) == len(descriptor["resources"])
    manifest = json.loads((path.parent / "manifest.json").read_text(encoding="utf-8"))
    sizes = {f["name"]: (f["bytes"], f["sha256"]) for f in manifest["files"]}
    for resource in descriptor["resources"]:
        data = (path.parent / resource["path"]).read_bytes()
        assert sizes[resource["path"]] == (len(data), hashlib.sha256(data).hexdigest()), resource["path"]
        assert resource["hash"] == f"sha256:{sizes[resource['path']][1]}"


def publish_all(staging, store, month="2024-03", now=None, **kw):
    hashes = staging.stage(month, **kw)
    now = now or datetime(2024, 4, 6, 9, 30, tzinfo=LONDON)
    return {
        d: publish_candidate(store, staging.area, d, month, hashes[d], now=now, publication=publication())
        for d in DATASETS
    }


@pytest.fixture
def bucket(tmp_path, monkeypatch):
    monkeypatch.setenv("METPIPELINE_CONTACT", "crime.data@met.example")
    for name in ("METPIPELINE_LAYOUT", "METPIPELINE_PREVIOUS_LAYOUT", "METPIPELINE_PREVIOUS_LAYOUT_UNTIL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "bucket"


def test_every_published_datapackage_validates_with_frictionless(staging, bucket):
    published = publish_all(staging, LocalStore(str(bucket)))
    for dataset, result in published.items():
        folder = bucket / result.prefix
        validate_datapackage(folder / "datapackage.json")
        package = json.loads((folder / "datapackage.json").read_text())
        names = [r["name"] for r in package["resources"]]
        assert len(names) == len(set(names)) and all(re.fullmatch(r"[a-z0-9-]+", n) for n in names), names
        assert {r["path"] for r in package["resources"]} == {
            f for f in result.files if f not in ("cover-sheet.html", "datapackage.json", "manifest.json")
        }, dataset


def test_a_swapped_file_fails_validation(staging, bucket):
    """The validation can fail: a data file changed after publication no longer matches its hash."""
    result = publish_all(staging, LocalStore(str(bucket)))["ward"]
    folder = bucket / result.prefix
    target = folder / "MPS Ward Level Crime (most recent 24 months).csv"
    target.write_bytes(target.read_bytes().replace(b"St James's", b"St Jamesx"))
    with pytest.raises(AssertionError, match="hash"):
        validate_datapackage(folder / "datapackage.json")


def test_the_workbook_is_accessible_and_holds_the_csv_tables(staging, bucket):
    from openpyxl import load_workbook

    result = publish_all(staging, LocalStore(str(bucket)))["flagged"]
    folder = bucket / result.prefix
    book = load_workbook(folder / "MPS Flagged Crime by Borough.xlsx", read_only=True)
    assert book.sheetnames == ["Cover", "Contents", "Notes", "Recent_24_months", "Historical"]
    for sheet, csv_name in [
        ("Recent_24_months", "MPS Flagged Crime by Borough (most recent 24 months).csv"),
        ("Historical", "MPS Flagged Crime by Borough (Historical).csv"),
    ]:
        rows = list(book[sheet].iter_rows(values_only=True))
        assert rows[0][0].startswith("MPS Flagged Crime by Borough: "), rows[0]  # the title, in A1
        csv = pd.read_csv(folder / csv_name, dtype=str, keep_default_na=False)
        header = next(i for i, r in enumerate(rows) if list(r[:3]) == list(csv.columns[:3]))
        table = pd.DataFrame(
            [["" if v is None else str(v) for v in r[: len(csv.columns)]] for r in rows[header + 1 :]],
            columns=[str(c) for c in rows[header][: len(csv.columns)]],
        )
        pd.testing.assert_frame_equal(table, csv)
        assert "[c]" in csv.to_numpy() if sheet == "Recent_24_months" else True
    cover = [r[0] for r in book["Cover"].iter_rows(values_only=True) if r and r[0]]
    assert cover[0] == "MPS Flagged Crime by Borough, release for 2024-03"
    assert any("crime.data@met.example" in str(line) for line in cover)
    notes = [r for r in book["Notes"].iter_rows(values_only=True)]
    assert any("[c]" in str(r[1]) and "suppressed" in str(r[1]) for r in notes if r and len(r) > 1)
    # Deterministic: staging the same month again gives the same workbook bytes (the same candidate).
    assert staging.stage("2024-03")["flagged"] == result.content_hash


def test_a_table_too_large_for_a_spreadsheet_is_left_to_its_csv(staging, bucket, monkeypatch):
    from openpyxl import load_workbook

    monkeypatch.setenv("METPIPELINE_WORKBOOK_MAX_CELLS", "5")
    result = publish_all(staging, LocalStore(str(bucket)))["borough"]
    book = load_workbook(bucket / result.prefix / "MPS Borough Level Crime.xlsx", read_only=True)
    assert "Recent_24_months" not in book.sheetnames
    cover = " ".join(str(r[0]) for r in book["Cover"].iter_rows(values_only=True) if r and r[0])
    assert "too many for a spreadsheet" in cover and "(most recent 24 months).csv" in cover


def test_the_cover_sheet_links_every_file_with_size_and_hash_in_london_time(staging, bucket):
    store = LocalStore(str(bucket))
    publish_all(staging, store)
    result = publish_all(staging, store, month="2024-04", revise=True, now=datetime(2024, 5, 7, 8, 0))["lsoa"]
    folder = bucket / result.prefix
    html = (folder / "cover-sheet.html").read_text()
    hrefs = re.findall(r'href="([^"]+)"', html)
    local = [h for h in hrefs if not h.startswith(("http", "mailto:"))]
    for href in local:
        assert (folder / unquote(href)).resolve().is_file(), href  # every link resolves to a published file
    manifest = json.loads((folder / "manifest.json").read_text())
    for f in manifest["files"]:
        assert f["sha256"] in html and f["name"] in html  # every data file, with its hash
    assert "../../2024-03/v1/cover-sheet.html" in hrefs  # the previous version linked
    assert "mailto:crime.data@met.example" in hrefs
    assert "7 May 2024, 09:00" in html  # 08:00 UTC is 09:00 in London (BST)
    assert "lsoa-tidy.csv.gz" in html and re.search(r"\d+ bytes|\d+\.\d kB", html)
    assert '<th scope="col">' in html and '<html lang="en">' in html


def test_latest_json_lists_each_month_once(staging, bucket):
    published = publish_all(staging, LocalStore(str(bucket)))
    latest = json.loads((bucket / "datasets" / SLUGS["borough"] / "latest.json").read_text())
    assert published["borough"].version == latest["latest"]["version"] == 1
    text = json.dumps(latest)
    assert text.count('"month": "2023-10"') == 1, "a month's change is listed once"


def test_the_layouts_in_force_follow_the_settings(monkeypatch):
    for name in ("METPIPELINE_LAYOUT", "METPIPELINE_PREVIOUS_LAYOUT", "METPIPELINE_PREVIOUS_LAYOUT_UNTIL"):
        monkeypatch.delenv(name, raising=False)
    current, previous = layouts.in_force("2026-10", publication())
    assert (current.name, previous.name) == ("datastore-2026", "datastore-2024")
    assert layouts.in_force("2027-07", publication())[1] is None  # the deprecation period is over
    monkeypatch.setenv("METPIPELINE_PREVIOUS_LAYOUT", "none")
    assert layouts.in_force("2026-10", publication())[1] is None
    monkeypatch.setenv("METPIPELINE_LAYOUT", "datastore-2024")
    monkeypatch.setenv("METPIPELINE_PREVIOUS_LAYOUT", "datastore-2026")
    assert [x.name for x in layouts.in_force("2026-10", publication())] == [
        "datastore-2024",
        "datastore-2026",
    ]
    monkeypatch.setenv("METPIPELINE_LAYOUT", "datastore-2025")
    with pytest.raises(
        ConfigError, match="METPIPELINE_LAYOUT='datastore-2025': expected one of datastore-2026"
    ):
        layouts.in_force("2026-10", publication())


def test_only_the_current_layout_after_the_deprecation_period(staging, bucket, monkeypatch):
    monkeypatch.setenv("METPIPELINE_PREVIOUS_LAYOUT_UNTIL", "2024-02")
    result = publish_all(staging, LocalStore(str(bucket)))["borough"]
    assert not [f for f in result.files if "layout]" in f]
    header = (bucket / result.prefix / "MPS Borough Level Crime (Historical).csv").read_text().split("\n")[0]
    assert header.startswith("Group,SubGroup,BOCU,")
    manifest = json.loads((bucket / result.prefix / "manifest.json").read_text())
    assert manifest["layout"]["current"] == "datastore-2026" and manifest["layout"]["previous"] is None


def test_airport_crimes_are_counted_where_they_happened_in_the_2026_layout():
    harmonised = pd.DataFrame(
        {
            "month": ["2024-05"] * 4,
            "mps_major": ["THEFT"] * 4,
            "mps_minor": ["SHOPLIFTING"] * 4,
            "borough_name": ["London Heathrow and London City Airports"] * 3 + ["Camden"],
            "ward_borough_name": ["Hillingdon", None, None, "Camden"],
            "lsoa_borough_name": ["Hillingdon", "Newham", None, "Camden"],
        }
    )
    airports = build_airports_by_location(harmonised, "borough", ["2024-05"])
    assert airports.to_dict("records") == [
        {"MajorText": "THEFT", "MinorText": "SHOPLIFTING", "BoroughName": b, "202405": 1}
        for b in ("Hillingdon", "Newham", "Unknown")
    ]
    wide = pd.DataFrame(
        {
            "MajorText": ["THEFT"] * 3,
            "MinorText": ["SHOPLIFTING"] * 3,
            "BoroughName": ["Camden", "Hillingdon", "London Heathrow and London City Airports"],
            "202405": ["1", "5", "3"],
        }
    )
    moved = layouts.render(wide, spec("borough"), layouts.DATASTORE_2026, airports, "test")
    assert moved.to_dict("records") == [
        {"Group": "THEFT", "SubGroup": "SHOPLIFTING", "BOCU": b, "202405": n}
        for b, n in (("Camden", 1), ("Hillingdon", 6), ("Newham", 1), ("Unknown", 1))
    ]
    short = airports.iloc[:2]  # a crime lost on the way is refused, not published
    with pytest.raises(ValueError, match="airports row"):
        layouts.render(wide, spec("borough"), layouts.DATASTORE_2026, short, "borough 24m 2024-05")


def test_a_public_file_nobody_checked_stops_staging(staging, tmp_path):
    policy = load_policy(Path(candidates.__file__).parent.parent / "disclosure" / "policy.yaml")
    staging.stage("2024-03")
    folder = tmp_path / "public"
    from metpipeline.datasets.public import render_public_files

    area = staging.area
    publishable, counts = (
        area.release_dir("2024-03", "publishable", "ward"),
        area.release_dir("2024-03", "counts"),
    )
    names = render_public_files(publishable, counts, spec("ward"), "2024-03", folder, publication())
    assert scan_public(folder, "ward", policy) == [], names
    (folder / "notes.txt").write_text("victim: J. Smith")
    book = folder / "MPS Ward Level Crime.xlsx"
    import openpyxl

    wb = openpyxl.load_workbook(book)
    wb["Recent_24_months"].cell(row=wb["Recent_24_months"].max_row, column=2).value = "somebody's name"
    wb.save(book)
    with gzip.open(folder / "ward-tidy.csv.gz", "rt") as f:
        tidy = f.read()
    with gzip.open(folder / "ward-tidy.csv.gz", "wt") as f:
        f.write(tidy.replace("St James's", "01/000123/24"))
    problems = scan_public(folder, "ward", policy)
    assert any("notes.txt: file not allowed" in p for p in problems), problems
    assert any("sheet Recent_24_months differs from its CSV file" in p for p in problems), problems
    assert any("ward-tidy.csv.gz" in p and "CONNECT reference" in p for p in problems), problems
    assert not any("J. Smith" in p or "01/000123/24" in p for p in problems)  # values never echoed


def test_a_header_only_layout_streams_the_rows_unchanged(tmp_path):
    """A layout that renames columns only is written by copying the rows: the same bytes as reading the
    file and writing it again renamed, names with commas and quotes included."""
    from metpipeline.datasets.public import _with_header
    from metpipeline.datasets.render import read_text, render_csv

    wide = pd.DataFrame(
        {
            "MajorText": ["THEFT", "VIOLENCE, AGAINST"],
            "MinorText": ['SAY "HI"', "X"],
            "WardName": ["St. James's", "Ward, North"],
            "WardCode": ["E05000001", "E05000002"],
            "LookUp_BoroughName": ["Camden", "Westminster"],
            "202401": ["3", "[c]"],
        }
    )
    source = tmp_path / "canonical.csv"
    source.write_bytes(render_csv(wide))
    header = ["Group", "SubGroup", "WardName", "WardCode", "LookUp_BoroughName"]
    rows, _ = _with_header(source, tmp_path / "public.csv", list(wide.columns[:5]), header)
    expected = render_csv(read_text(source).rename(columns=dict(zip(wide.columns[:5], header, strict=True))))
    assert rows == 2
    assert (tmp_path / "public.csv").read_bytes() == expected
    with pytest.raises(ValueError, match="is not the key columns"):
        _with_header(source, tmp_path / "x.csv", ["MinorText", "MajorText"], ["A", "B"])
