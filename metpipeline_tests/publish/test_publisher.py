"""Publication against the S3-compatible server on loopback (moto, versioning on)."""

import json
import posixpath
import re
import uuid
from datetime import datetime
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest

from metpipeline.bucket import INTERNAL_PREFIX, S3Store
from metpipeline.publish.catalog import next_release
from metpipeline.publish.cover import WHY_NEW, WHY_REVISED
from metpipeline.publish.publisher import publish_candidate
from metpipeline_tests.deployment import publication

pytestmark = pytest.mark.integration
LONDON = ZoneInfo("Europe/London")
SLUG = "datasets/mps-borough-level-crime"
APRIL_6 = datetime(2024, 4, 6, 9, 30, tzinfo=LONDON)


@pytest.fixture
def store(s3_server):
    # A fresh prefix per test keeps tests independent on the one session server.
    return S3Store(s3_server.bucket, f"p-{uuid.uuid4().hex[:8]}", endpoint_url=s3_server.endpoint_url)


def _json(store, key):
    obj = store.get(key)
    return json.loads(obj.data) if obj else None


def _keys(store, s3_server, internal=False):
    """The keys under the store's prefix: the public ones, or with `internal` also the pipeline's own."""
    resp = s3_server.client().list_objects_v2(Bucket=s3_server.bucket, Prefix=store.prefix + "/")
    keys = sorted(o["Key"][len(store.prefix) + 1 :] for o in resp.get("Contents", []))
    return keys if internal else [k for k in keys if not k.startswith(INTERNAL_PREFIX)]


class FailAfter:
    """Wraps a store so that its create-only writes fail after `k` succeed (a network drop mid-publish)."""

    def __init__(self, inner, k):
        self.inner, self.left = inner, k

    def get(self, key):
        return self.inner.get(key)

    def put_create_only(self, key, data):
        if self.left <= 0:
            raise ConnectionError("injected failure")
        self.left -= 1
        return self.inner.put_create_only(key, data)

    def put_if_match(self, key, data, etag):
        return self.inner.put_if_match(key, data, etag)

    def put_version(self, prefix, files, last):
        # S3's way (file by file, manifest last), through this wrapper's failing writes.
        return S3Store.put_version(self, prefix, files, last)  # type: ignore[arg-type]


def test_layout_and_public_documents(store, staging, s3_server):
    chash = staging.stage("2024-03")["borough"]
    result = publish_candidate(
        store, staging.area, "borough", "2024-03", chash, now=APRIL_6, publication=publication()
    )
    assert (result.version, result.already_published) == (1, False)
    base = f"{SLUG}/2024-03/v1/"
    assert _keys(store, s3_server) == sorted(
        ["catalog.json", "index.html", f"{SLUG}/latest.json", f"{SLUG}/history.html"]
        + [
            base + n
            for n in [
                "MPS Borough Level Crime (Historical).csv",
                "MPS Borough Level Crime (Historical) [datastore-2024 layout].csv",
                "MPS Borough Level Crime (most recent 24 months).csv",
                "MPS Borough Level Crime (most recent 24 months) [datastore-2024 layout].csv",
                "MPS Borough Level Crime.xlsx",
                "borough-tidy.csv.gz",
                "borough-tidy.parquet",
                "cover-sheet.html",
                "datapackage.json",
                "manifest.json",
            ]
        ]
    )
    dp = _json(store, base + "datapackage.json")
    assert dp["name"] == "mps-borough-level-crime" and dp["licenses"][0]["name"] == "OGL-UK-3.0"
    assert "CRIS" in dp["sources"][0]["title"] and "28 February 2024" in dp["sources"][1]["title"]
    assert dp["$schema"] == "https://datapackage.org/profiles/2.0/datapackage.json"
    csv_res = next(r for r in dp["resources"] if r["path"].endswith("(Historical).csv"))
    data = store.get(base + csv_res["path"]).data
    assert csv_res["bytes"] == len(data) and csv_res["hash"].startswith("sha256:")
    # The version claim is the pipeline's own bookkeeping, outside the public prefix.
    assert f"{INTERNAL_PREFIX}claims/mps-borough-level-crime/2024-03/v1.json" in _keys(
        store, s3_server, internal=True
    )
    assert csv_res["mediatype"] == "text/csv" and csv_res["encoding"] == "utf-8"
    assert [f["name"] for f in csv_res["schema"]["fields"]][:3] == ["Group", "SubGroup", "BOCU"]
    parquet = next(r for r in dp["resources"] if r["format"] == "parquet")
    assert {"name": "count", "type": "integer"} in parquet["schema"]["fields"]

    manifest = _json(store, base + "manifest.json")
    assert manifest["candidate_hash"] == chash and "run_id" not in manifest
    cover = store.get(base + "cover-sheet.html").data.decode()
    for expected in ["27 February 2024", "28 February 2024", "2024.1", "lsoa: 9",
                     "0 small counts in protected categories", "SHOPLIFTING",
                     "October 2023 to March 2024", WHY_NEW]:  # fmt: skip
        assert expected in cover
    # Plain words: months in words, the release time with its zone, no jargon in the opening.
    assert "Release for <strong>March 2024</strong>" in cover and "6 April 2024, 09:30 BST" in cover
    opening = cover[: cover.index('id="files"')]
    assert not [w for w in ("SO18", "tidy long form", "primary:") if w in opening]
    # The headline: the month's total, its change on the month before, a chart with a text alternative
    # and the figures as a table, all from the published 24-month file.
    wide = store.get(base + "MPS Borough Level Crime (most recent 24 months).csv").data.decode().splitlines()
    header = wide[0].split(",")
    march = sum(int(r.split(",")[header.index("202403")]) for r in wide[1:])
    assert f"<strong>{march:,} crimes</strong> in March 2024" in cover
    assert '<svg role="img" aria-labelledby="chart-title chart-desc"' in cover and "<desc id=" in cover
    assert f'<td>March 2024</td><td class="num">{march:,}</td>' in cover
    # Files in reading order: the current layout first, the deprecated layout last.
    listed = re.findall(r'<td><a href="[^"]+">([^<]+)</a></td><td class="num">', cover)
    assert listed[0] == "MPS Borough Level Crime (Historical).csv" and listed[-1].endswith("layout].csv")

    catalog = _json(store, "catalog.json")
    entry = catalog["datasets"][0]
    assert (entry["dataset"], entry["latest_version"], entry["latest_month"]) == (
        "mps-borough-level-crime",
        1,
        "2024-03",
    )
    # When the public gets the next release: the calendar's day (build at 06:00) at the release time, 09:30.
    assert entry["next_scheduled_release"] == "2024-05-05T09:30:00+01:00"
    assert entry["links"]["cover_sheet"] == base + "cover-sheet.html"


def test_a_revision_is_a_new_version_with_revision_notes(store, staging):
    march = staging.stage("2024-03")["borough"]
    publish_candidate(
        store, staging.area, "borough", "2024-03", march, now=APRIL_6, publication=publication()
    )
    april = staging.stage("2024-04", revise=True)["borough"]
    result = publish_candidate(
        store,
        staging.area,
        "borough",
        "2024-04",
        april,
        now=APRIL_6.replace(month=5),
        publication=publication(),
    )
    assert result.version == 2
    latest = _json(store, f"{SLUG}/latest.json")
    assert [v["version"] for v in latest["versions"]] == [2, 1]
    assert "changes" not in latest["latest"]  # listed once, in the version's entry
    changes = {c["month"]: c for c in latest["versions"][0]["changes"]}
    assert changes["2024-04"]["why"] == WHY_NEW
    assert changes["2023-10"] == {"month": "2023-10", "cells_changed": 2, "why": WHY_REVISED}
    assert "2024-02" not in changes  # unchanged months are not listed
    cover = store.get(f"{SLUG}/2024-04/v2/cover-sheet.html").data.decode()
    assert "October 2023: 2 figures (revised source records" in cover


def test_two_publish_runs_of_one_approval_give_one_version(store, staging, s3_server):
    chash = staging.stage("2024-03")["borough"]
    first = publish_candidate(
        store, staging.area, "borough", "2024-03", chash, now=APRIL_6, publication=publication()
    )
    keys = _keys(store, s3_server)
    second = publish_candidate(store, staging.area, "borough", "2024-03", chash, publication=publication())
    assert (second.version, second.already_published) == (first.version, True)
    assert _keys(store, s3_server) == keys


def test_a_failed_publish_shows_nothing_and_the_retry_completes(store, staging, s3_server):
    chash = staging.stage("2024-03")["borough"]
    with pytest.raises(ConnectionError):
        publish_candidate(
            FailAfter(store, 3),
            staging.area,
            "borough",
            "2024-03",
            chash,
            now=APRIL_6,
            publication=publication(),
        )
    assert store.get(f"{SLUG}/latest.json") is None and store.get("catalog.json") is None
    # The claim and two files were written: no manifest, no pointer, so no version exists for readers.
    unfinished = [k for k in _keys(store, s3_server) if "/v1/" in k]
    assert len(unfinished) == 2 and not any(k.endswith("manifest.json") for k in unfinished)

    # The retry happens later: the version keeps the time of its first claim, so its bytes are identical.
    result = publish_candidate(
        store,
        staging.area,
        "borough",
        "2024-03",
        chash,
        now=APRIL_6.replace(day=7),
        publication=publication(),
    )
    assert (result.version, result.already_published) == (1, False)
    assert _json(store, f"{SLUG}/latest.json")["latest"]["released_at"] == APRIL_6.isoformat()
    assert _json(store, "catalog.json")["datasets"][0]["latest_version"] == 1


def test_pointer_is_swapped_only_after_every_file(store, staging):
    chash = staging.stage("2024-03")["borough"]
    seen_when_swapped = []

    class Watch(FailAfter):
        def put_if_match(self, key, data, etag):
            if key.endswith("latest.json"):
                seen_when_swapped.extend(json.loads(data)["latest"]["files"])
                for name in json.loads(data)["latest"]["files"]:
                    assert self.inner.get(f"{SLUG}/2024-03/v1/{name}") is not None, name
            return self.inner.put_if_match(key, data, etag)

    publish_candidate(
        Watch(store, 100), staging.area, "borough", "2024-03", chash, now=APRIL_6, publication=publication()
    )
    assert len(seen_when_swapped) == 10  # 7 data files, cover sheet, datapackage.json, manifest.json


def test_an_abandoned_attempt_of_another_candidate_does_not_block_the_next(store, staging):
    old = staging.stage("2024-03")["borough"]
    with pytest.raises(ConnectionError):
        publish_candidate(
            FailAfter(store, 2),
            staging.area,
            "borough",
            "2024-03",
            old,
            now=APRIL_6,
            publication=publication(),
        )
    new = staging.stage("2024-03", revise=True)["borough"]
    result = publish_candidate(
        store, staging.area, "borough", "2024-03", new, now=APRIL_6, publication=publication()
    )
    assert result.version == 2  # v1 was claimed by the abandoned attempt and is never referenced
    assert _json(store, f"{SLUG}/latest.json")["latest"]["content_hash"] == new


def test_create_only_refuses_to_overwrite_a_published_file(store, staging):
    chash = staging.stage("2024-03")["borough"]
    publish_candidate(
        store, staging.area, "borough", "2024-03", chash, now=APRIL_6, publication=publication()
    )
    from metpipeline.bucket import ObjectExists

    with pytest.raises(ObjectExists):
        store.put_create_only(f"{SLUG}/2024-03/v1/borough-tidy.csv.gz", b"month,count\n2024-03,1\n")


def test_next_release_follows_the_calendar():
    assert (
        next_release(datetime(2024, 4, 5, 5, 59, tzinfo=LONDON), "0 6 5 * *").isoformat()
        == "2024-04-05T06:00:00+01:00"
    )
    assert (
        next_release(datetime(2024, 12, 6, tzinfo=LONDON), "0 6 5 * *").isoformat()
        == "2025-01-05T06:00:00+00:00"
    )
    assert (
        next_release(datetime(2024, 1, 31, tzinfo=LONDON), "30 7 30 * *").isoformat().startswith("2024-03-30")
    )
    with pytest.raises(ValueError, match="METPIPELINE_RELEASE_CRON"):
        next_release(datetime(2024, 1, 1, tzinfo=LONDON), "0 6 * * MON")


def test_cover_sheet_groups_consecutive_months_of_the_same_change():
    from metpipeline.publish.history import group_changes

    changes = [
        {"month": "2024-11", "cells_changed": 3, "why": "new month"},
        {"month": "2024-12", "cells_changed": 4, "why": "new month"},
        {"month": "2025-01", "cells_changed": 5, "why": "new month"},
        {"month": "2025-03", "cells_changed": 1, "why": "revised"},
        {"month": "2025-04", "cells_changed": 2, "why": "new month"},
    ]
    lines = [(g["months"], g["cells_changed"], g["why"]) for g in group_changes(changes)]
    assert lines == [
        ("2024-11 to 2025-01", 12, "new month"),  # across the year end
        ("2025-03", 1, "revised"),
        ("2025-04", 2, "new month"),  # adjacent month, other reason: a line of its own
    ]


def test_a_reverted_source_publishes_a_new_version_that_says_so(store, staging):
    first = staging.stage("2024-03")["borough"]
    publish_candidate(
        store, staging.area, "borough", "2024-03", first, now=APRIL_6, publication=publication()
    )
    revised = staging.stage("2024-03", revise=True)["borough"]
    publish_candidate(
        store,
        staging.area,
        "borough",
        "2024-03",
        revised,
        now=APRIL_6.replace(day=7),
        publication=publication(),
    )
    # The source goes back: the first candidate's bytes are current again. The pointer must follow.
    again = staging.stage("2024-03")["borough"]
    assert again == first
    result = publish_candidate(
        store,
        staging.area,
        "borough",
        "2024-03",
        again,
        now=APRIL_6.replace(day=8),
        publication=publication(),
    )
    assert (result.version, result.already_published) == (3, False)
    latest = _json(store, f"{SLUG}/latest.json")
    assert latest["latest"]["content_hash"] == first and latest["latest"]["reverts_to_version"] == 1
    assert [v["version"] for v in latest["versions"]] == [3, 2, 1]
    cover = store.get(f"{SLUG}/2024-03/v3/cover-sheet.html").data.decode()
    assert "the source was reverted: the figures of version\n1 are current again" in cover
    v1, v3 = (store.get(f"{SLUG}/2024-03/v{n}/borough-tidy.csv.gz").data for n in (1, 3))
    assert v1 == v3


def test_resource_names_are_clean_and_unique():
    from metpipeline.publish.datapackage import resource_name

    names = [
        resource_name(n)
        for n in (
            "MPS Borough Level Crime (Historical).csv",
            "MPS Borough Level Crime (most recent 24 months).csv",
            "MPS Borough Level Crime (most recent 24 months) [datastore-2024 layout].csv",
            "borough-tidy.csv.gz",
            "borough-tidy.parquet",
            "MPS Borough Level Crime.xlsx",
        )
    ]
    assert names == [
        "mps-borough-level-crime-historical",
        "mps-borough-level-crime-most-recent-24-months",
        "mps-borough-level-crime-most-recent-24-months-datastore-2024-layout",
        "borough-tidy",
        "borough-tidy-parquet",
        "mps-borough-level-crime-xlsx",
    ]
    assert len(set(names)) == len(names)


def test_a_landing_page_at_the_root_links_every_dataset_to_published_files(
    store, staging, s3_server, monkeypatch
):
    import re

    monkeypatch.delenv("METPIPELINE_PUBLIC_BASE_URL", raising=False)
    chash = staging.stage("2024-03")["borough"]
    publish_candidate(
        store, staging.area, "borough", "2024-03", chash, now=APRIL_6, publication=publication()
    )
    page = store.get("index.html").data.decode()
    assert "MPS Borough Level Crime" in page and "March 2024 (version 1)" in page
    assert "6 April 2024, 09:30 BST" in page  # last updated, in London time with its zone
    # The next release as the public gets it: the calendar's day (the 5th) at the release time.
    assert "5 May 2024, 09:30 BST" in page and "06:00" not in page
    assert "Update frequency</dt><dd>Monthly" in page and "Open Government Licence v3.0" in page
    assert "Crimes recorded in each London borough" in page  # what it is, in plain words
    links = re.findall(r'href="([^"]+)"', page)
    local = [link for link in links if not link.startswith("https://www.nationalarchives")]
    # Every data file (7) with its format and size, cover sheet, version history, data package, catalog.
    assert len(local) == 11
    for link in local:
        assert store.get(unquote(link)) is not None, link  # every link resolves to a published file
    assert 'MPS Borough Level Crime (most recent 24 months).csv</a>\n<span class="meta">CSV, ' in page
    # Link texts are distinct to a screen reader: each names its dataset.
    texts = re.findall(r'<a href="[^"]+"[^>]*>(.*?)</a>', page, re.S)
    assert len(texts) == len(set(texts)), texts
    history = store.get(f"{SLUG}/history.html").data.decode()
    assert "Version 1" in history and "March 2024" in history and "6 April 2024, 09:30 BST" in history
    assert "October 2023 to March 2024" in history
    for link in re.findall(r'href="([^"]+)"', history):
        target = posixpath.normpath(posixpath.join(SLUG, unquote(link)))
        assert store.get(target) is not None, link

    monkeypatch.setenv("METPIPELINE_PUBLIC_BASE_URL", "https://data.example.test/mps/")
    from metpipeline.publish.landing import render_index

    catalog = json.loads(store.get("catalog.json").data)
    page = render_index(catalog, publication().public_base_url)  # the setting, through the resource
    assert 'href="https://data.example.test/mps/catalog.json"' in page
