"""A new published table is a catalogue specification: its dataset asset and checks come from it, and the
policy and registry validation know it, without editing any other module."""

import dagster as dg
import pandas as pd
import pytest

from metpipeline.catalogue import CATALOGUE, DatasetSpec, Key
from metpipeline.cellstore import CELLS_INPUT_MANAGER, CellsInputManager
from metpipeline.datasets.assets import dataset_asset, monthly_cells
from metpipeline.disclosure.policy import PolicyError, load_policy, parse_policy
from metpipeline.quality.checks import dataset_checks
from metpipeline.resources import WorkAreaResource
from metpipeline.workarea import WorkArea
from metpipeline_tests.datasets.test_cells import _month
from metpipeline_tests.deployment import deployment


def theft_by_borough(harmonised: pd.DataFrame) -> pd.DataFrame:
    """The new table's build function: the crimes of one major category."""
    return harmonised[(harmonised["mps_major"] == "THEFT").to_numpy(dtype=bool)]


THEFT = DatasetSpec(
    slug="borough_theft",
    title="MPS Borough Theft",
    keys=(
        Key("MinorText", "mps_minor", True, "minor"),
        Key("BoroughName", "borough_name", vocabulary="borough"),
    ),
    tidy=(("BoroughName", "borough_name"), ("MinorText", "minor")),
    category=("MinorText", "MinorText"),
    geography="London boroughs",
    bucket_slug="mps-borough-theft",
    sensitivity="aggregate",
    reconciles_to=None,
    quality_rules=("columns", "counts_valid"),
    rows=theft_by_borough,
    description="thefts by borough",
)


def test_a_specification_gives_its_asset_and_checks_and_they_run(tmp_path, monkeypatch):
    monkeypatch.setitem(CATALOGUE, THEFT.slug, THEFT)  # what `register` does for a shipped table
    area = WorkArea(tmp_path / "work")
    crimes = {m: _month(m, 30 + i) for i, m in enumerate(["2022-01", "2022-02"])}
    for month, frame in crimes.items():
        path = area.harmonised_path(month)
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(path, index=False)

    asset, checks = dataset_asset(THEFT), dataset_checks(THEFT)
    assert asset.key == dg.AssetKey("borough_theft_dataset")
    assert {c.name for c in (spec for check in checks for spec in check.check_specs)} == {
        "borough_theft_columns",
        "borough_theft_counts_valid",
    }
    resources = {"workarea": WorkAreaResource(), CELLS_INPUT_MANAGER: CellsInputManager()}
    with deployment(WORK_DIR=tmp_path / "work"):
        for month in crimes:
            result = dg.materialize(
                [monthly_cells, asset, *checks],
                resources=resources,
                instance=dg.DagsterInstance.ephemeral(),
                partition_key=month,
            )
            assert result.success
            evaluations = result.get_asset_check_evaluations()
            assert len(evaluations) == 2 and all(e.passed for e in evaluations)

    table = pd.read_parquet(area.counts_path("2022-02", "borough_theft", "24m"))
    assert list(table.columns) == ["MinorText", "BoroughName", "202201", "202202"]
    both = pd.concat(crimes.values())
    thefts = both[both["mps_major"] == "THEFT"]
    assert table[["202201", "202202"]].to_numpy().sum() == len(thefts)
    assert set(table["MinorText"]) == {"SHOPLIFTING"}


def test_the_policy_must_cover_every_table_of_the_catalogue(monkeypatch):
    from pathlib import Path

    import yaml

    from metpipeline.disclosure import policy as policy_module

    raw = yaml.safe_load(Path(policy_module.__file__).with_name("policy.yaml").read_text())
    load_policy(Path(policy_module.__file__).with_name("policy.yaml"))  # the shipped one is complete
    catalogue = {**CATALOGUE, THEFT.slug: THEFT}
    with pytest.raises(PolicyError, match=r"datasets \['borough_theft'\] have no rule"):
        parse_policy(raw, catalogue=catalogue)
    raw["datasets"]["borough_theft"] = {"action": "publish"}
    assert parse_policy(raw, catalogue=catalogue).rule("borough_theft").action == "publish"
    small = DatasetSpec(**{**THEFT.__dict__, "sensitivity": "small-area"})
    with pytest.raises(PolicyError, match="borough_theft.action cannot be 'publish'.*small-area"):
        parse_policy(raw, catalogue={**CATALOGUE, THEFT.slug: small})


def test_a_specification_is_checked_when_written():
    with pytest.raises(ValueError, match="category or group columns \\['Borough'\\] are not key columns"):
        DatasetSpec(**{**THEFT.__dict__, "group": ("Borough",)})
    with pytest.raises(ValueError, match="rule totals_reconcile needs reconciles_to"):
        DatasetSpec(**{**THEFT.__dict__, "quality_rules": ("columns", "totals_reconcile")})
    with pytest.raises(ValueError, match="already in the catalogue"):
        from metpipeline.catalogue import register

        register(CATALOGUE["borough"])
