import pytest

from metpipeline.approval import candidates
from metpipeline.db import make_engine
from metpipeline.governance import ledger
from metpipeline.workarea import WorkArea
from metpipeline_tests.approval.synthetic import write_release
from metpipeline_tests.deployment import deployment_policy, publication
from metpipeline_tests.fixtures.s3 import s3_server  # noqa: F401  (session fixture: moto on loopback)

CODE = {"package": "0.1.0", "git_commit": "abc123"}
TEST_KEY = b"test-ledger-key-0123456789abcdef"


class Staging:
    """Writes a synthetic release month and stages it, returning the candidate hashes by dataset."""

    def __init__(self, tmp_path):
        self.area = WorkArea(tmp_path / "work")
        self.engine = make_engine(f"sqlite:///{tmp_path / 'state.sqlite'}")

    def stage(self, month: str, **kw) -> dict[str, str]:
        write_release(self.area, month, **kw)
        staged = candidates.stage_candidates(
            self.area, month, CODE, policy=deployment_policy(), publication=publication()
        )
        for c in staged:
            ledger.record_candidate(
                self.engine, TEST_KEY, c.dataset, month, c.content_hash, "run-x", c.checks_passed
            )
        return {c.dataset: c.content_hash for c in staged}


@pytest.fixture
def staging(tmp_path):
    return Staging(tmp_path)
