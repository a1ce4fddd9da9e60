"""The package imports only downward: catalogue and pure rules at the bottom, then the stages in the order
data flows through them, then what assembles and operates them. Every import counts, also one inside a
function (a lazy import is still a dependency)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "metpipeline"

# Lower layers first. A module may import its own unit and any unit of a lower layer.
LAYERS: list[set[str]] = [
    {"keyfile"},
    {"settings", "months", "reference", "memory"},
    {"catalogue", "db", "identity", "workarea", "month_locks", "notify", "instance", "bucket", "partitions"},
    {"monthwork"},
    {"cellstore", "governance", "datamart"},
    {"resources"},
    {"extract"},
    {"harmonise"},
    {"datasets"},
    {"quality"},
    {"disclosure"},
    {"report"},
    {"approval"},
    {"publish"},
    {"jobs", "summary", "run_launcher"},
    {"orchestration"},
    {"schedule", "demo"},
    {"definitions"},
    {"operate"},
    {"webui"},
    {"webserver"},
    {"cli"},
]
RANK = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}


def _unit(path: Path) -> str:
    return path.relative_to(PACKAGE).with_suffix("").parts[0]


def imports() -> list[tuple[str, str, str]]:
    """(importing unit, imported unit, file) for every import of a metpipeline module."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "__init__.py" and path.parent == PACKAGE:
            continue
        src = _unit(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.split(".")[0] == "metpipeline"
            ):
                parts = node.module.split(".")
                targets = [a.name for a in node.names] if len(parts) == 1 else [parts[1]]
            elif isinstance(node, ast.Import):
                targets = [a.name.split(".")[1] for a in node.names if a.name.startswith("metpipeline.")]
            found += [(src, t, str(path.relative_to(PACKAGE))) for t in targets if t != src]
    return found


def test_every_unit_has_a_layer():
    units = {_unit(p) for p in PACKAGE.rglob("*.py")} - {"__init__"}
    assert units - set(RANK) == set(), "add the new module or package to LAYERS"


def test_imports_go_only_downward():
    upward = [f"{f}: {src} imports {dst}" for src, dst, f in imports() if RANK[dst] >= RANK[src]]
    assert upward == []


def test_the_check_can_fail(monkeypatch):
    """Swapping two stages' layers makes their imports upward, and the check reports them."""
    monkeypatch.setitem(RANK, "datasets", RANK["publish"])
    with pytest.raises(AssertionError, match="imports datasets"):
        test_imports_go_only_downward()


def test_no_module_but_settings_reads_or_writes_the_environment():
    """Every setting is declared, read and set in settings.py (`metpipeline config` shows it then)."""
    package = Path(__file__).resolve().parents[1] / "metpipeline"
    offenders = [
        f"{path.relative_to(package)}:{n}"
        for path in sorted(package.rglob("*.py"))
        if path.name != "settings.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "os.environ" in line or "getenv(" in line
    ]
    assert offenders == []
