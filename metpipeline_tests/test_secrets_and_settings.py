"""Secrets never printed or logged, in any form a URL carries them; malformed settings are one clear line."""

import os
import subprocess
import sys

import dagster as dg
import pytest

from metpipeline.settings import redact_secrets

SECRETS = ("pw-user-part", "pw-query", "pw-odbc", "pw-encoded", "pw-sslpass", "pw-dsn")
# Every form a production URL carries a password in. Port 1 on loopback: nothing listens, fails fast.
URLS = {
    "user part + query": "postgresql+psycopg://reader:pw-user-part@127.0.0.1:1/dm?password=pw-query",
    "odbc_connect": "mssql+pyodbc:///?odbc_connect=DRIVER={FreeTDS};SERVER=127.0.0.1;PORT=1;UID=r;PWD=pw-odbc;",
    "odbc_connect, percent-encoded": (
        "mssql+pyodbc:///?odbc_connect=DRIVER%3DFreeTDS%3BSERVER%3D127.0.0.1%3BPORT%3D1%3BUID%3Dr%3BPWD%3Dpw-encoded"
    ),
    # A parameter whose name only contains the word (the pattern once needed it to start the name).
    "sslpassword": "postgresql+psycopg://reader@127.0.0.1:1/dm?sslpassword=pw-sslpass",
    # A libpq connection string, percent-encoded (%20 before `password` once hid it from the pattern).
    "libpq dsn, percent-encoded": "postgresql+psycopg:///?dsn=host%3D127.0.0.1%20port%3D1%20user%3Dr%20password%3Dpw-dsn",
}


@pytest.mark.parametrize("form", sorted(URLS))
def test_every_url_form_is_redacted(form):
    shown = redact_secrets(f"cannot reach {URLS[form]} (try again)")
    assert not any(s in shown for s in SECRETS) and "***" in shown
    assert "127.0.0.1" in shown  # the rest stays readable


def _cli(*args, **env) -> subprocess.CompletedProcess:
    full = {**os.environ, **{k: str(v) for k, v in env.items()}}
    return subprocess.run(
        [sys.executable, "-m", "metpipeline", *args],
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


def test_a_password_with_an_unencoded_at_sign_is_refused_and_never_shown(tmp_path):
    """`p@ss` would be read as password `p` and host `ss@127.0.0.1`, which the driver then quotes."""
    env = {
        "METPIPELINE_VAR_DIR": tmp_path,
        "DAGSTER_HOME": tmp_path / "dagster",
        "METPIPELINE_STATE_URL": "postgresql+psycopg://u:p@ss-tail@127.0.0.1:1/db",
    }
    shown = _cli("config", **env)
    assert shown.returncode == 2 and "MALFORMED" in shown.stdout and "write it as %40" in shown.stdout
    failed = _cli("approve", "borough", "2024-03", "--as", "demo.owner", **env)
    assert failed.returncode == 2 and "write it as %40" in failed.stderr
    for output in (shown.stdout, shown.stderr, failed.stdout, failed.stderr):
        assert "ss-tail" not in output, output


@pytest.mark.parametrize(
    "variable, value, expected",
    [
        ("METPIPELINE_MIN_VOLUME_RATIO", "abc", "expected a number from 0 to 1"),
        ("METPIPELINE_STATE_URL", "notaurl", "is not a valid SQLAlchemy URL"),
        ("METPIPELINE_RELEASE_TIME", "25:99", "expected HH:MM (London time)"),
        ("METPIPELINE_RELEASE_CRON", "0 6 31 * *", "a day from 1 to 28"),
        ("METPIPELINE_SMTP_PORT", "x", "METPIPELINE_SMTP_PORT='x'"),
        ("METPIPELINE_LAYOUT", "nope", "expected one of datastore-2026, datastore-2024"),
        ("METPIPELINE_TRUSTED_PROXIES", "proxy.local", "is not an IP address"),
        ("METPIPELINE_WEBHOOK_URL", "ftp://hooks.example/x", "expected an http:// or https:// address"),
    ],
)
def test_a_malformed_setting_stops_a_release_before_any_work_and_config_flags_it(
    tmp_path, variable, value, expected
):
    env = {"METPIPELINE_VAR_DIR": tmp_path, "DAGSTER_HOME": tmp_path / "dagster", variable: value}
    result = _cli("release", "2024-03", **env)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert (
        len(lines) == 1 and lines[0].startswith(f"configuration error: {variable}=") and expected in lines[0]
    )
    assert "Traceback" not in result.stderr and not result.stdout.strip()  # no run was started
    assert not (tmp_path / "datamart.sqlite").exists()  # nothing seeded, nothing extracted
    shown = _cli("config", **env)
    assert shown.returncode == 2
    flagged = [line for line in shown.stdout.splitlines() if "MALFORMED" in line]
    assert len(flagged) == 1 and expected in flagged[0]


def test_settings_of_the_code_location_are_checked_when_it_loads(tmp_path):
    env = {**os.environ, "METPIPELINE_VAR_DIR": str(tmp_path), "METPIPELINE_MIN_VOLUME_RATIO": "abc"}
    loaded = subprocess.run(
        [sys.executable, "-c", "import metpipeline.definitions"], capture_output=True, text=True, env=env
    )
    assert loaded.returncode != 0
    assert "ConfigError: METPIPELINE_MIN_VOLUME_RATIO='abc': expected a number from 0 to 1" in loaded.stderr


def test_an_owners_file_that_is_not_utf8_is_one_line(tmp_path):
    owners = tmp_path / "owners.yaml"
    owners.write_bytes("version: 1\npeople:\n  ren\u00e9e.owner: {}\n".encode("latin-1"))
    env = {
        "METPIPELINE_VAR_DIR": tmp_path,
        "DAGSTER_HOME": tmp_path / "dagster",
        "METPIPELINE_OWNERS_FILE": owners,
    }
    for command in (("approve", "borough", "2024-03", "--as", "x"), ("config",)):
        result = _cli(*command, **env)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert f"METPIPELINE_OWNERS_FILE={owners}: is not UTF-8 text" in result.stderr + result.stdout


def test_a_locked_state_database_is_waited_on_for_the_configured_time_then_named(tmp_path):
    import sqlite3
    import time

    state = tmp_path / "state.sqlite"
    holder = sqlite3.connect(state, isolation_level=None)
    holder.execute("CREATE TABLE held (x INTEGER)")
    holder.execute("BEGIN EXCLUSIVE")  # another process's long write
    try:
        started = time.monotonic()
        result = _cli(
            "approve",
            "borough",
            "2024-03",
            "--as",
            "demo.owner",
            METPIPELINE_VAR_DIR=tmp_path,
            DAGSTER_HOME=tmp_path / "dagster",
            METPIPELINE_STATE_URL=f"sqlite:///{state}",
            METPIPELINE_STATE_LOCK_TIMEOUT_SECONDS="2",
        )
        waited = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert (
        "stayed locked by another process for 2 s (METPIPELINE_STATE_LOCK_TIMEOUT_SECONDS)" in result.stderr
    )
    assert waited >= 2  # it did wait; the upper bound is the subprocess timeout


@pytest.mark.parametrize(
    ("key", "mode", "header", "expected"),
    [
        (None, None, None, "METPIPELINE_IDENTITY_KEY_FILE={path}: the file does not exist"),
        (b"short-key", 0o600, None, "the key is 9 bytes, fewer than 32"),
        (
            b"Zk3q9Vb1XwPz0Lr7Yt2Nc8Hm4Jd6Gs5Fa1Qe3Wr",
            0o644,
            None,
            "readable or writable by others (mode 0644)",
        ),
        (b"Zk3q9Vb1XwPz0Lr7Yt2Nc8Hm4Jd6Gs5Fa1Qe3Wr", 0o600, "", "METPIPELINE_IDENTITY_HEADER='': expected"),
    ],
)
def test_the_webserver_refuses_to_start_on_a_bad_seal_key_or_an_empty_proxy_header(
    tmp_path, key, mode, header, expected
):
    path = tmp_path / "secrets" / "identity.key"
    path.parent.mkdir(mode=0o700)
    if key is not None:
        path.write_bytes(key)
        path.chmod(mode)
    env = {
        "METPIPELINE_VAR_DIR": tmp_path,
        "DAGSTER_HOME": tmp_path / "dagster",
        "METPIPELINE_IDENTITY_KEY_FILE": path,
        **({"METPIPELINE_IDENTITY_HEADER": header} if header is not None else {}),
    }
    result = _cli("ui", "--port", "1", **env)  # port 1: were it to serve, it could not bind
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith("configuration error: ") and expected.format(path=path) in lines[0]
    assert "Traceback" not in result.stderr and "Serving" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "secret", "flag"),
    [
        ("METPIPELINE_STATE_URL", "postgresql+psycopg://u:hunt#er22@127.0.0.1:1/db", "er22", "%23 and %3F"),
        ("METPIPELINE_STATE_URL", "postgresql+psycopg://u:hunt?er22@127.0.0.1:1/db", "er22", "%23 and %3F"),
        (
            "METPIPELINE_WEBHOOK_URL",
            "https://hooks.example.test/services/T0/B0/tokenSECRET42",
            "tokenSECRET42",
            None,
        ),
    ],
)
def test_config_shows_no_password_with_a_hash_or_question_mark_nor_a_webhooks_token(
    tmp_path, variable, value, secret, flag
):
    shown = _cli(
        "config", METPIPELINE_VAR_DIR=tmp_path, DAGSTER_HOME=tmp_path / "dagster", **{variable: value}
    )
    assert secret not in shown.stdout + shown.stderr, shown.stdout
    if flag:
        assert shown.returncode == 2 and flag in shown.stdout
    else:
        assert shown.returncode == 0 and "https://hooks.example.test/***" in shown.stdout
