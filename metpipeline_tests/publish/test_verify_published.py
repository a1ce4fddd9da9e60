"""The public bucket read back after publication (publish/verify.py), as someone with write access to it
would try to change it behind the pipeline's back: a data file overwritten, a file added to a version,
`latest.json` deleted, `latest.json` pointed at a version that does not exist. On the local store and on an
S3-compatible server; and the daily job fails and tells the owners (a real webhook on loopback)."""

import json
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg

from metpipeline.bucket import LocalStore, S3Store
from metpipeline.governance import ledger
from metpipeline.publish.publisher import publish_candidate
from metpipeline.publish.verify import verify_all
from metpipeline_tests.deployment import deployment, publication
from metpipeline_tests.fixtures.webhook import Hook

DATASETS = ("borough", "ward", "lsoa", "flagged")
NOW = datetime(2024, 4, 6, 9, 30, tzinfo=ZoneInfo("Europe/London"))


def _publish(staging, store, month="2024-03"):
    hashes = staging.stage(month)
    results = {
        d: publish_candidate(store, staging.area, d, month, hashes[d], now=NOW, publication=publication())
        for d in DATASETS
    }
    for d, r in results.items():
        ledger.record_publication(staging.engine, d, month, hashes[d], r.version)
    return results


def _tamper(store, results, write, delete):
    ward = results["ward"].prefix
    write(ward + "MPS Ward Level Crime (most recent 24 months).csv", b"MajorText,MinorText\nforged,1\n")
    write(results["borough"].prefix + "extra.csv", b"added behind the pipeline's back\n")
    delete("datasets/mps-lsoa-level-crime/latest.json")
    key = "datasets/mps-flagged-crime/latest.json"
    latest = json.loads(store.get(key).data)
    latest["latest"]["version"] = 9
    latest["latest"]["path"] = latest["latest"]["path"].replace("/v1/", "/v9/")
    write(key, json.dumps(latest).encode())


def _expect_every_change_found(problems):
    assert any("(most recent 24 months).csv differs" in p for p in problems["ward"]), problems["ward"]
    assert any("extra.csv was added" in p for p in problems["borough"]), problems["borough"]
    assert any("latest.json is missing" in p for p in problems["lsoa"]), problems["lsoa"]
    flagged = " ".join(problems["flagged"])
    assert "names 2024-03 v9" in flagged and "manifest.json is missing" in flagged, flagged


def test_every_change_to_the_local_bucket_is_found(staging, tmp_path):
    root = tmp_path / "bucket"
    store = LocalStore(str(root))
    results = _publish(staging, store)
    assert verify_all(store, staging.engine) == {d: [] for d in DATASETS}

    def write(key, data):
        (root / key).write_bytes(data)

    def delete(key):
        (root / key).unlink()

    _tamper(store, results, write, delete)
    _expect_every_change_found(verify_all(store, staging.engine))


def test_every_change_to_an_s3_bucket_is_found(staging, s3_server):
    store = S3Store(s3_server.bucket, f"v-{uuid.uuid4().hex[:8]}", endpoint_url=s3_server.endpoint_url)
    results = _publish(staging, store)
    assert verify_all(store, staging.engine) == {d: [] for d in DATASETS}
    client = s3_server.client()

    def write(key, data):
        client.put_object(Bucket=s3_server.bucket, Key=store._key(key), Body=data)

    def delete(key):
        client.delete_object(Bucket=s3_server.bucket, Key=store._key(key))

    _tamper(store, results, write, delete)
    _expect_every_change_found(verify_all(store, staging.engine))


def test_the_daily_check_fails_and_tells_the_owners(staging, tmp_path):
    from metpipeline.definitions import defs

    root = tmp_path / "bucket"
    store = LocalStore(str(root))
    results = _publish(staging, store)
    job = defs.resolve_job_def("verify_published_job")
    with Hook() as hook, deployment(STATE_URL=staging.engine.url, BUCKET_URL=root, WEBHOOK_URL=hook.url):
        clean = job.execute_in_process(instance=dg.DagsterInstance.ephemeral())
        assert clean.success and hook.bodies == []
        assert {(e.asset_key.path[0], e.passed) for e in clean.get_asset_check_evaluations()} == {
            (f"published_{d}", True) for d in DATASETS
        }
        target = root / results["ward"].prefix / "ward-tidy.parquet"
        target.write_bytes(target.read_bytes()[:-10])
        broken = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert not broken.success
    verdicts = {e.asset_key.path[0]: e for e in broken.get_asset_check_evaluations()}
    assert not verdicts["published_ward"].passed and verdicts["published_borough"].passed
    assert "ward-tidy.parquet differs from the published file" in verdicts["published_ward"].description
    (body,) = hook.bodies
    assert "ward" in json.dumps(body) and "differs" in json.dumps(body)
