"""What the decision page says happens next, read from the real ledger, registry and Dagster runs: waiting
for a decision, for a second approver, the release time, a failing publication and its retries, published;
and what it lists as waiting for whom."""

# ruff: noqa: F811 (the tests take the imported `deployment` fixture by name)

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from metpipeline.governance import ledger
from metpipeline.publish.jobs import publish_job
from metpipeline.webui import owner_view
from metpipeline_tests.approval.test_governance_attacks import (  # noqa: F401 (deployment: the fixture)
    MONTH,
    decide,
    deployment,
    requests_of,
    sense,
    stage,
)


def _state(d, dataset, instance=None) -> str:
    engine = d["resources"]["state"].engine()
    registry = d["resources"]["governance"].registry()
    return owner_view.next_step(engine, registry, ledger.current_candidate(engine, dataset, MONTH), instance)


def test_the_page_says_in_words_what_happens_next(deployment, monkeypatch):
    chashes = stage(deployment)
    engine = deployment["resources"]["state"].engine()
    registry = deployment["resources"]["governance"].registry()
    assert owner_view.waiting(engine, registry, "carol.other") == {MONTH: ["lsoa", "ward"]}
    assert _state(deployment, "ward") == "waiting for a decision (2 approval(s) needed)"
    assert decide(deployment, "ward", chashes["ward"], "carol.other").success
    assert _state(deployment, "ward") == "waiting for a second approver (1 of 2 approvals)"
    assert owner_view.waiting(engine, registry, "carol.other") == {MONTH: ["lsoa"]}  # she decided on ward

    later = datetime.now(UTC).astimezone(ZoneInfo("Europe/London")) + timedelta(hours=3)
    monkeypatch.setenv("METPIPELINE_RELEASE_TIME", f"{later:%H}:00")
    assert decide(deployment, "borough", chashes["borough"], "alice.owner").success
    due = _state(deployment, "borough")
    assert due.startswith(f"approved: it will be published at {later:%H}:00 on "), due

    monkeypatch.setenv("METPIPELINE_RELEASE_TIME", "immediate")
    instance = dg.DagsterInstance.ephemeral()
    (request,) = [
        r for r in requests_of(sense(deployment, instance)) if r.tags["metpipeline/dataset"] == "borough"
    ]
    deployment["bucket"].mkdir(parents=True, exist_ok=True)
    blocked = deployment["bucket"] / "datasets"
    blocked.write_text("not a folder")  # the bucket cannot be written: the publish run fails
    failed = publish_job.execute_in_process(
        run_config=request.run_config,
        tags=request.tags,
        resources=deployment["resources"],
        instance=instance,
        raise_on_error=False,
    )
    assert not failed.success
    assert _state(deployment, "borough", instance) == "publication failed, retrying (attempt 2 of 5)"
    blocked.unlink()
    assert publish_job.execute_in_process(
        run_config=request.run_config, tags=request.tags, resources=deployment["resources"], instance=instance
    ).success
    assert _state(deployment, "borough", instance).startswith("published as version 1 at ")
