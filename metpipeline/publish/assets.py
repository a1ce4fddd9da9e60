"""The published datasets in the asset graph: one asset per catalogue dataset, monthly, downstream of the
release candidates. The bucket holds them; `publish_job` records each publication as a materialization of
the month's partition (version, public address, manifest sha256, files and sizes, approvers, release time,
whether it reverts to an earlier version), so the Catalog shows what is live, month by month."""

import dagster as dg

from metpipeline.catalogue import CATALOGUE
from metpipeline.months.partitions import monthly_partitions


def published_key(dataset: str) -> dg.AssetKey:
    return dg.AssetKey(f"published_{dataset}")


PUBLISHED_DATASETS = [
    dg.AssetSpec(
        published_key(dataset),
        deps=["release_candidates"],
        partitions_def=monthly_partitions,
        group_name="publication",
        kinds={"s3"},
        description=f"{spec.title}: the version the public sees in the bucket. Materialized by publish_job "
        "when the owners' approval is published; read back daily by verify_published_job.",
    )
    for dataset, spec in CATALOGUE.items()
]
