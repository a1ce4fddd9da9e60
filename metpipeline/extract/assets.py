"""Dagster assets of the extract stage: one parquet file per system and month in the work area."""

import dagster as dg

from metpipeline.extract.month_files import extract_month, run_engine
from metpipeline.extract.queries import check_contract_columns, source_state
from metpipeline.months.partitions import ONE_RUN, monthly_partitions
from metpipeline.months.shared_work import map_months
from metpipeline.resources import DataMartResource, WorkAreaResource


def _extract(context: dg.AssetExecutionContext, datamart, workarea, system: str) -> dg.MaterializeResult:
    engine = datamart.engine()  # fails naming the (redacted) URL when the DataMart is unreachable
    check_contract_columns(engine)
    # Read before extracting, so a row modified during the run marks its month as changed next time.
    # Undated rows are in no month: reported with every month, they block every release.
    state = source_state(engine, system)

    def done(month: str, summary: dict) -> None:
        context.log.info(f"{system} {month}: {summary['rows']} rows extracted")

    # A back-fill range is extracted in one run, its months shared with a helper process
    # (months/shared_work.py).
    with run_engine(datamart.url, engine):
        per_month = map_months(
            extract_month,
            list(context.partition_keys),
            (datamart.url, workarea.root, system, state),
            done,
            warn=context.log.warning,
        )
    return dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(sum(m["rows"] for m in per_month.values())),
            "months": dg.MetadataValue.json(per_month),
        }
    )


@dg.asset(
    partitions_def=monthly_partitions,
    group_name="extract",
    pool="datamart",  # production limits concurrent DataMart steps (deploy/dagster.yaml)
    backfill_policy=ONE_RUN,
    description="CRIS crime reports recorded in the month (London time); no PII column is read.",
)
def cris_extract(
    context: dg.AssetExecutionContext, datamart: DataMartResource, workarea: WorkAreaResource
) -> dg.MaterializeResult:
    return _extract(context, datamart, workarea, "CRIS")


@dg.asset(
    partitions_def=monthly_partitions,
    group_name="extract",
    pool="datamart",  # production limits concurrent DataMart steps (deploy/dagster.yaml)
    backfill_policy=ONE_RUN,
    description="CONNECT offences recorded in the month (UTC converted to London time); no PII is read.",
)
def connect_extract(
    context: dg.AssetExecutionContext, datamart: DataMartResource, workarea: WorkAreaResource
) -> dg.MaterializeResult:
    return _extract(context, datamart, workarea, "CONNECT")
