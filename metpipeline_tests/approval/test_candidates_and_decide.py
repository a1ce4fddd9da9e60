import json

import pytest

from metpipeline.approval import candidates
from metpipeline.commands.approve import register
from metpipeline.governance import decide, ledger
from metpipeline_tests.approval.conftest import TEST_KEY as KEY
from metpipeline_tests.approval.synthetic import write_release
from metpipeline_tests.deployment import deployment_policy, publication

CODE = {"package": "0.1.0", "git_commit": None}


def _stage(area, engine, month="2024-03", run_id="run-1", **kw):
    staged = candidates.stage_candidates(
        area, month, CODE, **{"policy": deployment_policy(), "publication": publication(), **kw}
    )
    for c in staged:
        ledger.record_candidate(engine, KEY, c.dataset, month, c.content_hash, run_id, c.checks_passed)
    return {c.dataset: c for c in staged}


def test_identical_bytes_give_the_identical_candidate_and_new_bytes_a_new_one(area, engine):
    write_release(area, "2024-03")
    first = _stage(area, engine, run_id="run-1")
    again = _stage(area, engine, run_id="run-2")
    assert {k: c.content_hash for k, c in first.items()} == {k: c.content_hash for k, c in again.items()}
    manifest = json.loads(first["borough"].manifest_path.read_text())
    # No run id or time in the manifest (they are in the ledger): every field it has is in the hash.
    assert "run_id" not in manifest and "staged_at" not in manifest
    assert candidates.content_hash(manifest) == manifest["content_hash"] == first["borough"].content_hash
    assert manifest["policy_version"] == "2024.1" and manifest["checks_passed"] is True
    names = {f["name"] for f in manifest["files"]}
    assert "MPS Borough Level Crime (most recent 24 months).csv" in names and "report.html" in names
    assert all(len(f["sha256"]) == 64 and f["bytes"] > 0 for f in manifest["files"])

    write_release(area, "2024-03", revise=True)
    rebuilt = _stage(area, engine, run_id="run-3")
    assert rebuilt["borough"].content_hash != first["borough"].content_hash
    assert first["borough"].path.is_dir() and rebuilt["borough"].path.is_dir()


def test_a_changed_candidate_file_is_detected_before_publication(area, engine):
    write_release(area, "2024-03")
    c = _stage(area, engine)["ward"]
    verified = candidates.load_verified_candidate(area, "ward", "2024-03", c.content_hash)
    assert verified.manifest["dataset"] == "ward"
    assert verified.files["ward-tidy.csv.gz"] == (c.path / "ward-tidy.csv.gz").read_bytes()
    (c.path / "ward-tidy.csv.gz").write_bytes(b"month,count\n2024-03,999\n")
    with pytest.raises(candidates.CandidateError, match="has changed since it was staged"):
        candidates.load_verified_candidate(area, "ward", "2024-03", c.content_hash)


@pytest.mark.parametrize(
    "field, forged",
    [
        ("policy_version", "1999.1"),
        ("code_version", {"package": "9.9", "git_commit": "f" * 40}),
        ("checks_passed", True),
        ("checks_status", "all checks passed"),
    ],
)
def test_a_forged_manifest_field_is_refused_at_publication(area, engine, field, forged):
    # Every field of the staged manifest is inside the content hash: editing any one (even to a value that
    # looks harmless) makes the candidate fail verification before a byte is published.
    write_release(area, "2024-03", check_status="failed" if field.startswith("checks") else "passed")
    c = _stage(area, engine)["borough"]
    manifest = json.loads(c.manifest_path.read_text())
    assert manifest[field] != forged
    manifest[field] = forged
    c.manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(candidates.CandidateError, match="does not match the approved content hash"):
        candidates.load_verified_candidate(area, "borough", "2024-03", c.content_hash)


def test_every_refusal_says_why(area, engine, registry, key):
    write_release(area, "2024-03")
    old = _stage(area, engine)["borough"].content_hash
    write_release(area, "2024-03", revise=True)
    current = _stage(area, engine, run_id="run-2")["borough"].content_hash

    def attempt(approver="alice.owner", chash=current, dataset="borough", decision="approve"):
        return decide.record_decision(
            engine, key, registry, dataset, "2024-03", decision, approver, "ok", chash
        )[0]

    with pytest.raises(decide.DecisionRefused) as err:
        attempt(approver="carol.other")
    assert "not registered" in str(err.value) and "alice.owner (Alice Owner (test))" in str(err.value)
    assert "bob.deputy" in str(err.value)

    with pytest.raises(decide.DecisionRefused) as err:
        attempt(chash=old)
    # The refusal says what to do but never gives away the current hash.
    assert "is not the current candidate" in str(err.value) and current not in str(err.value)

    with pytest.raises(decide.DecisionRefused, match="no release candidate is staged"):
        decide.record_decision(
            engine, key, registry, "borough", "2024-04", "approve", "alice.owner", "", current
        )

    decision = attempt(approver="  Bob.Deputy ", dataset="Borough")  # names and datasets: any case
    assert (decision.approver, decision.registry_version) == ("bob.deputy", "7")
    assert decision.authentication == "unauthenticated"
    with pytest.raises(decide.DecisionRefused) as err:
        attempt(approver="bob.deputy", decision="reject")
    assert "bob.deputy has already decided" in str(err.value)


def test_a_candidate_whose_checks_failed_cannot_be_decided(area, engine, registry, key):
    write_release(area, "2024-03", check_status="failed")
    chash = _stage(area, engine)["borough"].content_hash
    with pytest.raises(decide.DecisionRefused, match="did not pass all its checks"):
        decide.record_decision(
            engine, key, registry, "borough", "2024-03", "approve", "alice.owner", "", chash
        )


def test_cli_decides_on_the_current_candidate_and_prints_its_hash(
    area, engine, owners_file, monkeypatch, capsys, tmp_path
):
    import argparse

    write_release(area, "2024-03")
    chash = _stage(area, engine)["flagged"].content_hash
    monkeypatch.setenv("METPIPELINE_STATE_URL", str(engine.url))
    monkeypatch.setenv("METPIPELINE_OWNERS_FILE", str(owners_file))
    monkeypatch.setenv("METPIPELINE_VAR_DIR", str(tmp_path))
    (tmp_path / "ledger.key").write_bytes(KEY)  # the key the stagings were sealed with
    (tmp_path / "ledger.key").chmod(0o600)
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["approve", "flagged", "2024-03", "--as", "carol.other"])
    assert args.func(args) == 1
    assert "not registered" in capsys.readouterr().err
    args = parser.parse_args(
        ["approve", "flagged", "2024-03", "--as", "alice.owner", "--reject", "--comment", "x"]
    )
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert chash in out and "reject by alice.owner" in out


@pytest.mark.parametrize(
    "report, passed",
    [
        (
            {
                "status": "pass",
                "checks": [{"name": "a", "passed": True, "severity": "ERROR", "outcome": "pass"}],
            },
            True,
        ),
        (
            {
                "status": "warn",
                "checks": [{"name": "a", "passed": False, "severity": "WARN", "outcome": "warn"}],
            },
            True,
        ),
        ({"status": "fail", "checks": []}, False),
        ({"checks": [{"name": "a", "passed": False, "severity": "ERROR"}]}, False),
        ({"checks": {"a": {"status": "failed"}}}, False),
    ],
)
def test_checks_status_is_read_from_the_report(report, passed):
    assert candidates.checks_passed_from_report(report) is passed


def test_withheld_categories_appear_only_on_their_own_dataset_cover():
    from metpipeline.publish.cover import disclosure_lines

    record = {
        "suppressed_cells": {"lsoa": {"primary": 3, "secondary": 2}},
        "withheld_categories": {"lsoa": [{"major": "SEXUAL OFFENCES", "minor": "RAPE"}]},
    }
    hidden = [
        "3 small counts in protected categories",
        "2 further figures, hidden so that the small counts cannot be worked out from the totals",
    ]
    assert disclosure_lines(record, "lsoa") == (hidden, ["SEXUAL OFFENCES / RAPE"])
    assert disclosure_lines(record, "borough") == (["none"], [])


def test_a_file_swapped_after_the_checks_stages_no_dataset(area, engine):
    """The public files are scanned while the next dataset's are rendered: an identifier in a file
    swapped after the disclosure checks (here the ward file, rendered second) is found, named, and no
    dataset of the month is staged, not even those whose files passed; no temporary folder is left."""
    write_release(area, "2024-03")
    ward = area.publishable_dir("2024-03") / "ward"
    path = next(p for p in ward.iterdir() if "most recent 24 months" in p.name)
    lines = path.read_text().splitlines()
    lines[1] = lines[1].replace("St James's", "0104471/23")
    path.write_text("\n".join(lines) + "\n")
    found = r"ward 2024-03: 2 problem\(s\) in the public files.*WardName.*CRIS reference"
    with pytest.raises(candidates.CandidateError, match=found):
        _stage(area, engine)
    left = sorted(p.relative_to(area.root).as_posix() for p in area.path("candidates").rglob("*"))
    datasets = sorted(("borough", "flagged", "lsoa", "ward"))
    assert left == ["candidates/2024-03", *(f"candidates/2024-03/{d}" for d in datasets)]


def test_a_file_changed_after_its_scan_is_refused_at_publication(area, engine, monkeypatch):
    """The public files are scanned in the staging folder, after the manifest has hashed them: a file
    replaced once its scan has passed (here an identifier written into the ward CSV) no longer matches the
    hash the owner approves, and publication refuses it."""
    write_release(area, "2024-03")
    real_scan = candidates.scan_public
    name = "MPS Ward Level Crime (most recent 24 months).csv"

    def scan_then_swap(folder, slug, policy, names=None):
        problems = real_scan(folder, slug, policy, names)
        if slug == "ward":
            path = folder / name
            path.write_text(path.read_text().replace("St James's", "0104471/23"))
        return problems

    monkeypatch.setattr(candidates, "scan_public", scan_then_swap)
    c = _stage(area, engine)["ward"]
    assert "0104471/23" in (c.path / name).read_text()  # the swapped file is what sits there
    with pytest.raises(candidates.CandidateError, match="has changed since it was staged"):
        candidates.load_verified_candidate(area, "ward", "2024-03", c.content_hash)
