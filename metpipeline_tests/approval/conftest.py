import pytest
import sqlalchemy as sa

from metpipeline.db import make_engine
from metpipeline.governance.registry import load_registry
from metpipeline.settings import OWNERS_FILE
from metpipeline.workarea import WorkArea
from metpipeline_tests.fixtures.s3 import s3_server  # noqa: F401  (session fixture: moto on loopback)

TEST_KEY = b"test-ledger-key-0123456789abcdef"  # the ledger's sealing key in tests (see seal.py)

OWNERS_YAML = """
version: 7
people:
  alice.owner: {display_name: "Alice Owner (test)"}
  bob.deputy: {display_name: "Bob Deputy (test)"}
  carol.other: {display_name: "Carol Other (test)"}
datasets:
  borough: {owners: [alice.owner], deputies: [bob.deputy]}
  ward: {owners: [carol.other]}
  lsoa: {owners: [carol.other]}
  flagged: {owners: [alice.owner]}
"""


@pytest.fixture
def owners_file(tmp_path):
    path = tmp_path / "owners.yaml"
    path.write_text(OWNERS_YAML, encoding="utf-8")
    return path


@pytest.fixture
def registry(owners_file):
    return load_registry(owners_file)


@pytest.fixture
def embedded_registry():
    return load_registry(OWNERS_FILE.default())


@pytest.fixture
def engine(tmp_path) -> sa.Engine:
    return make_engine(f"sqlite:///{tmp_path / 'state.sqlite'}")


@pytest.fixture
def area(tmp_path) -> WorkArea:
    return WorkArea(tmp_path / "work")


@pytest.fixture
def key() -> bytes:
    """The ledger's sealing key in tests (production mounts a secret file; see seal.py)."""
    return TEST_KEY
