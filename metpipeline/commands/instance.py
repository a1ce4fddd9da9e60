"""The Dagster instance the commands run against, and the operator's progress line."""

import shutil
import time
from pathlib import Path

from metpipeline import settings

REPO_ROOT = Path(__file__).resolve().parents[2]  # metpipeline/commands/instance.py -> the repository


def say(message: str) -> None:
    """Progress for the operator: one line, flushed at once (runs take minutes)."""
    print(f"[metpipeline {time.strftime('%H:%M:%S')}] {message}", flush=True)


def ensure_dagster_home() -> Path:
    """DAGSTER_HOME defaults to var/dagster with the repository's dagster.yaml (SQLite storage there)."""
    home = settings.dagster_home(settings.var_dir() / "dagster")
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists() and (REPO_ROOT / "dagster.yaml").exists():
        shutil.copyfile(REPO_ROOT / "dagster.yaml", target)
    return home


def create_storages() -> None:
    """Create the instance's storages (runs, event log, schedules) in this process, before starting others
    on the same instance: two processes creating a fresh SQLite instance at once race on Alembic's version
    table ("table alembic_version already exists") and one of them dies."""
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        instance.get_runs(limit=1)
        instance.all_asset_keys()
        instance.all_instigator_state()
