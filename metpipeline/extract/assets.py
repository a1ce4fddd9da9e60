"""Dagster assets of the extract stage: one parquet file per system and month in the work area."""

import dagster as dg
import pandas as pd

from metpipeline.extract.changes import record_watermark
from metpipeline.extract.queries import (
    check_contract_columns,
    extract_connect,
    extract_cris,
    source_state,
    sql_window,
)
from metpipeline.partitions import monthly_partitions
from metpipeline.resources import DataMartResource, WorkAreaResource


def _extract(context: dg.AssetExecutionContext, datamart, workarea, system: str, fn, status: str):
    engine = datamart.engine()  # fails naming the (redacted) URL when the DataMart is unreachable
    check_contract_columns(engine)
    # Read before extracting, so a row modified during the run marks its month as changed next time.
    # Undated rows are in no month: reported with every month, they block every release.
    state = source_state(engine, system)
    watermark, undated = state.watermark, state.undated
    per_month: dict[str, dict] = {}
    for month in context.partition_keys:  # a back-fill range is extracted in one run
        df: pd.DataFrame = fn(engine, month, checked=True)
        workarea.area.write_parquet(workarea.area.extract_path(system, month), df)
        workarea.area.write_json(workarea.area.undated_path(system, month), {"undated_rows": undated})
        record_watermark(workarea.area, system, month, watermark)
        window = sql_window(month)
        per_month[month] = {
            "rows": int(len(df)),
            "by_status": {str(k): int(v) for k, v in df[status].value_counts().sort_index().items()},
            "sql_window": [window["window_start"].isoformat(), window["window_end"].isoformat()],
        }
        context.log.info(f"{system} {month}: {len(df)} rows extracted")
    return dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(sum(m["rows"] for m in per_month.values())),
            "months": dg.MetadataValue.json(per_month),
        }
    )


@dg.asset(
    partitions_def=monthly_partitions,
    group_name="extract",
    pool="datamart",  # production limits concurrent DataMart queries (deploy/dagster.yaml)
    description="CRIS crime reports recorded in the month (London time); no PII column is read.",
)
def cris_extract(
    context: dg.AssetExecutionContext, datamart: DataMartResource, workarea: WorkAreaResource
) -> dg.MaterializeResult:
    return _extract(context, datamart, workarea, "CRIS", extract_cris, "crime_status")


@dg.asset(
    partitions_def=monthly_partitions,
    group_name="extract",
    pool="datamart",  # production limits concurrent DataMart queries (deploy/dagster.yaml)
    description="CONNECT offences recorded in the month (UTC converted to London time); no PII is read.",
)
def connect_extract(
    context: dg.AssetExecutionContext, datamart: DataMartResource, workarea: WorkAreaResource
) -> dg.MaterializeResult:
    return _extract(context, datamart, workarea, "CONNECT", extract_connect, "offence_status")
