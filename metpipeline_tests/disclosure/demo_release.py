"""A month's release through the command line (`metpipeline demo`), on a work area of its own."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def release(var: Path, month: str, first_month: str = "2024-01", code: Path | None = None) -> Path:
    """Release `month` (and approve and publish it, as the demo does) with METPIPELINE_VAR_DIR=`var`, which
    holds the DataMart (`datamart.sqlite`); returns the release's folder in the work area. `code`: a folder
    holding another copy of the package, run instead of this one."""
    return demo_run(var, month, first_month, code)[0]


def demo_run(var: Path, month: str, first_month: str = "2024-01", code: Path | None = None):
    """`release`, returning the folder and the finished command (its output)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("METPIPELINE_", "DAGSTER_"))}
    env.update(
        METPIPELINE_VAR_DIR=str(var), METPIPELINE_FIRST_MONTH=first_month, DAGSTER_HOME=str(var / "dagster")
    )
    if code is not None:
        env["PYTHONPATH"] = str(code)  # and run from a folder with no package in it: the copy is found first
    run = subprocess.run(
        [sys.executable, "-m", "metpipeline", "demo", "--month", month],
        cwd=REPO if code is None else var,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return var / "work" / "releases" / month, run
