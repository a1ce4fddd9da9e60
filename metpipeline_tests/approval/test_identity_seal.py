"""The identity seal, tried the way someone who has read runseal.py would: no seal, a seal made with a
guessed key, one copied from another run (for another job, another config, or the same one again), one
kept until it is stale, the schedule's seal on a decision, a staging run with none. Every one records
nothing and stages nothing; the genuine seal records the decision.

On the governance deployment (SQLite state, a local bucket, the real jobs)."""

# ruff: noqa: F811 (the tests take the imported `deployment` fixture by name)

import time

import dagster as dg
import pytest

from metpipeline.approval.jobs import record_approval
from metpipeline.governance import ledger, runseal
from metpipeline_tests.approval.test_governance_attacks import (  # noqa: F401 (deployment: the fixture)
    MONTH,
    deployment,
    failure,
    stage,
)
from metpipeline_tests.sealing import sealed


def _config(chash: str, decision: str = "approve") -> dict:
    return {
        "ops": {
            "record_decision_op": {
                "config": {
                    "dataset": "borough",
                    "month": MONTH,
                    "decision": decision,
                    "approver": "alice.owner",
                    "comment": "",
                    "candidate_hash": chash,
                }
            }
        }
    }


def _decide(d, run_config: dict, tags: dict, instance=None):
    return record_approval.execute_in_process(
        run_config=run_config,
        resources=d["resources"],
        tags=tags,
        instance=instance,
        raise_on_error=False,
    )


def _recorded(d, chash: str) -> list:
    return ledger.decisions_for(d["resources"]["state"].engine(), "borough", MONTH, chash)


def test_a_decision_without_a_seal_or_with_a_forged_one_records_nothing(deployment):
    chash = stage(deployment)["borough"]
    config = _config(chash)
    assert "carries no identity seal" in failure(_decide(deployment, config, {}))
    forged = runseal.seal_tags(
        b"guessed-key-guessed-key-guessed-key!", user=None, via="ui", job="record_approval", partition=None,
        run_config=config,
    )  # fmt: skip
    assert "not made by this deployment's server" in failure(_decide(deployment, config, forged))
    genuine = sealed("record_approval", run_config=config)
    edited = {runseal.SEAL_TAG: genuine[runseal.SEAL_TAG].replace("a", "b", 1)}
    assert "not made by this deployment's server" in failure(_decide(deployment, config, edited))
    assert _recorded(deployment, chash) == []
    assert _decide(deployment, config, genuine).success
    assert [d.approver for d in _recorded(deployment, chash)] == ["alice.owner"]


def test_a_seal_copied_from_another_run_records_nothing(deployment):
    chash = stage(deployment)["borough"]
    config = _config(chash)
    staging_seal = sealed(partition=MONTH)  # a staging run's seal, read from its tags in the UI
    assert "made for the job __ephemeral_asset_job__" in failure(_decide(deployment, config, staging_seal))
    rejecting = _config(chash, "reject")
    reject_seal = sealed("record_approval", run_config=rejecting)  # made for a rejection …
    assert "not the config its identity seal was made for" in failure(
        _decide(deployment, config, reject_seal)
    )
    assert _recorded(deployment, chash) == []


def test_a_seal_is_used_once(deployment):
    chash = stage(deployment)["borough"]
    config = _config(chash)
    seal = sealed("record_approval", run_config=config)
    with dg.instance_for_test() as instance:
        first = _decide(deployment, config, seal, instance)
        assert first.success
        again = _decide(deployment, config, seal, instance)  # the same tags on a second run
    assert f"already used by run {first.run_id}" in failure(again)


def test_a_stale_seal_records_nothing(deployment):
    chash = stage(deployment)["borough"]
    config = _config(chash)
    old = runseal.seal_tags(
        runseal.load_key(lambda *_: None), user=None, via="ui", job="record_approval", partition=None,
        run_config=config, now=time.time() - 2 * runseal.MAX_AGE_S,
    )  # fmt: skip
    assert "a seal expires within minutes" in failure(_decide(deployment, config, old))


def test_the_schedules_seal_decides_nothing(deployment):
    chash = stage(deployment)["borough"]
    config = _config(chash)
    refusal = failure(
        _decide(deployment, config, sealed("record_approval", run_config=config, via="schedule"))
    )
    assert "launched by the schedule, not by a person" in refusal


def test_a_staging_run_without_a_seal_stages_nothing(deployment):
    from metpipeline.approval.assets import release_candidates
    from metpipeline_tests.approval.synthetic import write_release

    write_release(deployment["resources"]["workarea"].area, MONTH)
    with pytest.raises(dg.Failure, match="carries no identity seal"):
        dg.materialize([release_candidates], partition_key=MONTH, resources=deployment["resources"])
    assert ledger.current_candidate(deployment["resources"]["state"].engine(), "borough", MONTH) is None


def test_a_decision_by_someone_signed_in_names_them_and_a_seal_for_another_month_is_refused(
    deployment, monkeypatch
):
    chash = stage(deployment)["borough"]
    monkeypatch.setenv("METPIPELINE_IDENTITY_HEADER", "X-Forwarded-User")
    config = _config(chash)
    other_month = sealed("record_approval", partition="2024-02", run_config=config, user="alice.owner")
    assert "made for the month 2024-02" in failure(_decide(deployment, config, other_month))
    eve = sealed("record_approval", run_config=config, user="eve")
    assert "signed in as 'eve' but typed approver 'alice.owner'" in failure(_decide(deployment, config, eve))
    alice = sealed("record_approval", run_config=config, user="alice.owner")
    assert _decide(deployment, config, alice).success
    (row,) = _recorded(deployment, chash)
    assert (row.approver, row.authentication, row.signed_in_user) == (
        "alice.owner",
        "sign-in proxy",
        "alice.owner",
    )
