"""Seed runs: volumes against the 2023 reference, determinism, the PII marker, defects, CLI, PostgreSQL."""

import sqlite3

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from metpipeline import reference
from metpipeline.commands import datamart as cli
from metpipeline.datamart.lookups import load_lookups
from metpipeline.datamart.month import generate_month
from metpipeline.datamart.pii import PiiSampler, build_pools
from metpipeline.datamart.schema import TABLES
from metpipeline.datamart.seed import DEFAULT_SEED, seed_datamart, table_counts
from metpipeline.datamart.timeutil import CUTOVER_LOCAL


def _counted_by_minor(month) -> pd.Series:
    """Counted crimes per minor category, by the contract's counting rules (independent of the generator)."""
    codes = reference.offence_classification()
    frames = []
    cris = pd.DataFrame(month.tables.get("cris_crime_report", {"crime_status": []}))
    connect = pd.DataFrame(month.tables.get("connect_offence", {"offence_status": []}))
    cancelled = (
        set(connect.loc[connect["offence_status"] == "CANCELLED", "legacy_cris_ref"].dropna())
        if len(connect)
        else set()
    )
    if len(cris):
        keep = (cris["crime_status"] == "CRIME") & (pd.to_datetime(cris["recorded_at"]) < CUTOVER_LOCAL)
        keep &= ~cris["cris_ref"].isin(cancelled)  # CONNECT wins for migrated crimes
        c = cris[keep]
        split = c["premises_type"].map({"UNCONNECTED BUILDING": "UNCONNECTED BUILDING"}).fillna("HOME")
        frames.append(pd.DataFrame({"code": c["offence_code"], "split": split, "key": "cris_offence_code"}))
    if len(connect):
        c = connect[(connect["offence_status"] == "CONFIRMED") & connect["legacy_cris_ref"].isna()]
        split = (
            c["premises_type"]
            .map({"Residential - Unconnected Building": "UNCONNECTED BUILDING"})
            .fillna("HOME")
        )
        frames.append(pd.DataFrame({"code": c["ho_offence_code"], "split": split, "key": "ho_code"}))
    minors = []
    for f in frames:
        key = f["key"].iloc[0] if len(f) else "ho_code"
        table = codes.assign(split=codes["premises_type"].replace({"ANY": None}))
        any_ = table[table["split"].isna()].drop_duplicates(key).set_index(key)["mps_minor"]
        res = table[table["split"].notna()].set_index([key, "split"])["mps_minor"]
        m = f["code"].map(any_)
        res_m = pd.Series(list(zip(f["code"], f["split"], strict=True)), index=f.index).map(res.to_dict())
        minors.append(m.fillna(res_m))
    return pd.concat(minors).value_counts()


@pytest.mark.parametrize("ym", [(2023, 7), (2024, 1), (2024, 2), (2024, 12)])
def test_counted_volumes_within_ten_percent_of_2023_average(ym):
    """Full MPS scale. Tolerance: 10% of the category's 2023 monthly average, plus 1 for rounding a tiny
    category's count (VIOLENT DISORDER averages 1 a month, HOMICIDE 3)."""
    lk = load_lookups()
    month = generate_month(lk, PiiSampler(build_pools(1, size=50), None), DEFAULT_SEED, ym)
    counted = _counted_by_minor(month)
    ref = reference.volumes_2023().groupby("mps_minor")["avg_monthly_crimes_2023"].sum()
    assert 70_000 < counted.sum() < 85_000
    for minor, avg in ref.items():
        got = counted.get(minor, 0)
        assert abs(got - avg) <= 0.10 * avg + 1, (ym, minor, got, avg)


def _dump(path) -> dict:
    conn = sqlite3.connect(path)
    try:
        return {t.name: conn.execute(f"SELECT * FROM {t.name} ORDER BY 1, 2, 3").fetchall() for t in TABLES}
    finally:
        conn.close()


def test_deterministic_for_a_seed_and_different_for_another(tmp_path):
    urls = [f"sqlite:///{tmp_path / name}.sqlite" for name in ("a", "b", "c")]
    for url, seed in zip(urls, (7, 7, 8), strict=True):
        seed_datamart(url, "2024-02", "2024-02", seed=seed, scale=0.02, progress=False)
    a, b, c = (_dump(tmp_path / f"{n}.sqlite") for n in "abc")
    assert a == b
    assert a["cris_crime_report"] and a["connect_offence"]
    assert a["cris_crime_report"] != c["cris_crime_report"] and a["connect_person"] != c["connect_person"]


def test_pii_marker_only_in_pii_columns(tmp_path):
    path = tmp_path / "marked.sqlite"
    seed_datamart(f"sqlite:///{path}", "2024-02", "2024-02", scale=0.02, pii_marker="CANARY", progress=False)
    conn = sqlite3.connect(path)
    for table in TABLES:
        for col in table.columns:
            values = [
                r[0]
                for r in conn.execute(f"SELECT {col.name} FROM {table.name} WHERE {col.name} IS NOT NULL")
            ]
            marked = [v for v in values if "CANARY" in str(v)]
            text_pii = col.pii and col.sql_type.startswith("NVARCHAR")
            if text_pii:
                assert values and len(marked) == len(values), (table.name, col.name)
                assert len(set(marked)) == len(marked)  # each marked value is unique
            else:
                assert not marked, (table.name, col.name)
    assert (
        conn.execute("SELECT COUNT(*) FROM connect_person WHERE date_of_birth NOT LIKE '1901-%'").fetchone()[
            0
        ]
        == 0
    )
    conn.close()


def test_defects_produce_each_error(tmp_path):
    path = tmp_path / "defects.sqlite"
    summary = seed_datamart(
        f"sqlite:///{path}", "2024-02", "2024-03", scale=0.02, defects=True, progress=False
    )
    conn = sqlite3.connect(path)
    codes = reference.offence_classification()
    q = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
    cris_codes = pd.read_sql("SELECT offence_code FROM cris_crime_report", conn)["offence_code"]
    ho_codes = pd.read_sql("SELECT ho_offence_code FROM connect_offence", conn)["ho_offence_code"]
    assert (~cris_codes.isin(codes["cris_offence_code"])).sum() == summary.defects["cris_unmapped_code"] == 3
    assert (~ho_codes.isin(codes["ho_code"])).sum() == summary.defects["connect_unmapped_code"] == 3
    assert q("SELECT COUNT(*) FROM cris_crime_report WHERE recorded_at IS NULL") == 2
    assert q("SELECT COUNT(*) FROM connect_offence WHERE recorded_at_utc IS NULL") == 2
    assert q("SELECT COUNT(*) - COUNT(DISTINCT cris_ref) FROM cris_crime_report") == 2
    assert q("SELECT COUNT(*) - COUNT(DISTINCT offence_id) FROM connect_offence") == 2
    conn.close()


def test_cli_refuses_to_overwrite_without_force(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    args = ["seed", "--url", url, "--from", "2024-03", "--to", "2024-03", "--scale", "0.01", "--quiet"]
    assert cli.main(args) == 0
    assert "connect_offence" in capsys.readouterr().out
    assert cli.main(args) == 1
    assert "--force" in capsys.readouterr().err
    assert cli.main([*args, "--force", "--seed", "5"]) == 0
    assert cli.main(["info", "--url", url]) == 0
    assert "2024-03" in capsys.readouterr().out


@pytest.mark.integration
def test_seed_on_postgresql_and_sqlite_agree(postgres_url, tmp_path):
    kwargs = dict(scale=0.02, progress=False, seed=11)
    pg = seed_datamart(postgres_url, "2024-02", "2024-03", **kwargs)
    lite = seed_datamart(f"sqlite:///{tmp_path / 'x.sqlite'}", "2024-02", "2024-03", **kwargs)
    engine = sa.create_engine(postgres_url)
    try:
        assert table_counts(engine) == pg.rows == lite.rows
        with engine.connect() as conn:
            insp = sa.inspect(conn)
            assert set(insp.get_table_names(schema="dm")) == {t.name for t in TABLES}
            utc = conn.execute(sa.text("SELECT MIN(recorded_at_utc) FROM dm.connect_offence")).scalar_one()
            assert utc.year in (2023, 2024)
        # --force replaces the PostgreSQL DataMart too.
        again = seed_datamart(postgres_url, "2024-03", "2024-03", force=True, **kwargs)
        assert table_counts(engine) == again.rows
    finally:
        engine.dispose()
    assert np.isclose(sum(lite.rows.values()), sum(pg.rows.values()))
