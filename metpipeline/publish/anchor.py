"""The newest staging of a month as the release run recorded it in Dagster's event log, a second record
kept apart from the state database: deleting the newest row of a sealed chain leaves no gap there, so
publication also checks that the ledger's newest staging is not older than the event log's."""

import dagster as dg

from metpipeline.governance import ledger

STAGED_ASSET = dg.AssetKey("release_candidates")


def recorded_staging(instance: dg.DagsterInstance, dataset: str, month: str) -> int | None:
    """The staging number the latest release_candidates materialization of `month` recorded for `dataset`
    (None: none recorded in this instance)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=STAGED_ASSET, asset_partitions=[month]), limit=1
    ).records
    if not records or records[0].asset_materialization is None:
        return None
    value = records[0].asset_materialization.metadata.get(f"{dataset}_staging")
    number = value.value if value is not None else None
    return number if isinstance(number, int) else None


def rollback_problem(instance: dg.DagsterInstance, current: ledger.Candidate | None) -> str | None:
    """Why the ledger's current staging cannot be trusted, or None."""
    if current is None:
        return None
    recorded = recorded_staging(instance, current.dataset, current.month)
    if recorded is not None and (current.seq or 0) < recorded:
        return (
            f"the ledger's newest staging of {current.dataset} {current.month} is #{current.seq}, older than "
            f"#{recorded}, which the release run recorded in Dagster's event log: a staging was removed from "
            f"the state database, so nothing of {current.dataset} {current.month} is published until an "
            "administrator investigates"
        )
    return None
