"""Configuration errors name the variable; the SQL translation step is the only dialect difference."""

import pytest
import sqlalchemy as sa

from metpipeline import settings
from metpipeline.db import DataMartUnreachable, check_reachable, load_sql, make_engine, translate_sql
from metpipeline.resources import DataMartResource


def test_defaults_point_under_var(monkeypatch, tmp_path):
    monkeypatch.setenv("METPIPELINE_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("METPIPELINE_DATAMART_URL", raising=False)
    assert settings.DATAMART_URL.value() == f"sqlite:///{tmp_path / 'datamart.sqlite'}"
    assert settings.BUCKET_URL.value() == str(tmp_path / "bucket")
    assert settings.LEDGER_KEY_FILE.value() == str(tmp_path / "ledger.key")


def test_malformed_url_names_the_variable():
    with pytest.raises(settings.ConfigError, match="METPIPELINE_DATAMART_URL"):
        settings.check_sqlalchemy_url("METPIPELINE_DATAMART_URL", "not a url")
    with pytest.raises(settings.ConfigError, match="METPIPELINE_STATE_URL is empty"):
        settings.check_sqlalchemy_url("METPIPELINE_STATE_URL", "")
    with pytest.raises(settings.ConfigError, match="METPIPELINE_BUCKET_URL"):
        settings.check_bucket_url("METPIPELINE_BUCKET_URL", "s3:///prefix-without-bucket")
    with pytest.raises(settings.ConfigError, match="METPIPELINE_BUCKET_URL"):
        settings.check_bucket_url("METPIPELINE_BUCKET_URL", "ftp://host/x")


def test_resource_rejects_malformed_datamart_url(monkeypatch):
    monkeypatch.setenv("METPIPELINE_DATAMART_URL", "::nonsense::")
    with pytest.raises(settings.ConfigError, match="METPIPELINE_DATAMART_URL"):
        DataMartResource().engine()


def test_unreachable_database_names_url_without_password(tmp_path):
    engine = make_engine("postgresql+psycopg://reader:s3cret@127.0.0.1:9/dm")
    with pytest.raises(DataMartUnreachable) as err:
        check_reachable(engine, "METPIPELINE_DATAMART_URL")
    message = str(err.value)
    assert "127.0.0.1:9" in message and "METPIPELINE_DATAMART_URL" in message
    assert "s3cret" not in message and "***" in message


def test_translation_strips_schema_only_on_sqlite():
    sql = (
        "SELECT r.offence_code FROM dm.cris_crime_report AS r WHERE EXISTS (SELECT 1 FROM dm.connect_offence)"
    )
    assert translate_sql(sql, "mssql") == sql
    assert translate_sql(sql, "postgresql") == sql
    sqlite = translate_sql(sql, "sqlite")
    assert "dm." not in sqlite
    assert "FROM cris_crime_report AS r" in sqlite and "FROM connect_offence" in sqlite
    # A column or alias that merely ends in "dm" is not a schema qualifier.
    assert translate_sql("SELECT adm.x FROM t AS adm", "sqlite") == "SELECT adm.x FROM t AS adm"


def test_every_extract_file_runs_as_bound_text():
    # Every SQL file of the extract layer loads for each dialect; values only ever arrive as bind parameters.
    from metpipeline.db import SQL_DIR

    files = sorted((SQL_DIR / "extract").glob("*.sql"))
    assert files, "sql/extract/ holds no SQL files"
    for path in files:
        for dialect in ("sqlite", "postgresql", "mssql"):
            clause = load_sql(f"extract/{path.name}", dialect)
            assert isinstance(clause, sa.TextClause)
            assert "{" not in clause.text, f"{path.name} looks like a format template"


def test_resources_read_the_environment_when_used(monkeypatch, tmp_path):
    from metpipeline.resources import default_resources

    monkeypatch.setenv("METPIPELINE_WORK_DIR", str(tmp_path / "work"))
    assert default_resources()["workarea"].area.root == tmp_path / "work"
