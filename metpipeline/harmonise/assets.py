"""Dagster asset of the harmonise stage: counted crimes and the reconciliation ledger per month."""

import dagster as dg
import pandas as pd

from metpipeline.extract.assets import connect_extract, cris_extract
from metpipeline.harmonise.month import harmonise_month
from metpipeline.months.partitions import ONE_RUN, monthly_partitions
from metpipeline.resources import WorkAreaResource


def _read_extract(area, system: str, month: str) -> pd.DataFrame:
    path = area.extract_path(system, month)
    if not path.is_file():
        raise FileNotFoundError(
            f"{month}: no {system} extract at {path}: materialise {system.lower()}_extract first"
        )
    return pd.read_parquet(path)


@dg.asset(
    partitions_def=monthly_partitions,
    group_name="harmonise",
    deps=[cris_extract, connect_extract],
    backfill_policy=ONE_RUN,
    description="One row per counted crime (contract rules 1-7), no identifiers; every extracted row "
    "counted or excluded with a reason in the reconciliation ledger.",
)
def harmonised_offences(
    context: dg.AssetExecutionContext, workarea: WorkAreaResource
) -> dg.MaterializeResult:
    area = workarea.area
    ledgers: dict[str, dict] = {}
    for month in context.partition_keys:
        cris = _read_extract(area, "CRIS", month)
        connect = _read_extract(area, "CONNECT", month)
        # Raises naming every unmapped offence code (system, rows) or unknown geography code: the month stops.
        harmonised, ledger = harmonise_month(month, cris, connect)
        area.write_parquet(area.harmonised_path(month), harmonised)
        area.write_json(area.reconciliation_path(month), ledger)
        ledgers[month] = ledger
        context.log.info(f"{month}: {ledger['counted']} crimes counted")
    return dg.MaterializeResult(
        metadata={
            "counted": dg.MetadataValue.int(sum(x["counted"] for x in ledgers.values())),
            **{
                f"not_geocoded_{slug}": dg.MetadataValue.int(
                    sum(x["not_geocoded"].get(slug, 0) for x in ledgers.values())
                )
                for slug in {s for x in ledgers.values() for s in x["not_geocoded"]}
            },
            "premises_defaulted": dg.MetadataValue.int(
                sum(x["premises_defaulted"] for x in ledgers.values())
            ),
            "reconciliation": dg.MetadataValue.json(ledgers),
        }
    )
