"""Secrets never printed or logged, in any form a URL carries them; malformed settings are one clear line."""

import os
import subprocess
import sys

import dagster as dg
import pytest

from metpipeline.settings import redact_secrets

SECRETS = ("pw-user-part", "pw-query", "pw-odbc", "pw-encoded")
# Every form a production URL carries a password in. Port 1 on loopback: nothing listens, fails fast.
URLS = {
    "user part + query": "postgresql+psycopg://reader:pw-user-part@127.0.0.1:1/dm?password=pw-query",
    "odbc_connect": "mssql+pyodbc:///?odbc_connect=DRIVER={FreeTDS};SERVER=127.0.0.1;PORT=1;UID=r;PWD=pw-odbc;",
    "odbc_connect, percent-encoded": (
        "mssql+pyodbc:///?odbc_connect=DRIVER%3DFreeTDS%3BSERVER%3D127.0.0.1%3BPORT%3D1%3BUID%3Dr%3BPWD%3Dpw-encoded"
    ),
}


@pytest.mark.parametrize("form", sorted(URLS))
def test_every_url_form_is_redacted(form):
    shown = redact_secrets(f"cannot reach {URLS[form]} (try again)")
    assert not any(s in shown for s in SECRETS) and "***" in shown
    assert "127.0.0.1" in shown  # the rest stays readable


def _cli(*args, **env) -> subprocess.CompletedProcess:
    full = {**os.environ, **{k: str(v) for k, v in env.items()}}
    return subprocess.run(
        [sys.executable, "-m", "metpipeline.cli", *args],
        capture_output=True,
        text=True,
        env=full,
        timeout=300,
    )


@pytest.mark.parametrize("form", sorted(URLS))
def test_config_and_the_unreachable_datamart_error_show_no_password(form, tmp_path):
    env = {
        "METPIPELINE_VAR_DIR": tmp_path,
        "DAGSTER_HOME": tmp_path / "dagster",
        "METPIPELINE_DATAMART_URL": URLS[form],
    }
    shown = _cli("config", **env)
    assert shown.returncode == 0 and "METPIPELINE_DATAMART_URL" in shown.stdout
    failed = _cli("release", "2024-03", **env)
    assert failed.returncode == 1
    for output in (shown.stdout, shown.stderr, failed.stdout, failed.stderr):
        assert not any(s in output for s in SECRETS), output
    assert "Traceback" not in failed.stderr
    assert "METPIPELINE_DATAMART_URL" in failed.stderr


def test_the_dagster_event_log_holds_no_password(tmp_path, monkeypatch):
    from metpipeline.extract.assets import cris_extract
    from metpipeline.resources import DataMartResource, WorkAreaResource

    monkeypatch.setenv("METPIPELINE_WORK_DIR", str(tmp_path / "work"))
    for form, url in URLS.items():
        monkeypatch.setenv("METPIPELINE_DATAMART_URL", url)
        instance = dg.DagsterInstance.ephemeral()
        result = dg.materialize(
            [cris_extract],
            partition_key="2024-01",
            resources={"datamart": DataMartResource(), "workarea": WorkAreaResource()},
            instance=instance,
            raise_on_error=False,
        )
        assert not result.success, form
        logged = "\n".join(str(record) for record in instance.all_logs(result.run_id))
        assert "METPIPELINE_DATAMART_URL" in logged, form
        assert not any(s in logged for s in SECRETS), form


@pytest.mark.parametrize(
    "variable, value, expected",
    [
        (
            "METPIPELINE_FIRST_MONTH",
            "2024-99",
            "METPIPELINE_FIRST_MONTH='2024-99' is not a month: expected YYYY-MM",
        ),
        (
            "METPIPELINE_DATAMART_URL",
            "postgresql+psycopg://r:pw-user-part@h:notaport/dm",
            "the port, if given, is a number",
        ),
        ("METPIPELINE_STATE_URL", "::nonsense::", "METPIPELINE_STATE_URL"),
        (
            "METPIPELINE_LEDGER_KEY_FILE",
            "/nonexistent/ledger.key",
            "METPIPELINE_LEDGER_KEY_FILE=/nonexistent/ledger.key",
        ),
    ],
)
def test_a_malformed_setting_is_one_line_naming_the_variable(tmp_path, variable, value, expected):
    env = {"METPIPELINE_VAR_DIR": tmp_path, "DAGSTER_HOME": tmp_path / "dagster", variable: value}
    command = (
        ("approve", "borough", "2024-03", "--as", "demo.owner")
        if "STATE" in variable or "KEY" in variable
        else ("release", "2024-03")
    )
    result = _cli(*command, **env)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert expected in lines[0] and lines[0].startswith("configuration error: ")
    assert "pw-user-part" not in result.stderr
