"""Disclosure control asset: the month's counts become the files that could be published."""

import dagster as dg

from metpipeline.catalogue import CATALOGUE
from metpipeline.disclosure.files import (
    hidden_from_previous,
    known_from_previous,
    not_geocoded,
    previous_publishable,
    read_counts,
    record_published_cells,
    record_suppressed_cells,
)
from metpipeline.disclosure.policy import load_policy
from metpipeline.disclosure.render import write_publishable
from metpipeline.disclosure.suppress import apply_policy, complement_secret
from metpipeline.memory import release_pools
from metpipeline.months.partitions import EARLIER_MONTHS, monthly_partitions
from metpipeline.reference import category_sensitivity
from metpipeline.resources import GovernanceResource, WorkAreaResource
from metpipeline.workarea import WorkAreaFull, remove_stale_temporaries

DATASET_ASSETS = tuple(spec.asset_name for spec in CATALOGUE.values())


def disclosure_record(month, policy, outcome, release, ng) -> dict:
    return {
        "month": month,
        "policy_version": policy.version,
        "marker": policy.marker,
        # What the policy did to each table: the publishable totals check sums only tables with no marker.
        "actions": {slug: rule.action for slug, rule in policy.datasets.items()},
        "min_interval_width": policy.min_interval_width,
        "suppressed_cells": outcome.cells(release),
        "withheld_categories": {
            slug: [{"major": a, "minor": b} for a, b in cats] for slug, cats in outcome.withheld.items()
        },
        "withheld_totals": outcome.withheld_totals,
        "not_geocoded": ng,
        "not_geocoded_granularity": policy.not_geocoded_published,
        "unresolved_blocks": len(outcome.unresolved),
        "information_loss": outcome.information_loss(release),
    }


@dg.asset(
    partitions_def=monthly_partitions,
    deps=[
        *(dg.AssetKey(k) for k in DATASET_ASSETS),
        # What earlier versions published and hid is part of M's disclosure model (previous_publishable
        # reads their publishable folders), so each month depends on every earlier one.
        dg.AssetDep("disclosed_datasets", partition_mapping=EARLIER_MONTHS),
    ],
    group_name="disclosure",
    kinds={"python"},
)
def disclosed_datasets(
    context: dg.AssetExecutionContext, workarea: WorkAreaResource, governance: GovernanceResource
) -> dg.MaterializeResult:
    """The month's datasets after disclosure control: suppressed, withheld, ready for the data owner."""
    month, area = context.partition_key, workarea.area
    # The run holds the month's lock (months/locks.py): a temporary file in its folders is a killed run's.
    for folder in (area.publishable_dir(month), area.compressed_dir(month)):
        for stale in remove_stale_temporaries(folder):
            context.log.warning(f"removed {stale}, left by an earlier run of {month} that was stopped")
    try:
        return _disclose(context, area, month, governance)
    except WorkAreaFull as exc:
        raise dg.Failure(description=exc.strerror) from None


def _disclose(context, area, month, governance) -> dg.MaterializeResult:
    policy = load_policy(governance.policy_file)
    release = read_counts(area.counts_dir(month), require=True)  # exactly its declared inputs
    if not release:
        raise FileNotFoundError(f"no counts files for {month} under {area.counts_dir(month)}")
    ng = not_geocoded(release)
    previous = previous_publishable(area.path("releases"), month)
    sensitivity = category_sensitivity()
    known = known_from_previous(previous, policy, sensitivity)
    # The complement draw's secret (suppress.py): from the deployment's ledger key, never in any output.
    secret = complement_secret(governance.ledger_key(context.log.info))
    outcome = apply_policy(release, policy, sensitivity, known, hidden_from_previous(previous), secret=secret)
    del known
    release_pools()  # the tables withholding replaced, and the earlier versions' cells
    out_dir = area.publishable_dir(month)
    for slug in sorted({s for s, _ in release}):
        tables = [t for (s, _w), t in sorted(release.items()) if s == slug]
        # Streamed to each file, atomically; the tidy CSV's gzip made alongside for the public files.
        write_publishable(out_dir, slug, tables, policy.marker, gzip_dir=area.compressed_dir(month))
        release_pools()  # the file's rendering buffers, before the next dataset's
    record = disclosure_record(month, policy, outcome, release, ng)
    area.write_json(out_dir / "disclosure.json", record)
    # What the next release's attacker knows: every version's published cells and suppression patterns.
    record_published_cells(out_dir, previous, policy, sensitivity)
    record_suppressed_cells(release, month, out_dir, previous)
    return dg.MaterializeResult(
        metadata={
            "policy_version": policy.version,
            "suppressed_cells": dg.MetadataValue.json(record["suppressed_cells"]),
            "withheld_categories": dg.MetadataValue.json(record["withheld_categories"]),
            "unresolved_blocks": len(outcome.unresolved),
            "previous_version_considered": previous is not None,
            "path": dg.MetadataValue.path(str(out_dir)),
        }
    )
