"""The whole cycle in process: candidate → refused decisions → approval → sensor → publish → bucket."""

import json

import dagster as dg
import pytest

from metpipeline.approval import defs as approval_defs
from metpipeline.approval.assets import release_candidates
from metpipeline.approval.jobs import record_approval
from metpipeline.governance import ledger
from metpipeline.publish import defs as publish_defs
from metpipeline.publish.jobs import publish_job
from metpipeline.publish.sensors import approval_sensor
from metpipeline.resources import (
    BucketResource,
    GovernanceResource,
    PublicationResource,
    StateResource,
    WorkAreaResource,
)
from metpipeline_tests.approval.synthetic import write_release
from metpipeline_tests.deployment import run_requests, sensor_resources, skip_message
from metpipeline_tests.sealing import sealed

MONTH = "2024-03"


@dg.job(name="monthly_release_job")
def _stand_in_monthly_release_job():
    """Stands in for the lead's asset job, which the schedule targets by name."""


@pytest.fixture
def resources(tmp_path, owners_file, monkeypatch):
    # The deployment, set as production sets it: in the environment.
    monkeypatch.setenv("METPIPELINE_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("METPIPELINE_STATE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    monkeypatch.setenv("METPIPELINE_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("METPIPELINE_BUCKET_URL", str(tmp_path / "bucket"))
    monkeypatch.setenv("METPIPELINE_OWNERS_FILE", str(owners_file))
    monkeypatch.setenv("METPIPELINE_RELEASE_TIME", "immediate")
    return {
        "state": StateResource(),
        "workarea": WorkAreaResource(),
        "bucket": BucketResource(),
        "governance": GovernanceResource(),
        "publication": PublicationResource(),
    }


@pytest.fixture
def definitions(resources):
    return dg.Definitions.merge(
        approval_defs.defs,
        publish_defs.defs,
        dg.Definitions(jobs=[_stand_in_monthly_release_job], resources=resources),
    )


def _decide(resources, chash, approver="alice.owner", decision="approve"):
    config = {
        "dataset": "borough",
        "month": MONTH,
        "decision": decision,
        "approver": approver,
        "comment": "reviewed the report",
        "candidate_hash": chash,
    }
    return record_approval.execute_in_process(
        tags=sealed("record_approval"),
        run_config={"ops": {"record_decision_op": {"config": config}}},
        resources=resources,
        raise_on_error=False,
    )


def _failure(result) -> str:
    assert not result.success
    return next(e for e in result.all_events if e.is_step_failure).step_failure_data.error.message


def test_definitions_load(definitions):
    repo = definitions.get_repository_def()
    assert {"record_approval", "publish_job", "monthly_release_job"} <= set(repo.job_names)
    assert repo.get_sensor_def("approval_sensor").job_name == "publish_job"


def test_candidate_to_published_files(tmp_path, resources, definitions):
    area = resources["workarea"].area
    write_release(area, MONTH)
    staged = dg.materialize(
        [release_candidates], partition_key=MONTH, resources=resources, tags=sealed(partition=MONTH)
    )
    meta = staged.asset_materializations_for_node("release_candidates")[0].metadata
    first_hash = meta["borough_content_hash"].value
    # The owner reads the report in the UI (no server path), and has a link to the decision.
    assert "### Release report 2024-03" in meta["release_report"].value
    assert (
        "/work/" not in meta["release_report"].value
        and meta["decide"].value.endswith("/approvals/2024-03")  # the owners' decision page
        and "/decide_release/playground/setup?" in meta["decide_in_launchpad"].value  # the engineers'
    )

    # A rebuild with revised bytes supersedes the first candidate.
    write_release(area, MONTH, revise=True)
    staged = dg.materialize(
        [release_candidates], partition_key=MONTH, resources=resources, tags=sealed(partition=MONTH)
    )
    chash = (
        staged.asset_materializations_for_node("release_candidates")[0].metadata["borough_content_hash"].value
    )
    assert chash != first_hash

    assert "not registered to decide on the borough dataset" in _failure(
        _decide(resources, chash, "carol.other")
    )
    refusal = _failure(_decide(resources, first_hash))
    assert "is not the current candidate" in refusal and chash not in refusal
    assert _decide(resources, chash).success
    assert "alice.owner has already decided" in _failure(_decide(resources, chash, decision="reject"))

    instance = dg.DagsterInstance.ephemeral()
    context = dg.build_sensor_context(
        instance=instance, cursor=None, definitions=definitions, resources=sensor_resources(resources)
    )
    result = approval_sensor(context)
    assert len(result.run_requests) == 1
    request = result.run_requests[0]
    assert request.run_key == f"publish:borough:{MONTH}:{chash}:after-v0:attempt-1"

    run = publish_job.execute_in_process(
        run_config=request.run_config, resources=resources, instance=instance, tags=request.tags
    )
    assert run.success
    # Published: the next tick asks for nothing.
    again = approval_sensor(
        dg.build_sensor_context(
            instance=instance, definitions=definitions, resources=sensor_resources(resources)
        )
    )
    assert not run_requests(again) and "nothing to publish" in skip_message(again)
    bucket = tmp_path / "bucket"
    latest = json.loads((bucket / "datasets/mps-borough-level-crime/latest.json").read_text())
    assert latest["latest"]["version"] == 1 and latest["latest"]["content_hash"] == chash
    version_dir = bucket / f"datasets/mps-borough-level-crime/{MONTH}/v1"
    assert (version_dir / "MPS Borough Level Crime (most recent 24 months).csv").is_file()
    assert {p.name for p in version_dir.iterdir()} >= {
        "datapackage.json",
        "cover-sheet.html",
        "manifest.json",
    }
    catalog = json.loads((bucket / "catalog.json").read_text())
    assert catalog["datasets"][0]["latest_version"] == 1

    # A second run of the same approval (e.g. launched by hand) changes nothing.
    rerun = publish_job.execute_in_process(
        run_config=request.run_config, resources=resources, instance=instance
    )
    assert rerun.success
    assert sorted(p.name for p in (bucket / "datasets/mps-borough-level-crime" / MONTH).iterdir()) == ["v1"]


def test_rejections_and_stale_approvals_are_skipped_with_a_reason(resources, definitions):
    area = resources["workarea"].area
    write_release(area, MONTH)
    dg.materialize(
        [release_candidates], partition_key=MONTH, resources=resources, tags=sealed(partition=MONTH)
    )
    engine = resources["state"].engine()
    old = ledger.current_candidate(engine, "borough", MONTH).content_hash
    ward = ledger.current_candidate(engine, "ward", MONTH).content_hash
    assert _decide(resources, old).success
    cfg = {
        "dataset": "ward",
        "month": MONTH,
        "decision": "reject",
        "approver": "carol.other",
        "candidate_hash": ward,
    }
    assert record_approval.execute_in_process(
        tags=sealed("record_approval"),
        run_config={"ops": {"record_decision_op": {"config": cfg}}},
        resources=resources,
    ).success
    write_release(area, MONTH, revise=True)  # rebuilt after the approval: the approved bytes are stale
    dg.materialize(
        [release_candidates], partition_key=MONTH, resources=resources, tags=sealed(partition=MONTH)
    )

    result = approval_sensor(
        dg.build_sensor_context(
            instance=dg.DagsterInstance.ephemeral(),
            definitions=definitions,
            resources=sensor_resources(resources),
        )
    )
    # The rebuilt candidates have no decision yet: nothing to say about them. The rejected ward candidate
    # is no longer current either; the approved borough one was superseded.
    assert not run_requests(result) and "nothing to publish" in skip_message(result)

    # Launched by hand, the publish job refuses too.
    cfg = {"dataset": "borough", "month": MONTH, "candidate_hash": old}
    run = publish_job.execute_in_process(
        run_config={"ops": {"publish_candidate_op": {"config": cfg}}},
        resources=resources,
        raise_on_error=False,
    )
    assert "no longer the current candidate" in _failure(run)


def test_monthly_schedule_builds_the_previous_month(definitions):
    from metpipeline.runs.monthly_schedule import (
        monthly_backfill_then_release,
        previous_month,
        release_request,
    )
    from metpipeline.runs.release_chain import RANGE_END_TAG, RANGE_START_TAG, RELEASE_MONTH_TAG, plan_release

    assert previous_month(2025, 1) == "2024-12" and previous_month(2025, 6) == "2025-05"
    everything = {f"{y}-{m:02d}" for y in range(2022, 2025) for m in range(1, 13)}
    # Every earlier month extracted and unchanged: the chain starts with the release month alone.
    request = release_request(plan_release("2024-12", everything, set()))
    assert request.job_name == "backfill_job" and request.tags[RELEASE_MONTH_TAG] == "2024-12"
    assert request.tags[RANGE_START_TAG] == request.tags[RANGE_END_TAG] == "2024-12"
    # A changed and a missing month: one back-fill over both, tagged with the release month.
    request = release_request(plan_release("2024-12", everything - {"2024-07"}, {"2023-02"}))
    assert request.job_name == "backfill_job"
    assert request.tags[RANGE_START_TAG] == "2023-02" and request.tags[RANGE_END_TAG] == "2024-07"
    assert request.tags[RELEASE_MONTH_TAG] == "2024-12"
    assert monthly_backfill_then_release.cron_schedule == "0 6 5 * *"
    assert monthly_backfill_then_release.execution_timezone == "Europe/London"
