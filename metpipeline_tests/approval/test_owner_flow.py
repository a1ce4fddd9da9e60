"""The owner's flow without a browser: the notification (a real SMTP server and a real HTTP server on
loopback), the decision job (config built from the current candidates, binding to what was shown, the
checklist), plain refusals, reminders, the release time and the pre-release access list."""

import json
from pathlib import Path

import dagster as dg
import pytest

from metpipeline.approval.assets import release_candidates
from metpipeline.approval.decision_job import decide_release, decision_config
from metpipeline.approval.reminders import approval_reminder
from metpipeline.governance import ledger
from metpipeline.publish.jobs import publish_job
from metpipeline.publish.sensors import approval_sensor
from metpipeline.resources import default_resources
from metpipeline_tests.approval.synthetic import write_release
from metpipeline_tests.deployment import (
    checklist_items,
    publication,
    run_requests,
    sensor_resources,
    skip_message,
)
from metpipeline_tests.fixtures.mail import Mailbox
from metpipeline_tests.fixtures.webhook import Hook
from metpipeline_tests.sealing import sealed

MONTH = "2024-03"
REGISTRY = """
version: 1
people:
  alice.owner: {display_name: "Alice Owner (test)", email: alice@example.test}
  bob.deputy: {display_name: "Bob Deputy (test)", email: bob@example.test}
  carol.other: {display_name: "Carol Other (test)"}
datasets:
  borough: {owners: [alice.owner], deputies: [bob.deputy]}
  ward: {owners: [carol.other]}
  lsoa: {owners: [carol.other]}
  flagged: {owners: [alice.owner]}
"""
CHECKLIST = {
    "checks_read": True,
    "warnings_understood": True,
    "revisions_explained": True,
    "disclosure_read": True,
}


@pytest.fixture
def deployment(tmp_path, monkeypatch):
    owners = tmp_path / "owners.yaml"
    owners.write_text(REGISTRY)
    for name, value in {
        "METPIPELINE_VAR_DIR": tmp_path,
        "METPIPELINE_STATE_URL": f"sqlite:///{tmp_path / 'state.sqlite'}",
        "METPIPELINE_WORK_DIR": tmp_path / "work",
        "METPIPELINE_BUCKET_URL": tmp_path / "bucket",
        "METPIPELINE_OWNERS_FILE": owners,
        "METPIPELINE_UI_BASE_URL": "https://dagster.example.test",
        "METPIPELINE_RELEASE_TIME": "immediate",
    }.items():
        monkeypatch.setenv(name, str(value))
    for name in ("METPIPELINE_SMTP_HOST", "METPIPELINE_WEBHOOK_URL", "METPIPELINE_IDENTITY_HEADER"):
        monkeypatch.delenv(name, raising=False)
    return dict(default_resources())


def stage(resources, revise=False):
    write_release(resources["workarea"].area, MONTH, revise=revise)
    result = dg.materialize(
        [release_candidates], partition_key=MONTH, resources=resources, tags=sealed(partition=MONTH)
    )
    return result.asset_materializations_for_node("release_candidates")[0].metadata


def decide(resources, config_override=None, instance=None):
    config = decision_config(MONTH, _shown(resources), checklist_items())["ops"]["record_decisions_op"][
        "config"
    ]
    config.update(config_override or {})
    return decide_release.execute_in_process(
        tags=sealed("decide_release", partition=MONTH),
        run_config={"ops": {"record_decisions_op": {"config": config}}},
        resources=resources,
        partition_key=MONTH,
        instance=instance,
        raise_on_error=False,
    )


def _shown(resources):
    from metpipeline.approval.decision_job import current_short_hashes

    return current_short_hashes(resources["state"].engine(), MONTH)


def failure(result) -> str:
    assert not result.success
    return next(e for e in result.all_events if e.is_step_failure).step_failure_data.error.message


def test_staging_notifies_the_owners_by_mail_and_webhook_with_figures_and_the_decision_link(
    deployment, monkeypatch
):
    with Mailbox() as mailbox, Hook() as hook:
        monkeypatch.setenv("METPIPELINE_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("METPIPELINE_SMTP_PORT", str(mailbox.port))
        monkeypatch.setenv("METPIPELINE_WEBHOOK_URL", hook.url)
        meta = stage(deployment)
    assert meta["notification"].value["email"] == "sent to 2 recipient(s)"
    assert meta["notification"].value["webhook"] == "posted (HTTP 200)"
    ((recipients, mail),) = mailbox.messages
    assert sorted(recipients) == ["alice@example.test", "bob@example.test"]  # carol has no address
    body = mail.get_content()
    assert MONTH in mail["Subject"] and "crimes counted" in body and "cells suppressed" in body
    assert f"https://dagster.example.test/approvals/{MONTH}" in body  # the decision page
    assert "/work/" not in body and "/tmp/" not in body  # no server path reaches an owner
    (posted,) = hook.bodies
    assert posted["link"] == meta["decide"].value and MONTH in posted["text"]


def test_a_failing_notifier_never_blocks_the_release(deployment, monkeypatch):
    with Hook(status=500) as hook:
        monkeypatch.setenv("METPIPELINE_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("METPIPELINE_SMTP_PORT", "1")  # nothing listens
        monkeypatch.setenv("METPIPELINE_WEBHOOK_URL", hook.url)
        meta = stage(deployment)  # succeeded
    outcome = meta["notification"].value
    assert outcome["email"].startswith("failed: ") and outcome["webhook"].startswith("failed: HTTPError")
    assert ledger.current_candidate(deployment["state"].engine(), "borough", MONTH) is not None


def test_notifications_are_off_by_default_except_a_log_line(deployment):
    outcome = stage(deployment)["notification"].value
    assert (
        outcome["log"] == "written"
        and outcome["email"].startswith("off")
        and outcome["webhook"].startswith("off")
    )


def test_the_report_is_in_the_ui_in_plain_words_with_values(deployment):
    from metpipeline.approval.assets import check_plain_words
    from metpipeline.approval.release_notice import report_markdown

    assert "all checks passed" in stage(deployment)["release_report"].value
    # The shape of a real report.json (a release of the embedded DataMart), shortened.
    report = {
        "month": "2026-11",
        "status": "pass",
        "counts": {"fail": 0, "pass": 2, "warn": 0},
        "checks": [
            {"name": "cris_key_unique", "outcome": "pass", "passed": True, "description": "passed"},
            {"name": "disclosure_threshold", "outcome": "pass", "passed": True, "description": "0 cells"},
        ],
        "warnings": ["THEFT: +31% against the trailing mean"],
        "disclosure": {
            "policy_version": "2025.1",
            "suppressed_cells": {"ward": {"primary": 42458, "secondary": 0}},
            "withheld_categories": {"lsoa": [{"major": "SEXUAL OFFENCES", "minor": "RAPE"}]},
        },
        "reconciliation": {
            "counted": 75810,
            "systems": {"CONNECT": {"extracted": 78912, "counted": 75810, "excluded": {"cancelled": 1719}}},
        },
        "volume": {"202610": 77574, "202611": 75810},
    }
    text = report_markdown(report, check_plain_words())
    assert "75,810 crimes counted, -2.3% against the previous month (77,574)" in text
    assert "every record's key appears once" in text  # the check in plain words
    assert "| 2026-10 | 77,574 |" in text and "| 2026-11 | 75,810 |" in text  # volume with values
    assert "| CONNECT | 78,912 | 75,810 | cancelled 1,719 |" in text
    assert "| ward | 42,458 | 0 |" in text and "SEXUAL OFFENCES / RAPE" in text
    assert "THEFT: +31% against the trailing mean" in text


def test_one_decision_for_every_dataset_the_owner_owns_nothing_to_paste(deployment):
    stage(deployment)
    result = decide(deployment, {"checklist": CHECKLIST, "approver": "Alice.Owner", "comment": "read it all"})
    assert result.success
    engine = deployment["state"].engine()
    decided = {
        ds
        for ds in ("borough", "ward", "lsoa", "flagged")
        if ledger.decisions_for(engine, ds, MONTH, ledger.current_candidate(engine, ds, MONTH).content_hash)
    }
    assert decided == {"borough", "flagged"}  # ward and LSOA are carol's: left for her
    (row,) = ledger.decisions_for(
        engine, "borough", MONTH, ledger.current_candidate(engine, "borough", MONTH).content_hash
    )
    answers = json.loads(row.checklist)
    assert answers["version"] == "2026.1" and all(answers["answers"].values())


def test_the_decision_binds_to_the_candidates_shown(deployment):
    stage(deployment)
    shown = _shown(deployment)
    stage(deployment, revise=True)  # rebuilt between opening the decision and launching it
    config = {"candidates": shown, "checklist": CHECKLIST, "approver": "alice.owner"}
    refusal = failure(decide(deployment, config))
    assert "was rebuilt after you opened this decision; open the decision again" in refusal
    current = ledger.current_candidate(deployment["state"].engine(), "borough", MONTH).content_hash
    assert current[:16] not in refusal


def test_approving_needs_every_checklist_answer_and_refusals_are_one_plain_sentence(deployment):
    stage(deployment)
    refusal = failure(decide(deployment, {"approver": "alice.owner"}))
    assert "answer every checklist item with true before approving" in refusal
    assert "Traceback" not in refusal and "\n" not in refusal.strip()
    rejected = decide(deployment, {"approver": "alice.owner", "decisions": {"BOROUGH": "Reject"}})
    assert rejected.success  # a rejection needs no checklist; dataset names in any case


def test_the_release_time_holds_publication_until_it_comes(deployment, monkeypatch):
    from datetime import UTC, datetime

    from metpipeline.publish.catalog import publication_time

    approved = datetime(2024, 4, 6, 10, 0, tzinfo=UTC)  # 11:00 London (BST)
    monkeypatch.setenv("METPIPELINE_RELEASE_TIME", "09:30")
    release_time = publication().release_time  # as the sensor and the publish job read it
    assert publication_time(approved, release_time).isoformat() == "2024-04-07T09:30:00+01:00"
    at_seven = datetime(2024, 4, 6, 7, 0, tzinfo=UTC)
    assert publication_time(at_seven, release_time).isoformat() == "2024-04-06T09:30:00+01:00"

    stage(deployment)
    assert decide(deployment, {"checklist": CHECKLIST, "approver": "alice.owner"}).success
    monkeypatch.setenv("METPIPELINE_RELEASE_TIME", f"{(datetime.now(UTC).hour + 3) % 24:02d}:00")
    held = approval_sensor(
        dg.build_sensor_context(
            instance=dg.DagsterInstance.ephemeral(), resources=sensor_resources(deployment)
        )
    )
    assert not run_requests(held) and "approved; published at the release time" in skip_message(held)
    monkeypatch.setenv("METPIPELINE_RELEASE_TIME", "immediate")
    instance = dg.DagsterInstance.ephemeral()
    requests = approval_sensor(
        dg.build_sensor_context(instance=instance, resources=sensor_resources(deployment))
    ).run_requests
    assert {r.tags["metpipeline/dataset"] for r in requests} == {"borough", "flagged"}
    borough = next(r for r in requests if r.tags["metpipeline/dataset"] == "borough")
    assert publish_job.execute_in_process(
        run_config=borough.run_config, tags=borough.tags, resources=deployment, instance=instance
    ).success
    manifest = next(Path(deployment["bucket"].url).rglob("manifest.json"))
    access = json.loads(manifest.read_text())["pre_release_access"]
    assert [a["who"] for a in access] == ["scheduled release run (no person)", "alice.owner"]
    assert access[1]["role"] == "data owner (approve, unauthenticated)"


def _three_days_later():
    from datetime import datetime, timedelta

    class Later(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return datetime.now(tz) + timedelta(days=3)

    return Later


def test_owners_are_reminded_after_the_configured_days_and_a_missed_date_is_public(deployment, monkeypatch):
    stage(deployment)
    with Mailbox() as mailbox:
        monkeypatch.setenv("METPIPELINE_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("METPIPELINE_SMTP_PORT", str(mailbox.port))
        monkeypatch.setenv("METPIPELINE_REMINDER_DAYS", "2")
        resources = {k: deployment[k] for k in ("state", "governance", "bucket")}
        first = approval_reminder(dg.build_sensor_context(resources=resources))
        assert "no release waiting" in first.skip_message and not mailbox.messages  # staged just now
        # Three days pass (the ledger is append-only: the clock moves, not the staging time).
        monkeypatch.setattr("metpipeline.approval.reminders.datetime", _three_days_later())
        context = dg.build_sensor_context(resources=resources)
        reminded = approval_reminder(context)
        assert "reminded the owners of 2024-03" in reminded.skip_message
        ((_, mail),) = mailbox.messages
        assert "Reminder" in mail["Subject"] and "waited 3 day(s)" in mail.get_content()
        again = approval_reminder(dg.build_sensor_context(resources=resources, cursor=context.cursor))
        assert "reminded" not in again.skip_message and len(mailbox.messages) == 1  # once a day

    # A release date that passed without a new release is marked in catalog.json.
    from datetime import UTC, datetime

    from metpipeline.approval.reminders import mark_overdue
    from metpipeline.bucket import LocalStore

    store = LocalStore(deployment["bucket"].url)
    catalog = {
        "datasets": [
            {"dataset": "mps-borough-level-crime", "next_scheduled_release": "2024-05-05T06:00:00+01:00"}
        ]
    }
    store.put_if_match("catalog.json", json.dumps(catalog).encode(), None)
    assert mark_overdue(store, datetime(2024, 5, 6, tzinfo=UTC)) == ["mps-borough-level-crime"]
    entry = json.loads(store.get("catalog.json").data)["datasets"][0]
    assert entry["release_overdue_since"] == "2024-05-05T06:00:00+01:00"


def test_on_s3_the_html_report_is_at_a_link_the_browser_opens(deployment, s3_server, monkeypatch):
    import urllib.request
    import uuid

    monkeypatch.setenv("METPIPELINE_BUCKET_URL", f"s3://{s3_server.bucket}/r-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("METPIPELINE_S3_ENDPOINT_URL", s3_server.endpoint_url)
    meta = stage(deployment)
    link = meta["report_html"].value
    assert "Signature=" in link and "/_internal/reports/2024-03/" in link  # never under datasets/
    with urllib.request.urlopen(link, timeout=10) as response:  # no credentials: the link is enough
        page = response.read()
    area = deployment["workarea"].area
    assert page == area.release_dir(MONTH, "report", "report.html").read_bytes()


def test_a_local_bucket_has_no_report_link_and_shows_no_path(deployment):
    meta = stage(deployment)
    assert "report_html" not in meta
    assert all("/work/" not in str(v.value) for v in meta.values())


def test_record_approval_takes_dataset_names_in_any_case(deployment):
    from metpipeline.approval.jobs import record_approval

    stage(deployment)
    chash = ledger.current_candidate(deployment["state"].engine(), "borough", MONTH).content_hash
    config = {"dataset": "Borough", "month": MONTH, "approver": "alice.owner", "candidate_hash": chash}
    result = record_approval.execute_in_process(
        tags=sealed("record_approval"),
        run_config={"ops": {"record_decision_op": {"config": config}}},
        resources=deployment,
    )
    assert result.success
    wrong = record_approval.execute_in_process(
        tags=sealed("record_approval"),
        run_config={"ops": {"record_decision_op": {"config": {**config, "dataset": "boroughs"}}}},
        resources=deployment,
        raise_on_error=False,
    )
    assert not wrong.success
    failure = next(e for e in wrong.all_events if e.is_step_failure).step_failure_data.error
    assert "not one of borough, ward, lsoa, flagged" in str(failure.to_string())


# The Launchpad: `metpipeline ui` reviews a decision when Launch is pressed (approval/launch_review.py), so
# a refusal is one sentence in the Launchpad's dialog and no run is created.

LAUNCH = """mutation LaunchPipelineExecution($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    ... on RunConfigValidationInvalid { errors { message } } } }"""


def press_launch(job: str, op: str, config: dict, tags=()) -> tuple[int, dict | None]:
    """POST the Launchpad's mutation through the review middleware; the refusal, or None if it passed."""
    import asyncio

    import yaml

    from metpipeline.commands.webserver import LaunchReviewMiddleware

    reached = []

    async def dagster(scope, receive, send):  # stands in for the webserver behind the review
        reached.append((await receive())["body"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    body = json.dumps(
        {
            "query": LAUNCH,
            "variables": {
                "executionParams": {
                    "selector": {"repositoryLocationName": "metpipeline", "jobName": job},
                    # The Launchpad sends its editor's YAML text as it stands.
                    "runConfigData": yaml.safe_dump({"ops": {op: {"config": config}}}),
                    "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags]},
                }
            },
        }
    ).encode()
    sent = []

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/graphql", "headers": [], "query_string": b""}
    asyncio.run(LaunchReviewMiddleware(dagster)(scope, receive, send))
    if reached:
        return 200, None
    answer = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))["data"]["launchPipelineExecution"]
    assert answer["__typename"] == "RunConfigValidationInvalid"
    (error,) = answer["errors"]
    return sent[0]["status"], error["message"]


def opened(resources, **override):
    config = decision_config(MONTH, _shown(resources), checklist_items())["ops"]["record_decisions_op"][
        "config"
    ]
    return {**config, **override}


def test_a_decision_that_would_be_refused_is_answered_on_the_launchpad_in_one_sentence(deployment):
    stage(deployment)
    shown = _shown(deployment)
    current = ledger.current_candidate(deployment["state"].engine(), "borough", MONTH).content_hash
    cases = {
        "answer every checklist item with true before approving": opened(deployment, approver="alice.owner"),
        "'dave.nobody' is not a registered name": opened(
            deployment, approver="dave.nobody", checklist=CHECKLIST
        ),
        "write your registered name as `approver`": opened(deployment, checklist=CHECKLIST),
        "`month` is missing": {k: v for k, v in opened(deployment).items() if k != "month"},
    }
    for expected, config in cases.items():
        status, refusal = press_launch("decide_release", "record_decisions_op", config)
        assert status == 200 and refusal is not None, expected
        assert expected in refusal, refusal
        assert "\n" not in refusal and "Traceback" not in refusal and current[:12] not in refusal
    # Rebuilt between opening and launching: refused at the launch, without telling the new hash.
    stage(deployment, revise=True)
    config = opened(deployment, candidates=shown, approver="alice.owner", checklist=CHECKLIST)
    _, refusal = press_launch("decide_release", "record_decisions_op", config)
    new = ledger.current_candidate(deployment["state"].engine(), "borough", MONTH).content_hash
    assert "was rebuilt after you opened this decision" in refusal and new[:12] not in refusal
    # Nothing was recorded by any of it; a good decision goes through to the webserver untouched.
    engine = deployment["state"].engine()
    assert not ledger.decisions_for(engine, "borough", MONTH, new)
    good = opened(deployment, approver="Alice.Owner", checklist=CHECKLIST)
    assert press_launch("decide_release", "record_decisions_op", good) == (200, None)
    assert not ledger.decisions_for(engine, "borough", MONTH, new)  # the review records nothing


def test_record_approval_refusals_on_the_launchpad_are_one_sentence_too(deployment):
    stage(deployment)
    chash = ledger.current_candidate(deployment["state"].engine(), "borough", MONTH).content_hash
    base = {"dataset": "Borough", "month": MONTH, "approver": "alice.owner", "candidate_hash": chash}
    assert press_launch("record_approval", "record_decision_op", base) == (200, None)
    cases = {
        "not one of borough, ward, lsoa, flagged": {**base, "dataset": "boroughs"},
        "decision: Input should be 'approve' or 'reject'": {**base, "decision": "Approve!"},
        "'mallory' is not registered to decide on the borough dataset": {**base, "approver": "mallory"},
        "is not the current candidate": {**base, "candidate_hash": "0" * 64},
        "month '2024-3' must be YYYY-MM": {**base, "month": "2024-3"},
    }
    for expected, config in cases.items():
        _, refusal = press_launch("record_approval", "record_decision_op", config)
        assert refusal is not None and expected in refusal, (expected, refusal)
        assert "\n" not in refusal and chash[:12] not in refusal


def test_other_launches_pass_the_review_untouched(deployment):
    # A job that is not a decision, and a decision whose YAML Dagster's own validation will answer.
    assert press_launch("monthly_release", "anything", {"x": 1}) == (200, None)
    assert press_launch("decide_release", "another_op", {"month": MONTH}) == (200, None)


def test_a_re_run_with_the_same_bytes_asks_nobody_again_and_publication_is_announced(deployment, monkeypatch):
    with Mailbox() as mailbox:
        monkeypatch.setenv("METPIPELINE_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("METPIPELINE_SMTP_PORT", str(mailbox.port))
        stage(deployment)
        again = stage(deployment)  # the schedule re-runs the month: identical bytes
        assert "not sent" in again["notification"].value
        assert len(mailbox.messages) == 1
        assert decide(deployment, {"checklist": CHECKLIST, "approver": "alice.owner"}).success
        instance = dg.DagsterInstance.ephemeral()
        requests = approval_sensor(
            dg.build_sensor_context(instance=instance, resources=sensor_resources(deployment))
        ).run_requests
        borough = next(r for r in requests if r.tags["metpipeline/dataset"] == "borough")
        assert publish_job.execute_in_process(
            run_config=borough.run_config, tags=borough.tags, resources=deployment, instance=instance
        ).success
        published = [m for _, m in mailbox.messages if "published (version 1)" in m["Subject"]]
        assert len(published) == 1 and "borough" in published[0]["Subject"]


@pytest.mark.parametrize(
    ("override", "words"),
    [
        (
            {"approver": "alice.owner", "decisions": {"borogh": "approve"}},
            "borogh: there is no such dataset (did you mean borough?)",
        ),
        ({"approver": "alice.ownr"}, "'alice.ownr' is not a registered name (did you mean alice.owner?)"),
        (
            {"approver": "carol.other", "decisions": {"borough": "approve"}},
            "carol.other is not an owner or deputy of borough "
            "(who decides — borough: alice.owner, bob.deputy)",
        ),
    ],
)
def test_a_wrong_decision_says_what_is_wrong_in_plain_words(deployment, override, words):
    stage(deployment)
    refusal = failure(decide(deployment, {"checklist": CHECKLIST, **override}))
    assert words in refusal, refusal
    assert (
        "rebuilt" not in refusal
        and "Traceback" not in refusal
        and "write your registered name" not in refusal
    )
