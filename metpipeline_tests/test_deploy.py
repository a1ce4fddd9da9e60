"""The production deployment files, checked with the real parts that run here: the production instance
settings on a real PostgreSQL server, the workspace against Dagster's schema, the compose file against the
configuration table, and the SQL Server URL through FreeTDS. (No container runtime runs here: the image
and the compose file are not started.)"""

import os
import re
import time
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml

from metpipeline import settings
from metpipeline_tests.fixtures.postgres import postgres_url  # noqa: F401  (session fixture)

pytestmark = pytest.mark.integration
DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


@dg.op
def hello() -> int:
    return 1


@dg.job
def hello_job():
    hello()


def test_the_production_instance_runs_on_postgresql(postgres_url, tmp_path, monkeypatch):  # noqa: F811
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((DEPLOY / "dagster.yaml").read_text())
    # Dagster's storage in its own database on the suite's PostgreSQL server.
    with sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.exec_driver_sql("CREATE DATABASE dagster_instance")
    # psycopg2: dagster-postgres binds NOTIFY parameters client-side, which psycopg 3 does not.
    pg_url = postgres_url.rsplit("/", 1)[0].replace("+psycopg:", "+psycopg2:") + "/dagster_instance"
    monkeypatch.setenv("DAGSTER_PG_URL", pg_url)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.run_launcher).__name__ == "LocalRunLauncher" and instance.run_monitoring_enabled
        result = hello_job.execute_in_process(instance=instance)
        assert result.success
        assert instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.SUCCESS
    with sa.create_engine(pg_url).connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM runs").scalar() == 1


def test_the_workspace_points_at_the_grpc_code_server(monkeypatch):
    from dagster._config import process_config
    from dagster._core.workspace.config_schema import WORKSPACE_CONFIG_SCHEMA

    monkeypatch.setenv("METPIPELINE_CODE_SERVER_HOST", "code")
    config = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
    result = process_config(WORKSPACE_CONFIG_SCHEMA, config)
    assert result.success, result.errors
    (entry,) = result.value["load_from"]
    assert entry["grpc_server"] == {"host": "code", "port": 4000, "location_name": "metpipeline"}


def test_the_compose_file_sets_every_setting_of_the_configuration_table():
    compose = (DEPLOY / "docker-compose.yaml").read_text()
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    documented = set(re.findall(r"`(METPIPELINE_[A-Z0-9_]+)`", readme))
    missing = [s.name for s in settings.ALL_SETTINGS if s.name not in compose]
    undocumented = [s.name for s in settings.ALL_SETTINGS if s.name not in documented]
    assert missing == [] and undocumented == []
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "uv sync --frozen --no-dev" in dockerfile  # the locked environment, no test tools


def test_a_sql_server_url_through_freetds_fails_fast_with_a_redacted_message(monkeypatch):
    from metpipeline.db import DataMartUnreachable
    from metpipeline.resources import DataMartResource

    if not Path("/etc/odbcinst.ini").exists() or "FreeTDS" not in Path("/etc/odbcinst.ini").read_text():
        pytest.fail("FreeTDS is not registered with unixODBC: run `make system-deps`", pytrace=False)
    url = "mssql+pyodbc://reader:s3cret-pw@127.0.0.1:1/datamart?driver=FreeTDS&TDS_Version=7.4&LoginTimeout=5"
    monkeypatch.setenv("METPIPELINE_DATAMART_URL", url)
    started = time.monotonic()
    with pytest.raises(DataMartUnreachable) as err:
        DataMartResource().engine()
    assert time.monotonic() - started < 30
    message = str(err.value)
    assert "s3cret-pw" not in message and "reader:***@127.0.0.1:1/datamart" in message
    assert "METPIPELINE_DATAMART_URL" in message
    assert os.environ["METPIPELINE_DATAMART_URL"] == url  # nothing rewrote the setting itself
