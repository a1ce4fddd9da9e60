"""Governance, tried the way an attacker would: run config, the state database, the registry, the files.

Each test drives the real jobs, sensor and ledger (in process, on SQLite and a local bucket) and asserts that
nothing reaches the bucket that the registered owners did not approve, byte for byte.
"""

import hashlib
import json

import dagster as dg
import pytest
import sqlalchemy as sa

from metpipeline.approval.assets import release_candidates
from metpipeline.approval.jobs import record_approval
from metpipeline.governance import ledger
from metpipeline.publish.jobs import publish_job
from metpipeline.publish.sensors import approval_sensor
from metpipeline.resources import default_resources
from metpipeline_tests.approval.synthetic import write_release
from metpipeline_tests.deployment import sensor_resources
from metpipeline_tests.sealing import sealed

MONTH = "2024-03"
BOROUGH_DIR = "datasets/mps-borough-level-crime"
REGISTRY = """
version: 3
people:
  alice.owner: {display_name: "Alice Owner (test)"}
  bob.deputy: {display_name: "Bob Deputy (test)"}
  carol.other: {display_name: "Carol Other (test)"}
  dan.deputy: {display_name: "Dan Deputy (test)"}
datasets:
  borough: {owners: [alice.owner], deputies: [bob.deputy]}
  ward: {owners: [carol.other], deputies: [dan.deputy], approvals_required: 2}
  lsoa: {owners: [carol.other]}
  flagged: {owners: [alice.owner]}
"""


@pytest.fixture
def deployment(tmp_path, monkeypatch):
    """A deployment set in the environment, as production sets it; returns its resources and paths."""
    owners = tmp_path / "owners.yaml"
    owners.write_text(REGISTRY)
    env = {
        "METPIPELINE_VAR_DIR": tmp_path,
        "METPIPELINE_STATE_URL": f"sqlite:///{tmp_path / 'state.sqlite'}",
        "METPIPELINE_WORK_DIR": tmp_path / "work",
        "METPIPELINE_BUCKET_URL": tmp_path / "bucket",
        "METPIPELINE_OWNERS_FILE": owners,
        "METPIPELINE_RELEASE_TIME": "immediate",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.delenv("METPIPELINE_IDENTITY_HEADER", raising=False)
    resources = dict(default_resources())
    return {"resources": resources, "owners": owners, "bucket": tmp_path / "bucket", "tmp": tmp_path}


def stage(d, launched_by=None, revise=False):
    write_release(d["resources"]["workarea"].area, MONTH, revise=revise)
    tags = sealed(partition=MONTH, user=launched_by)  # as `metpipeline ui` seals a launch
    result = dg.materialize([release_candidates], partition_key=MONTH, resources=d["resources"], tags=tags)
    meta = result.asset_materializations_for_node("release_candidates")[0].metadata
    return {ds: meta[f"{ds}_content_hash"].value for ds in ("borough", "ward", "lsoa", "flagged")}


def decide(d, dataset, chash, approver, decision="approve", signed_in=None):
    """The decision job run as `metpipeline ui` would launch it for the signed-in user `signed_in`."""
    config = {
        "dataset": dataset,
        "month": MONTH,
        "decision": decision,
        "approver": approver,
        "comment": "read the report",
        "candidate_hash": chash,
    }
    run_config = {"ops": {"record_decision_op": {"config": config}}}
    return record_approval.execute_in_process(
        run_config=run_config,
        resources=d["resources"],
        tags=sealed("record_approval", run_config=run_config, user=signed_in),
        raise_on_error=False,
    )


def sense(d, instance=None):
    instance = instance or dg.DagsterInstance.ephemeral()
    return approval_sensor(
        dg.build_sensor_context(instance=instance, resources=sensor_resources(d["resources"]))
    )


def publish(d, dataset, chash):
    config = {"dataset": dataset, "month": MONTH, "candidate_hash": chash}
    return publish_job.execute_in_process(
        run_config={"ops": {"publish_candidate_op": {"config": config}}},
        resources=d["resources"],
        raise_on_error=False,
    )


def failure(result) -> str:
    assert not result.success
    return next(e for e in result.all_events if e.is_step_failure).step_failure_data.error.message


def published(d, slug_dir=BOROUGH_DIR) -> bool:
    return (d["bucket"] / slug_dir / MONTH).exists()


def requests_of(result):
    return list(getattr(result, "run_requests", None) or [])


def skip_message(result) -> str:
    reason = result.skip_reason if isinstance(result, dg.SensorResult) else result
    return reason.skip_message if reason else ""


# --- 1. governance is not run config --------------------------------------------------------------------


def test_no_job_accepts_run_config_for_governance_resources():
    from metpipeline.definitions import defs

    repo = defs.get_repository_def()
    assert repo.job_names, "no jobs"
    overrides = {
        "governance": {"owners_file": "metpipeline/approval/owners.embedded.yaml", "policy_file": "x"},
        "state": {"url": "sqlite:///elsewhere.sqlite"},
        "bucket": {"url": "/tmp/anywhere", "endpoint_url": "http://127.0.0.1:1"},
        "workarea": {"root": "/tmp/other"},
        "datamart": {"url": "sqlite:///other.sqlite"},
    }
    tried = 0
    for name in repo.job_names:
        job = repo.get_job(name)
        for resource, config in overrides.items():
            if resource not in job.resource_defs:
                continue
            tried += 1
            with pytest.raises(dg.DagsterInvalidConfigError, match="unexpected config entr"):
                dg.validate_run_config(job, {"resources": {resource: {"config": config}}})
    assert tried >= 10  # every job that uses these resources was tried


def test_the_launchpad_attack_is_refused_before_the_run_starts(deployment):
    # The reported attack: point record_approval at the packaged demo registry and approve as demo.owner.
    chashes = stage(deployment)
    config = {
        "ops": {
            "record_decision_op": {
                "config": {
                    "dataset": "borough",
                    "month": MONTH,
                    "approver": "demo.owner",
                    "candidate_hash": chashes["borough"],
                }
            }
        },
        "resources": {"governance": {"config": {"owners_file": "metpipeline/approval/owners.embedded.yaml"}}},
    }
    instance = dg.DagsterInstance.ephemeral()
    with pytest.raises(dg.DagsterInvalidConfigError):
        record_approval.execute_in_process(
            run_config=config, instance=instance, resources=deployment["resources"]
        )
    assert instance.get_runs() == []  # no run was even created
    assert ledger.decisions_after(deployment["resources"]["state"].engine(), 0) == []


def test_resources_say_where_their_settings_live():
    for resource in default_resources().values():
        assert "Set by the deployment (environment variable" in (resource.__doc__ or "")
        assert "METPIPELINE_" in (resource.__doc__ or "")


# --- 2 and 3. the ledger cannot be forged, edited or truncated ----------------------------------------


def _engine(d) -> sa.Engine:
    return d["resources"]["state"].engine()


def test_a_hand_typed_approval_is_not_published(deployment):
    chashes = stage(deployment)
    engine = _engine(deployment)
    ledger.ensure_schema(engine)
    with engine.begin() as conn:  # as someone with write access to the state database would
        conn.execute(
            ledger.approval_decisions.insert().values(
                dataset="borough",
                seq=1,
                month=MONTH,
                content_hash=chashes["borough"],
                decision="approve",
                approver="alice.owner",  # even a registered name
                authentication="sign-in proxy",
                signed_in_user="alice.owner",
                comment="",
                registry_path=str(deployment["owners"].resolve()),
                registry_sha256=hashlib.sha256(deployment["owners"].read_bytes()).hexdigest(),
                registry_version="3",
                run_id="forged",
                decided_at=ledger.utcnow(),
                prev_mac="",
                mac="0" * 64,
            )
        )
    result = sense(deployment)
    assert requests_of(result) == []
    assert "altered outside the pipeline" in skip_message(result)
    assert "row id=1 (borough decision #1" in skip_message(result)
    refusal = failure(publish(deployment, "borough", chashes["borough"]))
    assert "seal does not match" in refusal and "row id=1" in refusal
    assert not published(deployment)
    # And the owner cannot approve on top of a broken ledger either: an administrator must look first.
    assert "altered outside the pipeline" in failure(
        decide(deployment, "borough", chashes["borough"], "bob.deputy")
    )


def test_dropping_the_trigger_and_rewriting_a_rejection_is_detected(deployment):
    chashes = stage(deployment)
    assert decide(deployment, "borough", chashes["borough"], "alice.owner", "reject").success
    engine = _engine(deployment)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER owner_decisions_no_update")
        conn.execute(sa.update(ledger.approval_decisions).values(decision="approve"))
    result = sense(deployment)
    assert requests_of(result) == [] and "seal does not match its contents" in skip_message(result)
    assert "seal does not match" in failure(publish(deployment, "borough", chashes["borough"]))
    assert not published(deployment)


def test_deleting_a_decision_breaks_the_chain(deployment):
    first = stage(deployment)
    assert decide(deployment, "borough", first["borough"], "alice.owner", "reject").success
    second = stage(deployment, revise=True)
    assert decide(deployment, "borough", second["borough"], "alice.owner").success
    engine = _engine(deployment)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER owner_decisions_no_delete")
        conn.execute(sa.delete(ledger.approval_decisions).where(ledger.approval_decisions.c.seq == 1))
    problems = ledger.verify_chain(engine, deployment["resources"]["governance"].ledger_key(), "borough")
    assert problems and "decision #1 is missing before it" in problems[0]
    assert "decision #1 is missing" in failure(publish(deployment, "borough", second["borough"]))
    # Other datasets' chains are intact and keep working.
    assert ledger.verify_chain(engine, deployment["resources"]["governance"].ledger_key(), "flagged") == []


def test_a_decision_sealed_with_another_key_is_refused(deployment, monkeypatch):
    chashes = stage(deployment)
    assert decide(deployment, "borough", chashes["borough"], "alice.owner").success
    other = deployment["tmp"] / "other.key"
    other.write_text("an-entirely-different-ledger-key-0000")
    other.chmod(0o600)
    monkeypatch.setenv("METPIPELINE_LEDGER_KEY_FILE", str(other))
    assert "seal does not match" in failure(publish(deployment, "borough", chashes["borough"]))


def test_the_embedded_key_is_created_private_and_announced(deployment, capsys):
    key_file = deployment["tmp"] / "ledger.key"
    assert not key_file.exists()
    deployment["resources"]["governance"].ledger_key()
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert "created the embedded ledger key" in capsys.readouterr().out


# --- registry in force, four eyes, n of m -------------------------------------------------------------


def test_a_registry_changed_after_approval_needs_the_owners_again(deployment):
    chashes = stage(deployment)
    assert decide(deployment, "borough", chashes["borough"], "alice.owner").success
    deployment["owners"].write_text(REGISTRY.replace("version: 3", "version: 4"))
    result = sense(deployment)
    assert requests_of(result) == []
    assert "approvals given under an earlier owners registry no longer count (alice.owner)" in skip_message(
        result
    )
    assert "0 of 1" in failure(publish(deployment, "borough", chashes["borough"]))
    assert not published(deployment)
    # Under the registry in force the owner decides again, and it is published.
    assert decide(deployment, "borough", chashes["borough"], "alice.owner").success
    requests = requests_of(sense(deployment))
    assert len(requests) == 1
    assert publish_job.execute_in_process(
        run_config=requests[0].run_config, resources=deployment["resources"]
    ).success
    assert published(deployment)


def test_an_approver_removed_from_the_registry_no_longer_counts(deployment):
    chashes = stage(deployment)
    assert decide(deployment, "borough", chashes["borough"], "bob.deputy").success
    deployment["owners"].write_text(REGISTRY.replace("deputies: [bob.deputy]", "deputies: []"))
    assert "0 of 1" in failure(publish(deployment, "borough", chashes["borough"]))


def test_the_launcher_of_the_release_cannot_approve_it(deployment):
    chashes = stage(deployment, launched_by="Alice.Owner")
    refusal = failure(decide(deployment, "borough", chashes["borough"], "alice.owner"))
    assert "launched a run that staged this candidate" in refusal and "four eyes" in refusal
    assert decide(deployment, "borough", chashes["borough"], "bob.deputy").success
    assert len(requests_of(sense(deployment))) == 1


def test_two_of_two_approvals_publish_and_one_does_not(deployment):
    chashes = stage(deployment)
    ward_dir = "datasets/mps-ward-level-crime"
    assert decide(deployment, "ward", chashes["ward"], "carol.other").success
    first = sense(deployment)
    assert requests_of(first) == [] and "1 of 2 required approval(s)" in skip_message(first)
    assert "1 of 2" in failure(publish(deployment, "ward", chashes["ward"]))
    assert not published(deployment, ward_dir)
    # The same person twice is still one approval.
    assert "already decided" in failure(decide(deployment, "ward", chashes["ward"], "Carol.Other"))
    assert decide(deployment, "ward", chashes["ward"], "dan.deputy").success
    requests = requests_of(sense(deployment))
    assert len(requests) == 1
    assert publish_job.execute_in_process(
        run_config=requests[0].run_config, resources=deployment["resources"]
    ).success
    assert published(deployment, ward_dir)


def test_one_rejection_stops_the_candidate(deployment):
    chashes = stage(deployment)
    assert decide(deployment, "ward", chashes["ward"], "carol.other").success
    assert decide(deployment, "ward", chashes["ward"], "dan.deputy", "reject").success
    assert "was rejected" in failure(publish(deployment, "ward", chashes["ward"]))
    assert "was rejected" in skip_message(sense(deployment))


# --- identity from the sign-in proxy ------------------------------------------------------------------


def test_with_a_sign_in_proxy_the_approver_must_be_the_signed_in_user(deployment, monkeypatch):
    chashes = stage(deployment)
    monkeypatch.setenv("METPIPELINE_IDENTITY_HEADER", "X-Forwarded-User")
    # Not launched through the proxy (no tag): refused.
    assert "did not come through the sign-in proxy" in failure(
        decide(deployment, "borough", chashes["borough"], "alice.owner")
    )
    # Signed in as Bob, typing Alice's name: refused.
    refusal = failure(
        decide(deployment, "borough", chashes["borough"], "alice.owner", signed_in="bob.deputy")
    )
    assert "signed in as 'bob.deputy' but typed approver 'alice.owner'" in refusal
    ok = decide(deployment, "borough", chashes["borough"], "alice.owner", signed_in="alice.owner")
    assert ok.success
    (row,) = ledger.decisions_for(_engine(deployment), "borough", MONTH, chashes["borough"])
    assert (row.authentication, row.signed_in_user) == ("sign-in proxy", "alice.owner")


def test_a_signed_in_decision_is_refused_where_the_code_location_knows_no_proxy(deployment):
    """The webserver behind the proxy, the code location not told: the decision is not silently recorded
    as unauthenticated; without a proxy (nobody signed in) it is recorded as such."""
    chashes = stage(deployment)
    refused = decide(deployment, "borough", chashes["borough"], "alice.owner", signed_in="alice.owner")
    assert "the code location has no METPIPELINE_IDENTITY_HEADER" in failure(refused)
    assert decide(deployment, "borough", chashes["borough"], "alice.owner").success
    (row,) = ledger.decisions_for(_engine(deployment), "borough", MONTH, chashes["borough"])
    assert (row.authentication, row.signed_in_user) == ("unauthenticated", None)
    assert "(unauthenticated)" in row.describe()


def test_the_command_line_refuses_decisions_when_a_proxy_is_configured(deployment, monkeypatch, capsys):
    from metpipeline.commands.main import main

    stage(deployment)
    monkeypatch.setenv("METPIPELINE_IDENTITY_HEADER", "X-Forwarded-User")
    assert main(["approve", "borough", MONTH, "--as", "alice.owner"]) == 1
    assert "decisions are taken in the Dagster UI" in capsys.readouterr().err


# --- the bytes checked are the bytes uploaded ----------------------------------------------------------


def _approved(d):
    chashes = stage(d)
    assert decide(d, "borough", chashes["borough"], "alice.owner").success
    return chashes["borough"]


def test_a_file_swapped_after_it_was_checked_never_reaches_the_bucket(deployment, monkeypatch):
    from metpipeline import bucket as store_mod

    chash = _approved(deployment)
    folder = deployment["resources"]["workarea"].area.path("candidates", MONTH, "borough", chash)
    manifest = json.loads((folder / "manifest.json").read_text())
    data = [e for e in manifest["files"] if e["role"] == "data"]
    original = store_mod.LocalStore.put_create_only
    swapped = []

    def swap_then_put(self, key, payload):
        # The hook an attacker would wish for: every candidate file is replaced on disk between the
        # publisher's check and its first upload.
        if not swapped:
            for e in data:
                (folder / e["name"]).write_bytes(b"MajorText,MinorText,BoroughName\nFORGED,FORGED,Camden\n")
            swapped.append(True)
        return original(self, key, payload)

    monkeypatch.setattr(store_mod.LocalStore, "put_create_only", swap_then_put)
    assert publish(deployment, "borough", chash).success and swapped
    version = deployment["bucket"] / BOROUGH_DIR / MONTH / "v1"
    public = json.loads((version / "manifest.json").read_text())
    for e in data:
        sent = (version / e["name"]).read_bytes()
        assert b"FORGED" not in sent
        assert hashlib.sha256(sent).hexdigest() == e["sha256"]  # the approved bytes
    for f in public["files"]:  # the public manifest states the hash of what was uploaded
        assert f["sha256"] == hashlib.sha256((version / f["name"]).read_bytes()).hexdigest()


def test_a_file_swapped_before_publication_is_refused(deployment):
    chash = _approved(deployment)
    folder = deployment["resources"]["workarea"].area.path("candidates", MONTH, "borough", chash)
    name = next(p.name for p in folder.glob("*.csv"))
    (folder / name).write_bytes(b"forged\n")
    assert "has changed since it was staged" in failure(publish(deployment, "borough", chash))
    assert not published(deployment)
