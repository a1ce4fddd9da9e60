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
    {"settings", "reference", "memory"},
    {"months"},  # month keys, partitions, per-month locks, a back-fill's shared month work
    {"catalogue", "db", "identity", "workarea", "notify", "bucket"},
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
    {"runs"},  # run control: jobs, the back-fill ─► release chain, the schedule, the launcher
    {"definitions"},
    {"webui"},
    {"commands"},  # the `metpipeline` command and its sub-commands, the webserver among them
    {"__main__"},  # `python -m metpipeline`
]
# Inside a package, lower modules first, where the package's modules form layers of their own; every other
# package's modules need only import one another without a cycle (test_no_import_cycle_inside_a_package).
INNER_LAYERS: dict[str, list[set[str]]] = {
    "months": [{"arithmetic", "locks", "shared_work"}, {"partitions"}],
    "runs": [{"jobs", "launcher", "release_summary"}, {"release_chain"}, {"monthly_schedule"}],
    "commands": [{"instance"}, {"datamart", "approve", "demo"}, {"release"}, {"webserver"}, {"main"}],
}
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


def inner_imports(package: str) -> list[tuple[str, str, str]]:
    """(importing module, imported module, file) for every import between two modules of `package`."""
    found = []
    for path in sorted((PACKAGE / package).glob("*.py")):
        if path.name == "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                if parts[:2] == ["metpipeline", package]:
                    targets = [a.name for a in node.names] if len(parts) == 2 else [parts[2]]
            elif isinstance(node, ast.Import):
                prefix = f"metpipeline.{package}."
                targets = [
                    a.name[len(prefix) :].split(".")[0] for a in node.names if a.name.startswith(prefix)
                ]
            modules = {m.stem for m in (PACKAGE / package).glob("*.py")} | {
                d.name for d in (PACKAGE / package).iterdir() if (d / "__init__.py").is_file()
            }
            found += [(path.stem, t, path.name) for t in targets if t in modules and t != path.stem]
    return found


PACKAGES = sorted(d.name for d in PACKAGE.iterdir() if (d / "__init__.py").is_file())


def test_every_module_of_a_layered_package_has_a_layer():
    for package, layers in INNER_LAYERS.items():
        modules = {p.stem for p in (PACKAGE / package).glob("*.py")} - {"__init__"}
        assert modules == set().union(*layers), f"{package}: give each module a layer in INNER_LAYERS"


@pytest.mark.parametrize("package", sorted(INNER_LAYERS))
def test_imports_go_only_downward_inside_a_package(package):
    rank = {m: i for i, layer in enumerate(INNER_LAYERS[package]) for m in layer}
    upward = [f"{package}/{f}: {a} imports {b}" for a, b, f in inner_imports(package) if rank[b] >= rank[a]]
    assert upward == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle_inside_a_package(package):
    """Every package's modules import one another without a cycle: they can be read bottom up."""
    graph: dict[str, set[str]] = {}
    for a, b, _ in inner_imports(package):
        graph.setdefault(a, set()).add(b)
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"{package}: import cycle {' -> '.join((*path, module))}"
        if module in done:
            return
        for b in sorted(graph.get(module, ())):
            visit(b, (*path, module))
        done.add(module)

    for module in sorted(graph):
        visit(module, ())


def test_the_inner_checks_can_fail(monkeypatch):
    """Putting the schedule below the chain it launches makes its import upward; a made-up cycle is found."""
    monkeypatch.setitem(
        INNER_LAYERS, "runs", [{"monthly_schedule"}, {"jobs", "launcher", "release_summary", "release_chain"}]
    )
    with pytest.raises(AssertionError, match="monthly_schedule imports release_chain"):
        test_imports_go_only_downward_inside_a_package("runs")
    real = inner_imports
    monkeypatch.setitem(
        globals(), "inner_imports", lambda package: [*real(package), ("jobs", "monthly_schedule", "jobs.py")]
    )
    with pytest.raises(AssertionError, match="import cycle"):
        test_no_import_cycle_inside_a_package("runs")


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


# Where a setting may be read directly: the registry itself, the resources (through which assets, checks,
# ops and sensors get every setting), the processes that are not runs, and what Dagster calls with no
# resources. Everything else takes its settings from a resource or a parameter.
READS_SETTINGS = {
    "settings.py": "the registry",
    "resources.py": "the resources: the one way settings reach assets, checks, ops and sensors",
    "commands": "the commands: a deployment's entry points",
    "webui": "the webserver's pages, outside any run",
    "cellstore.py": "the cells' input manager, itself a resource",
    "db.py": "the state database's lock wait, wherever an engine is made",
    "notify.py": "the notifiers' channels (mail server, webhook)",
    "months/partitions.py": "the first month: the partitions are part of the definitions",
    "months/shared_work.py": "back-fill helper processes, which have no resources",
    "runs/monthly_schedule.py": "the release calendar: the schedule is part of the definitions",
    "runs/release_summary.py": "the summary a command prints",
    "approval/decision_job.py": "the Launchpad's config function, which Dagster calls with no resources",
    "approval/launch_review.py": "the webserver's review of a launch, outside any run",
    "governance/seal.py": "the ledger key's loader (GovernanceResource.ledger_key)",
    "governance/runseal.py": "the identity key's loader (GovernanceResource.identity_key)",
}


def test_settings_reach_runs_through_resources():
    """No asset, check, op or sensor code reads a setting directly (`settings.X.value()`, `.get()`…): it
    gets it from a resource, so what a run uses is what its resources say."""
    readers = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative in READS_SETTINGS or relative.split("/")[0] in READS_SETTINGS:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # Settings imported by name (`from metpipeline.settings import FIRST_MONTH`) count as well.
        imported = {
            a.asname or a.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == "metpipeline.settings"
            for a in node.names
            if a.name.isupper()
        }
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("value", "get", "is_set", "default", "problem")
            ):
                continue
            target = node.func.value
            by_module = (
                isinstance(target, ast.Attribute)
                and target.attr.isupper()
                and isinstance(target.value, ast.Name)
                and target.value.id == "settings"
            )
            by_name = isinstance(target, ast.Name) and target.id in imported
            if by_module or by_name:
                name = target.attr if isinstance(target, ast.Attribute) else target.id  # type: ignore[union-attr]
                readers.add(f"{relative}:{node.lineno} {name}.{node.func.attr}()")
    assert sorted(readers) == []


def test_the_settings_check_can_fail(monkeypatch):
    """Take the notifiers off the list, and their direct reads are reported."""
    monkeypatch.delitem(READS_SETTINGS, "notify.py")
    with pytest.raises(AssertionError, match=r"notify.py:\d+ SMTP_HOST.value\(\)"):
        test_settings_reach_runs_through_resources()
