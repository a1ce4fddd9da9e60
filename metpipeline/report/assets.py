"""Release report asset: recomputes the month's checks from the files and writes report.html/json."""

import dagster as dg
import pandas as pd

from metpipeline.catalogue import headline
from metpipeline.disclosure import checks as disclosure_checks
from metpipeline.disclosure.files import previous_publishable
from metpipeline.disclosure.policy import load_policy
from metpipeline.months.partitions import monthly_partitions
from metpipeline.quality import checks as quality
from metpipeline.report.build import build_report, render_html
from metpipeline.resources import GovernanceResource, WorkAreaResource
from metpipeline.workarea import WorkArea


def _row(name: str, r) -> dict:
    """A report row from an AssetCheckResult or a stored AssetCheckEvaluation (same fields)."""
    return {
        "name": name,
        "passed": r.passed,
        "severity": r.severity.value,
        "description": r.description or "",
    }


def checks_of_run(instance: dg.DagsterInstance, run_id: str) -> list[dict]:
    """Every check evaluated so far in this run (extract, harmonised, dataset and disclosure checks), read
    from the run's own event log, so the report shows exactly what the release was checked against."""
    records = instance.get_records_for_run(
        run_id=run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION, limit=1000
    ).records
    rows = []
    for record in records:
        event = record.event_log_entry.dagster_event
        if event is None:
            continue
        evaluation = event.event_specific_data
        rows.append(_row(evaluation.check_name, evaluation))  # type: ignore[union-attr, arg-type]
    return rows


def gather_checks(area: WorkArea, month: str, policy, evaluated: list[dict] | None = None) -> list[dict]:
    """The run's evaluated checks, plus any dataset or disclosure check not evaluated in this run (e.g.
    when the report alone is re-materialised), recomputed from the files. Nothing is computed twice."""
    rows = list(evaluated or [])
    seen = {r["name"] for r in rows}
    return rows + [
        _row(name, compute()) for name, compute in _recomputable(area, month, policy) if name not in seen
    ]


def _recomputable(area: WorkArea, month: str, policy):
    """(check name, thunk) for the checks the report can recompute from the work area's files."""
    ledger = quality.read_ledger(area, month)
    for slug, rules in quality.DATASET_RULES.items():
        for rule in rules:
            yield (
                f"{slug}_{rule}",
                lambda slug=slug, rule=rule: quality.dataset_result(
                    slug, rule, quality.read_dataset_files(area, slug, month), month, ledger
                ),
            )

    def volume():
        counted = quality.read_dataset_files(area, headline().slug, month).get("24m", pd.DataFrame())
        return quality.volume_result(counted, month)

    pub, counts = area.publishable_dir(month), area.counts_dir(month)
    yield "volume_within_trailing_range", volume
    yield "disclosure_threshold", lambda: disclosure_checks.threshold_result(pub, counts, policy)
    yield (
        "disclosure_differencing_audit",
        lambda: disclosure_checks.differencing_result(
            pub, counts, policy, previous_publishable(area.path("releases"), month)
        ),
    )
    yield "disclosure_allowlist", lambda: disclosure_checks.allowlist_result(pub, policy)


@dg.asset(partitions_def=monthly_partitions, deps=["disclosed_datasets"], group_name="report", kinds={"html"})
def release_report(
    context: dg.AssetExecutionContext, workarea: WorkAreaResource, governance: GovernanceResource
) -> dg.MaterializeResult:
    """What the data owner reads before approving: checks, warnings, suppression, reconciliation, volume."""
    month, area = context.partition_key, workarea.area
    policy = load_policy(governance.policy_file)
    disclosure = WorkArea.read_json(area.publishable_dir(month) / "disclosure.json")
    counted = quality.read_dataset_files(area, headline().slug, month).get("24m", pd.DataFrame())
    cols = [c for c in counted.columns if str(c).isdigit() and c <= month.replace("-", "")][-13:]
    totals = {c: int(counted[c].sum()) for c in cols}
    evaluated = checks_of_run(context.instance, context.run_id)
    previous_dir = previous_publishable(area.path("releases"), month)
    previous = previous_dir / "disclosure.json" if previous_dir is not None else None
    report = build_report(
        month,
        gather_checks(area, month, policy, evaluated),
        disclosure,
        quality.read_ledger(area, month),
        totals,
        WorkArea.read_json(previous) if previous is not None and previous.is_file() else None,
    )
    out = area.report_dir(month)
    area.write_json(out / "report.json", report)
    area.write_bytes(out / "report.html", render_html(report).encode("utf-8"))
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.path(str(out / "report.html")),
            "status": report["status"],
            "checks": dg.MetadataValue.json(report["counts"]),
            "warnings": len(report["warnings"]),
        }
    )
