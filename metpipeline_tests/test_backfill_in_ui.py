"""A back-fill of a range of months launched as the UI launches it (Materialize over a range of the source
assets) is one run, as the command line's is: the real webserver and daemon on the golden DataMart."""

import json
from pathlib import Path

import pytest

from metpipeline.runs.release_chain import earlier_months
from metpipeline_tests.browser.harness import (
    REPO_ROOT,
    dagster_dev,
    dagster_home,
    metpipeline_env,
    wait_until,
)
from metpipeline_tests.golden.datamart import RELEASE_MONTH, build_golden_datamart

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

BACKFILL = """
mutation Fill($p: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $p) {
    __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message }
  }
}
"""
RUNS = """
query Runs($id: String!) {
  runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}]}) {
    ... on Runs { results { runId status tags { key value } } }
  }
  partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status } }
}
"""
SOURCE_ASSETS = ("cris_extract", "connect_extract", "harmonised_offences", "monthly_cells")


def test_a_back_fill_of_three_months_from_the_ui_is_one_run(tmp_path: Path) -> None:
    var = tmp_path / "var"
    env = metpipeline_env(var)
    build_golden_datamart(var / "datamart.sqlite")
    months = earlier_months(RELEASE_MONTH)[-3:]
    with dagster_dev(
        REPO_ROOT / "workspace.yaml",
        dagster_home(tmp_path / "dagster_home"),
        tmp_path / "dagster.log",
        env=env,
        daemons=("BACKFILL", "QUEUED_RUN_COORDINATOR"),
    ) as ui:
        params = {"assetSelection": [{"path": [a]} for a in SOURCE_ASSETS], "partitionNames": months}
        answer = ui.graphql(BACKFILL, {"p": params})["launchPartitionBackfill"]
        assert answer["__typename"] == "LaunchBackfillSuccess", answer
        backfill = answer["backfillId"]

        def finished() -> list | None:
            data = ui.graphql(RUNS, {"id": backfill})
            runs = data["runsOrError"]["results"]
            over = data["partitionBackfillOrError"].get("status") not in (None, "REQUESTED")
            done = runs and all(r["status"] in ("SUCCESS", "FAILURE", "CANCELED") for r in runs)
            return runs if over and done else None

        # Until the daemon says the back-fill is over: every run it launched for it is counted.
        runs = wait_until(finished, 600, interval=2, what=f"the back-fill {backfill} to finish")
    assert len(runs) == 1, json.dumps(runs)[:2000]
    (run,) = runs
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]) == (
        months[0],
        months[-1],
    )
    assert run["status"] == "SUCCESS", (
        f"the back-fill's run ended {run['status']}; log {tmp_path / 'dagster.log'}"
    )
