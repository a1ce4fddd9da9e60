import pytest
import sqlalchemy as sa

from metpipeline.governance import ledger
from metpipeline.governance.registry import RegistryError, load_registry


def test_embedded_registry_names_a_clearly_labelled_demo_owner(embedded_registry):
    assert embedded_registry.approvers("borough")[0] == "demo.owner"
    assert "not a real person" in embedded_registry.people["demo.owner"]
    assert set(embedded_registry.datasets) == {"borough", "ward", "lsoa", "flagged"}


@pytest.mark.parametrize(
    "text, problem",
    [
        ("people: {}\ndatasets: {}\n", "`version:` is missing"),
        ("version: 1\npeople: {a.b: {display_name: A}}\ndatasets: {borough: {owners: [x.y]}}\n", "x.y"),
        ("version: 1\npeople: {a.b: {display_name: A}}\ndatasets: {boroughs: {owners: [a.b]}}\n", "boroughs"),
        ("version: 1\npeople: {a.b: {display_name: A}}\ndatasets: {borough: {owners: [a.b]}}\n", "ward"),
        ("version: [1\n", "not valid YAML"),
    ],
)
def test_registry_errors_name_the_file_and_the_problem(tmp_path, text, problem):
    path = tmp_path / "owners.yaml"
    path.write_text(text)
    with pytest.raises(RegistryError) as err:
        load_registry(path)
    assert str(path) in str(err.value) and problem in str(err.value)


def test_missing_registry_file_says_which_variable_to_set(tmp_path):
    with pytest.raises(RegistryError, match="METPIPELINE_OWNERS_FILE"):
        load_registry(tmp_path / "absent.yaml")


KEY = b"test-ledger-key-0123456789abcdef"


def decide_row(
    engine,
    chash="a" * 64,
    approver="alice.owner",
    decision="approve",
    dataset="borough",
    key=KEY,
    public_version=0,
):
    return ledger.append_decision(
        engine,
        key,
        dataset=dataset,
        month="2024-03",
        content_hash=chash,
        decision=decision,
        approver=approver,
        authentication=ledger.UNAUTHENTICATED,
        signed_in_user=None,
        comment="",
        registry_path="/etc/owners.yaml",
        registry_sha256="c" * 64,
        registry_version="7",
        run_id="run-1",
        public_version=public_version,
    )


_decide = decide_row


def test_decisions_are_append_only_at_the_database_level(engine):
    _decide(engine)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        with engine.begin() as conn:
            conn.execute(sa.update(ledger.approval_decisions).values(decision="reject"))
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        with engine.begin() as conn:
            conn.execute(sa.delete(ledger.approval_decisions))
    with pytest.raises(sa.exc.IntegrityError):
        _decide(engine)  # a second decision by the same person on the same candidate
    assert [d.decision for d in ledger.decisions_for(engine, "borough", "2024-03", "a" * 64)] == ["approve"]
    assert ledger.verify_chain(engine, KEY, "borough") == []


def test_current_candidate_is_the_most_recently_staged(engine):
    ledger.record_candidate(engine, KEY, "ward", "2024-03", "1" * 64, "run-a", True, ("eve.engineer",))
    ledger.record_candidate(engine, KEY, "ward", "2024-03", "2" * 64, "run-b", False)
    current = ledger.current_candidate(engine, "ward", "2024-03")
    assert (current.content_hash, current.checks_passed, current.status) == ("2" * 64, False, "checks failed")
    assert current.launched_by is None
    assert ledger.current_candidate(engine, "ward", "2024-04") is None
    assert ledger.latest_staged_month(engine) == "2024-03"


def test_publications_are_recorded_once(engine):
    ledger.record_publication(engine, "borough", "2024-03", "a" * 64, 1)
    ledger.record_publication(engine, "borough", "2024-03", "a" * 64, 1)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(ledger.publications)).scalar() == 1


def check_migration_of_an_earlier_ledger(engine) -> None:
    """Rows and seals survive; earlier stagings are never current but their launchers still count; the
    decision uniqueness now allows one decision per person per public version."""
    from metpipeline_tests.approval.ledger_before import write_earlier_ledger

    write_earlier_ledger(engine, KEY)
    ledger.ensure_schema(engine)
    assert ledger.verify_chain(engine, KEY, "borough") == []
    (kept,) = ledger.decisions_for(engine, "borough", "2024-03", "a" * 64)
    assert (kept.approver, kept.public_version) == ("alice.owner", 0)
    assert ledger.current_candidate(engine, "borough", "2024-03") is None  # unsealed: stage the month again
    assert set(ledger.launchers_of(engine, "borough", "2024-03", "a" * 64)) == {"eve.engineer"}
    assert ledger.verify_candidates(engine, KEY, "borough") == []
    staged = ledger.record_candidate(engine, KEY, "borough", "2024-03", "a" * 64, "run-2", True)
    assert ledger.current_candidate(engine, "borough", "2024-03") == staged
    assert ledger.verify_candidates(engine, KEY, "borough") == []
    with pytest.raises(sa.exc.IntegrityError):
        decide_row(engine)  # the same decision twice: still refused
    decide_row(engine, public_version=2)  # after v2 was public: a new one
    assert ledger.verify_chain(engine, KEY, "borough") == []
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        with engine.begin() as conn:
            conn.execute(sa.update(ledger.approval_decisions).values(comment="x"))
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        with engine.begin() as conn:
            conn.execute(sa.delete(ledger.release_candidates))


def test_a_ledger_written_by_the_earlier_version_is_migrated_on_sqlite(engine):
    check_migration_of_an_earlier_ledger(engine)


def test_a_migration_that_fails_half_way_leaves_the_earlier_ledger_whole(engine, monkeypatch):
    from metpipeline_tests.approval.ledger_before import write_earlier_ledger

    write_earlier_ledger(engine, KEY)

    def killed(*_a, **_k):
        raise RuntimeError("killed while copying the decisions")

    monkeypatch.setattr(ledger, "_copy_decisions", killed)
    with pytest.raises(RuntimeError, match="killed while copying"):
        ledger.ensure_schema(engine)
    tables = set(sa.inspect(engine).get_table_names())
    assert "owner_decisions_before_versions" not in tables
    assert "mac" not in {c["name"] for c in sa.inspect(engine).get_columns("staged_candidates")}
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT approver FROM owner_decisions").scalars().all() == ["alice.owner"]
    monkeypatch.undo()
    ledger._ready.discard(engine)
    ledger.ensure_schema(engine)  # the next start migrates it whole
    assert [d.approver for d in ledger.decisions_for(engine, "borough", "2024-03", "a" * 64)] == [
        "alice.owner"
    ]
    assert ledger.verify_chain(engine, KEY, "borough") == []


def test_two_processes_migrating_at_once_migrate_once(tmp_path):
    import subprocess
    import sys

    from metpipeline_tests.approval.ledger_before import write_earlier_ledger

    url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    write_earlier_ledger(sa.create_engine(url), KEY)
    script = (
        "import sys; from metpipeline.db import make_state_engine; "
        "from metpipeline.governance import ledger; "
        "ledger.ensure_schema(make_state_engine(sys.argv[1])); print('ok')"
    )
    runs = [
        subprocess.Popen([sys.executable, "-c", script, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ]
    runs.append(
        subprocess.Popen([sys.executable, "-c", script, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    )
    outcomes = [r.communicate(timeout=120) for r in runs]
    assert all(r.returncode == 0 for r in runs), outcomes
    engine = sa.create_engine(url)
    assert [d.approver for d in ledger.decisions_for(engine, "borough", "2024-03", "a" * 64)] == [
        "alice.owner"
    ]
    assert ledger.verify_chain(engine, KEY, "borough") == []
