"""Every path to the public enforces every rule, tried the way an insider who has read the code would:
the publish job launched by hand or re-executed before the release time, a weak or exposed ledger key,
script typed into a reason.

Built on the deployment of test_governance_attacks (SQLite state, a local bucket, the real jobs)."""

# ruff: noqa: F811 (the tests take the imported `deployment` fixture by name)

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from metpipeline.governance import seal
from metpipeline.settings import ConfigError
from metpipeline_tests.approval.test_governance_attacks import (  # noqa: F401 (deployment: the fixture)
    MONTH,
    decide,
    deployment,
    failure,
    publish,
    published,
    stage,
)

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
