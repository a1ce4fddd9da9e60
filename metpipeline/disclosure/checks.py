"""Blocking checks on the publishable files: nothing leaves the work area unless all three pass."""

from pathlib import Path

import dagster as dg

from metpipeline.disclosure.allowlist import scan_publishable
from metpipeline.disclosure.audit import audit_release, threshold_breaches
from metpipeline.disclosure.files import (
    hidden_from_previous,
    known_from_previous,
    previous_publishable,
    read_published,
)
from metpipeline.disclosure.policy import Policy, load_policy
from metpipeline.disclosure.tables import Release
from metpipeline.reference import category_sensitivity
from metpipeline.resources import GovernanceResource, WorkAreaResource

THRESHOLD = "disclosure_threshold"
DIFFERENCING = "disclosure_differencing_audit"
ALLOWLIST = "disclosure_allowlist"


def threshold_result(
    publishable_dir: Path, counts_dir: Path, policy: Policy, release: Release | None = None
) -> dg.AssetCheckResult:
    """`release`: the release as published (`read_published`), when already read."""
    sens = category_sensitivity()
    if release is None:
        release = read_published(publishable_dir, counts_dir, policy, sens)
    breaches = threshold_breaches(release, policy, sens)
    total = sum(breaches.values())
    return dg.AssetCheckResult(
        check_name=THRESHOLD,
        passed=total == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"{total} published protected cells with counts "
        f"{policy.rule('ward').min_count}-{policy.rule('ward').max_count}",
        metadata={"breaches_by_dataset": dg.MetadataValue.json(breaches), "policy_version": policy.version},
    )


def differencing_result(
    publishable_dir: Path,
    counts_dir: Path,
    policy: Policy,
    previous_dir: Path | None = None,
    release: Release | None = None,
) -> dg.AssetCheckResult:
    """Audit this release, and the attacker who also holds the previous version's files (`previous_dir`).
    `release`: the release as published (`read_published`), when already read."""
    if release is None:
        release = read_published(publishable_dir, counts_dir, policy, category_sensitivity())
    result = audit_release(
        release, policy, known_from_previous(previous_dir, policy), hidden_from_previous(previous_dir)
    )
    summary = result.summary()
    return dg.AssetCheckResult(
        check_name=DIFFERENCING,
        passed=result.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"{summary['cells_failing']} of {summary['cells_audited']} suppressed cells can be "
        f"narrowed below a range of {policy.min_interval_width:g}",
        metadata={
            "audit": dg.MetadataValue.json(summary),
            "previous_version": previous_dir is not None,
            "policy_version": policy.version,
        },
    )


def allowlist_result(publishable_dir, policy) -> dg.AssetCheckResult:
    problems = scan_publishable(publishable_dir, policy)
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"{len(problems)} problems" if problems else "every file and value is allowed",
        # Messages name the file and column and the shape of a value, never the value itself.
        metadata={"problems": dg.MetadataValue.json(problems[:50]), "problem_count": len(problems)},
    )


def partition_of(context: dg.AssetCheckExecutionContext) -> str:
    """The month of the run: checks run with their asset, in the same single-partition run."""
    tag = context.run.tags.get("dagster/partition")
    if not tag:
        raise ValueError("this check runs with a single monthly partition of its asset")
    return tag


def _dirs(context: dg.AssetCheckExecutionContext, workarea: WorkAreaResource) -> tuple[Path, Path]:
    month, area = partition_of(context), workarea.area
    return area.publishable_dir(month), area.counts_dir(month)


@dg.multi_asset_check(
    name="disclosure_published_cells",
    specs=[
        dg.AssetCheckSpec(
            THRESHOLD,
            asset="disclosed_datasets",
            blocking=True,
            description="No protected cell is published with a count the policy suppresses.",
        ),
        dg.AssetCheckSpec(
            DIFFERENCING,
            asset="disclosed_datasets",
            blocking=True,
            description="No suppressed cell can be recovered from the release's published numbers or the "
            "previous version's.",
        ),
    ],
)
def disclosure_published_cells(
    context: dg.AssetCheckExecutionContext, workarea: WorkAreaResource, governance: GovernanceResource
):
    """The threshold and differencing checks, from one reading of the release as published (each check
    read it whole before, each taking time and a full-scale working set: benchmarks/RESULTS.md)."""
    publishable, counts = _dirs(context, workarea)
    policy = load_policy(governance.policy_file)
    release = read_published(publishable, counts, policy, category_sensitivity())
    yield threshold_result(publishable, counts, policy, release)  # only reads the tables: first
    previous = previous_publishable(workarea.area.path("releases"), partition_of(context))
    yield differencing_result(publishable, counts, policy, previous, release)


@dg.asset_check(asset="disclosed_datasets", name=ALLOWLIST, blocking=True)
def disclosure_allowlist(
    context: dg.AssetCheckExecutionContext, workarea: WorkAreaResource, governance: GovernanceResource
) -> dg.AssetCheckResult:
    """Every publishable file has only allowed columns and values."""
    return allowlist_result(_dirs(context, workarea)[0], load_policy(governance.policy_file))


CHECKS = [disclosure_published_cells, disclosure_allowlist]
