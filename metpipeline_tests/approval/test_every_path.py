"""Every path to the public enforces every rule, tried the way an insider who has read the code would:
the publish job launched by hand or re-executed before the release time, a weak or exposed ledger key,
script typed into a reason.

Built on the deployment of test_governance_attacks (SQLite state, a local bucket, the real jobs)."""

# ruff: noqa: F811 (the tests take the imported `deployment` fixture by name)

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import sqlalchemy as sa

from metpipeline.governance import ledger, seal
from metpipeline.settings import ConfigError
from metpipeline_tests.approval.test_governance_attacks import (  # noqa: F401 (deployment: the fixture)
    BOROUGH_DIR,
    MONTH,
    decide,
    deployment,
    failure,
    publish,
    published,
    requests_of,
    sense,
    skip_message,
    stage,
)
from metpipeline_tests.sealing import sealed

WARD_DIR = "datasets/mps-ward-level-crime"


def _release_time_hours_ahead(monkeypatch, hours: int = 3) -> None:
    later = datetime.now(UTC).astimezone(ZoneInfo("Europe/London")) + timedelta(hours=hours)
    monkeypatch.setenv("METPIPELINE_RELEASE_TIME", f"{later:%H}:{later:%M}")


def test_the_publish_job_launched_by_hand_before_the_release_time_publishes_nothing(deployment, monkeypatch):
    _release_time_hours_ahead(monkeypatch)
    chashes = stage(deployment)
    assert decide(deployment, "borough", chashes["borough"], "alice.owner").success
    # The approved hash, typed into the Launchpad (or `dagster job execute`): every other rule holds.
    refusal = failure(publish(deployment, "borough", chashes["borough"]))
    assert "is approved for the release time" in refusal and "nothing is published before it" in refusal
    assert not published(deployment)
    monkeypatch.setenv("METPIPELINE_RELEASE_TIME", "immediate")
    assert publish(deployment, "borough", chashes["borough"]).success and published(deployment)


def _publish_job():
    from metpipeline.definitions import defs

    return defs.resolve_job_def("publish_job")


def test_re_executing_an_earlier_publish_run_with_another_dataset_waits_for_the_release_time(
    deployment, monkeypatch, tmp_path
):
    chashes = stage(deployment)
    assert decide(deployment, "borough", chashes["borough"], "alice.owner").success
    job = dg.build_reconstructable_job("metpipeline_tests.approval.test_every_path", "_publish_job")
    config = {"dataset": "borough", "month": MONTH, "candidate_hash": chashes["borough"]}
    with dg.instance_for_test() as instance:
        first = dg.execute_job(
            job, instance, run_config={"ops": {"publish_candidate_op": {"config": config}}}
        )
        assert first.success and published(deployment)
        # Later the same day: the ward candidate is approved, to be published at the release time.
        _release_time_hours_ahead(monkeypatch)
        assert decide(deployment, "ward", chashes["ward"], "carol.other").success
        assert decide(deployment, "ward", chashes["ward"], "dan.deputy").success
        ward = {**config, "dataset": "ward", "candidate_hash": chashes["ward"]}
        again = dg.execute_job(
            job,
            instance,
            run_config={"ops": {"publish_candidate_op": {"config": ward}}},
            reexecution_options=dg.ReexecutionOptions(parent_run_id=first.run_id),
            raise_on_error=False,
        )
        assert not again.success
        assert "is approved for the release time" in failure(again)
    assert not published(deployment, WARD_DIR)


# --- the ledger key ------------------------------------------------------------------------------------


def _key(tmp_path, monkeypatch, content: bytes, mode: int = 0o600, folder_mode: int = 0o700):
    folder = tmp_path / "secrets"
    folder.mkdir(exist_ok=True)
    path = folder / "ledger.key"
    path.write_bytes(content)
    path.chmod(mode)
    folder.chmod(folder_mode)
    monkeypatch.setenv("METPIPELINE_LEDGER_KEY_FILE", str(path))
    return path


GOOD = b"Zk3q9Vb1XwPz0Lr7Yt2Nc8Hm4Jd6Gs5Fa1Qe3Wr"  # 40 bytes of mixed text: a fine key


@pytest.mark.parametrize(
    ("content", "mode", "folder_mode", "words"),
    [
        (GOOD, 0o644, 0o700, ["readable or writable by others (mode 0644)", "chmod 600"]),
        (GOOD, 0o666, 0o777, ["readable or writable by others (mode 0666)", "chmod 600"]),
        (GOOD, 0o600, 0o777, ["folder", "writable by others (mode 0777)", "chmod go-w"]),
        (b"aaaaaaaaaaaaaaaa", 0o600, 0o700, ["16 bytes, fewer than 32", "head -c 32 /dev/urandom"]),
        (b"a" * 48, 0o600, 0o700, ["evidently not random", "head -c 32 /dev/urandom"]),
        (b"0123456789abcdef" * 3, 0o600, 0o700, ["evidently not random"]),
        (b"password" * 5, 0o600, 0o700, ["evidently not random"]),
    ],
)
def test_an_exposed_short_or_guessable_ledger_key_is_refused_in_one_line(
    tmp_path, monkeypatch, content, mode, folder_mode, words
):
    path = _key(tmp_path, monkeypatch, content, mode, folder_mode)
    with pytest.raises(ConfigError) as refused:
        seal.load_key()
    message = str(refused.value)
    assert "\n" not in message and f"METPIPELINE_LEDGER_KEY_FILE={path}" in message
    for word in words:
        assert word in message


def test_a_private_random_key_is_accepted(tmp_path, monkeypatch):
    import base64
    import os

    _key(tmp_path, monkeypatch, base64.b64encode(os.urandom(32)) + b"\n")
    assert len(seal.load_key()) == 44
    _key(tmp_path, monkeypatch, GOOD, 0o600, 0o1777)  # a sticky shared folder (/tmp): nobody can swap it
    assert seal.load_key() == GOOD


def test_a_decision_sealed_by_hand_with_a_weak_key_publishes_nothing(deployment, monkeypatch):
    """The attack as found: a guessable key in use, a decision sealed with it by someone who guessed it."""
    chashes = stage(deployment)
    _key(deployment["tmp"], monkeypatch, b"aaaaaaaaaaaaaaaa")
    refusal = failure(decide(deployment, "borough", chashes["borough"], "alice.owner"))
    assert "METPIPELINE_LEDGER_KEY_FILE" in refusal and "fewer than 32" in refusal
    refusal = failure(publish(deployment, "borough", chashes["borough"]))
    assert "fewer than 32" in refusal
    assert not published(deployment)


# --- text people type, in the HTML the project writes ---------------------------------------------------


def test_a_reason_with_script_is_shown_as_text_in_the_owners_report():
    from metpipeline.governance.acknowledge import Acknowledgement
    from metpipeline.report.build import build_report, render_html

    script = "<script>alert(document.domain)</script>"
    ack = Acknowledgement(
        month=MONTH,
        total=10,
        approver="alice.owner",
        authentication="unauthenticated",
        reason=script,
        registry_sha256="0" * 64,
        run_id="r",
        decided_at=datetime(2024, 4, 2, 10, 0),
    )
    check = {"name": "volume", "passed": True, "severity": "ERROR", "description": ack.describe()}
    page = render_html(build_report(MONTH, [check], {}, None, {"202403": 10}))
    assert "<script>" not in page and "&lt;script&gt;alert(document.domain)&lt;/script&gt;" in page
    assert "<svg" in page  # the chart the report builds itself is still markup


# --- four eyes: every launcher of the bytes, for good -----------------------------------------------------


def _run_as(instance, tags: dict) -> dg.DagsterRun:
    """A finished run in `instance` with these tags, as a back-fill launched in the UI leaves one."""

    @dg.op
    def extract():
        return None

    @dg.job(name="backfill_job")
    def backfill():
        extract()

    result = backfill.execute_in_process(instance=instance, tags=tags)
    return instance.get_run_by_id(result.run_id)


def _stage_in(d, instance, tags, revise=False):
    from metpipeline.approval.assets import release_candidates
    from metpipeline_tests.approval.synthetic import write_release

    write_release(d["resources"]["workarea"].area, MONTH, revise=revise)
    result = dg.materialize(
        [release_candidates], partition_key=MONTH, resources=d["resources"], tags=tags, instance=instance
    )
    meta = result.asset_materializations_for_node("release_candidates")[0].metadata
    return {ds: meta[f"{ds}_content_hash"].value for ds in ("borough", "ward", "lsoa", "flagged")}


def test_the_launcher_of_a_back_fill_cannot_approve_the_release_it_led_to(deployment):
    """(a) A person launches the back-fill; the sensor launches the release after it."""
    from metpipeline.governance import runseal
    from metpipeline.identity import FOLLOWS_RUN_TAG, SIGNED_IN_USER_TAG
    from metpipeline.resources import GovernanceResource
    from metpipeline.runs.release_chain import RELEASE_MONTH_TAG, release_after_backfill

    with dg.instance_for_test() as instance:
        backfill = _run_as(instance, {**sealed("backfill_job", user="alice.owner"), RELEASE_MONTH_TAG: MONTH})
        success = next(
            e.dagster_event
            for e in instance.all_logs(backfill.run_id)
            if e.dagster_event and e.dagster_event.event_type_value == "PIPELINE_SUCCESS"
        )
        request = release_after_backfill(
            dg.build_run_status_sensor_context(
                sensor_name="release_after_backfill",
                dagster_instance=instance,
                dagster_run=backfill,
                dagster_event=success,
                resources={"governance": GovernanceResource()},
            )
        )
        assert SIGNED_IN_USER_TAG not in request.tags  # the release run itself names nobody …
        seal = runseal.read(runseal.load_key(), request.tags[runseal.SEAL_TAG])
        assert (seal["via"], seal["job"], seal["partition"]) == ("sensor", "monthly_release_job", MONTH)
        # … the release job stages (here its staging asset alone, sealed as the sensor seals the release)
        followed = request.tags[FOLLOWS_RUN_TAG]
        assert seal["follows"] == followed == backfill.run_id
        tags = {FOLLOWS_RUN_TAG: followed, **sealed(partition=MONTH, via="sensor", follows=followed)}
        chashes = _stage_in(deployment, instance, tags)
    refusal = failure(decide(deployment, "borough", chashes["borough"], "alice.owner"))
    assert "launched a run that staged this candidate" in refusal  # … but it follows alice's back-fill
    assert decide(deployment, "borough", chashes["borough"], "bob.deputy").success


def test_a_release_following_a_run_the_instance_no_longer_holds_stages_nothing(deployment):
    from metpipeline.identity import FOLLOWS_RUN_TAG

    with dg.instance_for_test() as instance:
        with pytest.raises(dg.Failure, match="who launched it cannot be known"):
            _stage_in(
                deployment,
                instance,
                {FOLLOWS_RUN_TAG: "0f" * 16, **sealed(partition=MONTH, via="sensor", follows="0f" * 16)},
            )
    assert ledger.current_candidate(_engine(deployment), "borough", MONTH) is None


def test_a_typed_follows_tag_makes_nobody_a_launcher(deployment):
    """A run that names another person's run as the one it follows, without the sensor's seal saying so,
    adds nobody to the launchers (else anyone could bar an owner from approving)."""
    from metpipeline.identity import FOLLOWS_RUN_TAG

    with dg.instance_for_test() as instance:
        alices = _run_as(instance, sealed("backfill_job", user="alice.owner"))
        tags = {FOLLOWS_RUN_TAG: alices.run_id, **sealed(partition=MONTH, user="eve")}
        chashes = _stage_in(deployment, instance, tags)
    engine = _engine(deployment)
    assert set(ledger.launchers_of(engine, "borough", MONTH, chashes["borough"])) == {"eve"}


def test_re_running_the_month_with_identical_bytes_keeps_the_first_launcher_out(deployment):
    """(b) Alice launches the release; the schedule (or the CLI, or a sensor) re-runs it, same bytes."""
    first = stage(deployment, launched_by="alice.owner")
    again = stage(deployment)  # no person: the schedule
    assert again == first
    refusal = failure(decide(deployment, "borough", first["borough"], "alice.owner"))
    assert "launched a run that staged this candidate" in refusal
    assert decide(deployment, "borough", first["borough"], "bob.deputy").success
    assert publish(deployment, "borough", first["borough"]).success
    manifest = next((deployment["bucket"] / "datasets/mps-borough-level-crime").rglob("manifest.json"))
    access = json.loads(manifest.read_text())["pre_release_access"]
    assert [a["who"] for a in access] == ["alice.owner", "bob.deputy"]


def _engine(d):
    return d["resources"]["state"].engine()


def test_a_launcher_erased_from_the_staging_table_stops_the_dataset(deployment):
    """(c) Someone with write access to the state database removes the launcher from the staging row."""
    chashes = stage(deployment, launched_by="alice.owner")
    with _engine(deployment).begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER staged_candidates_no_update")
        conn.execute(sa.update(ledger.release_candidates).values(launched_by=None, launchers="[]"))
    refusal = failure(decide(deployment, "borough", chashes["borough"], "alice.owner"))
    assert "altered outside the pipeline" in refusal and "staged_candidates row" in refusal
    assert "seal does not match" in refusal
    assert requests_of(sense(deployment)) == []
    assert "altered outside the pipeline" in failure(publish(deployment, "borough", chashes["borough"]))
    assert not published(deployment)


def test_the_update_of_a_staging_is_refused_by_the_database(deployment):
    stage(deployment, launched_by="alice.owner")
    for statement in (
        sa.update(ledger.release_candidates).values(launched_by=None),
        sa.delete(ledger.release_candidates),
    ):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            with _engine(deployment).begin() as conn:
                conn.execute(statement)


def _publish_a_then_b(d):
    """A approved and published as v1, then B (revised figures) approved and published as v2."""
    a = stage(d)
    assert decide(d, "borough", a["borough"], "alice.owner").success
    assert publish(d, "borough", a["borough"]).success
    b = stage(d, revise=True)
    assert b["borough"] != a["borough"]
    assert decide(d, "borough", b["borough"], "alice.owner").success
    assert publish(d, "borough", b["borough"]).success
    return a["borough"], b["borough"]


def _latest(d) -> dict:
    return json.loads((d["bucket"] / BOROUGH_DIR / "latest.json").read_text())


def test_a_hand_inserted_staging_of_old_figures_does_not_roll_the_public_back(deployment):
    a, b = _publish_a_then_b(deployment)
    engine = _engine(deployment)
    current = ledger.current_candidate(engine, "borough", MONTH)
    with engine.begin() as conn:  # one row, as a database superuser would type it
        conn.execute(
            ledger.release_candidates.insert().values(
                dataset="borough",
                month=MONTH,
                content_hash=a,
                staged_at=ledger.utcnow(),
                run_id="forged",
                launched_by=None,
                checks_passed=True,
                status=ledger.STATUS_AWAITING,
                launchers="[]",
                seq=current.seq + 1,
                prev_mac=current.mac,
                mac="0" * 64,
            )
        )
    assert requests_of(sense(deployment)) == []
    assert "altered outside the pipeline" in failure(publish(deployment, "borough", a))
    assert _latest(deployment)["latest"]["version"] == 2


def test_deleting_the_newest_staging_does_not_roll_the_public_back(deployment):
    a, b = _publish_a_then_b(deployment)
    engine = _engine(deployment)
    with engine.begin() as conn:  # the newest rows leave no gap in the chain
        conn.exec_driver_sql("DROP TRIGGER staged_candidates_no_delete")
        conn.execute(
            sa.delete(ledger.release_candidates).where(ledger.release_candidates.c.content_hash == b)
        )
    assert ledger.current_candidate(engine, "borough", MONTH).content_hash == a
    result = sense(deployment)
    assert requests_of(result) == [] and "only decisions made after v2 was published count" in skip_message(
        result
    )
    assert "decide again" in failure(publish(deployment, "borough", a))
    assert _latest(deployment)["latest"]["version"] == 2


def test_figures_that_come_back_are_published_only_on_a_decision_made_after_the_version_they_replace(
    deployment,
):
    a, b = _publish_a_then_b(deployment)
    again = stage(deployment)  # the source goes back to A's figures: the pipeline stages A's bytes again
    assert again["borough"] == a
    refusal = failure(publish(deployment, "borough", a))
    assert "0 of 1" in refusal and "only decisions made after v2 was published count" in refusal
    assert requests_of(sense(deployment)) == []
    # The owner decides again, now that v2 is public: the same person, the same bytes, a new decision.
    assert decide(deployment, "borough", a, "alice.owner").success
    assert "already decided" in failure(decide(deployment, "borough", a, "alice.owner"))
    assert publish(deployment, "borough", a).success
    latest = _latest(deployment)["latest"]
    assert latest["version"] == 3 and latest.get("reverts_to_version") == 1


# --- volume acknowledgements under the registry in force --------------------------------------------------


def test_a_volume_acknowledgement_counts_only_under_the_registry_it_was_made_under(engine, key, owners_file):
    from metpipeline.governance import acknowledge
    from metpipeline.governance.registry import load_registry

    before = load_registry(owners_file)
    acknowledge.record(engine, key, before, MONTH, 0, "alice.owner", "feed outage confirmed")
    assert acknowledge.find(engine, key, before, MONTH, 0) is not None
    owners_file.write_text(owners_file.read_text().replace("version: 7", "version: 8"))
    after = load_registry(owners_file)
    assert acknowledge.find(engine, key, after, MONTH, 0) is None  # the owners decide again under it
    assert [a.approver for a in acknowledge.stale(engine, key, after, MONTH, 0)] == ["alice.owner"]
    acknowledge.record(engine, key, after, MONTH, 0, "alice.owner", "confirmed again under version 8")
    assert acknowledge.find(engine, key, after, MONTH, 0).reason == "confirmed again under version 8"


def test_typed_text_is_never_markup_in_html_nor_a_formula_in_a_csv_or_workbook(deployment):
    """A comment, typed by an owner, that is both script and a spreadsheet formula, decided and published:
    it reaches no CSV or workbook, and any HTML the project writes shows it as text."""
    import zipfile

    typed = '=HYPERLINK("http://evil.example","x")<script>alert(document.domain)</script>'
    chashes = stage(deployment)
    config = {
        "dataset": "borough",
        "month": MONTH,
        "decision": "approve",
        "approver": "alice.owner",
        "comment": typed,
        "candidate_hash": chashes["borough"],
    }
    from metpipeline.approval.jobs import record_approval

    run_config = {"ops": {"record_decision_op": {"config": config}}}
    assert record_approval.execute_in_process(
        run_config=run_config,
        resources=deployment["resources"],
        tags=sealed("record_approval", run_config=run_config),
    ).success
    assert publish(deployment, "borough", chashes["borough"]).success
    written = [p for p in deployment["bucket"].rglob("*") if p.is_file()]
    written += [p for p in (deployment["tmp"] / "work").rglob("*") if p.is_file()]
    for path in written:
        data = path.read_bytes()
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as book:
                data = b"".join(book.read(n) for n in book.namelist())
                assert b"<f>" not in data, f"{path.name} holds a formula"
        if path.suffix in (".csv", ".gz", ".xlsx", ".parquet"):
            assert b"HYPERLINK" not in data and b"evil.example" not in data, path
        if path.suffix == ".html":
            assert b"<script>alert" not in data, path


def test_deleting_a_newer_unpublished_staging_does_not_make_older_figures_current(deployment):
    """A approved; B (corrected) staged after it; the newest row (B) deleted by a database owner, which
    leaves no gap in the chain. Dagster's event log still records B's staging: A is not published."""
    from metpipeline.publish.jobs import publish_job
    from metpipeline.publish.sensors import approval_sensor
    from metpipeline_tests.deployment import sensor_resources

    with dg.instance_for_test() as instance:
        a = _stage_in(deployment, instance, sealed(partition=MONTH))["borough"]
        assert decide(deployment, "borough", a, "alice.owner").success
        b = _stage_in(deployment, instance, sealed(partition=MONTH), revise=True)["borough"]
        assert b != a
        engine = _engine(deployment)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER staged_candidates_no_delete")
            conn.execute(
                sa.delete(ledger.release_candidates).where(ledger.release_candidates.c.content_hash == b)
            )
        assert ledger.current_candidate(engine, "borough", MONTH).content_hash == a
        assert (
            ledger.verify_candidates(engine, deployment["resources"]["governance"].ledger_key(), "borough")
            == []
        )
        result = approval_sensor(
            dg.build_sensor_context(instance=instance, resources=sensor_resources(deployment["resources"]))
        )
        assert requests_of(result) == [] and "was removed from the state database" in skip_message(result)
        config = {"dataset": "borough", "month": MONTH, "candidate_hash": a}
        refused = publish_job.execute_in_process(
            run_config={"ops": {"publish_candidate_op": {"config": config}}},
            resources=deployment["resources"],
            instance=instance,
            raise_on_error=False,
        )
        assert "was removed from the state database" in failure(refused)
    assert not published(deployment)
