"""Release report asset: recomputes the month's checks from the files and writes report.html/json."""

import dagster as dg
import pandas as pd

from metpipeline.disclosure import checks as disclosure_checks
from metpipeline.disclosure.files import previous_publishable
from metpipeline.disclosure.policy import load_policy
from metpipeline.partitions import monthly_partitions
from metpipeline.quality import checks as quality
from metpipeline.report.build import build_report, render_html
from metpipeline.resources import GovernanceResource, WorkAreaResource
from metpipeline.workarea import WorkArea


def _row(name: str, r: dg.AssetCheckResult) -> dict:
    return {
        "name": name,
        "passed": r.passed,
        "severity": r.severity.value,
        "description": r.description or "",
    }


def gather_checks(area: WorkArea, month: str, policy) -> list[dict]:
    """Dataset and disclosure checks recomputed from the files (simpler than reading the event log)."""
    rows = []
    for slug, rules in quality.DATASET_RULES.items():
        files, ledger = quality.read_dataset_files(area, slug, month), quality.read_ledger(area, month)
        rows += [_row(f"{slug}_{r}", quality.dataset_result(slug, r, files, month, ledger)) for r in rules]
    borough = quality.read_dataset_files(area, "borough", month).get("24m", pd.DataFrame())
    rows.append(_row("volume_within_trailing_range", quality.volume_result(borough, month)))
    pub, counts = area.release_dir(month, "publishable"), area.release_dir(month, "counts")
    previous = previous_publishable(area.path("releases"), month)
    rows.append(_row("disclosure_threshold", disclosure_checks.threshold_result(pub, counts, policy)))
    rows.append(
        _row(
            "disclosure_differencing_audit",
            disclosure_checks.differencing_result(pub, counts, policy, previous),
        )
    )
    rows.append(_row("disclosure_allowlist", disclosure_checks.allowlist_result(pub, policy)))
    return rows


@dg.asset(partitions_def=monthly_partitions, deps=["disclosed_datasets"], group_name="report", kinds={"html"})
def release_report(
    context: dg.AssetExecutionContext, workarea: WorkAreaResource, governance: GovernanceResource
) -> dg.MaterializeResult:
    """What the data owner reads before approving: checks, warnings, suppression, reconciliation, volume."""
    month, area = context.partition_key, workarea.area
    policy = load_policy(governance.policy_file)
    disclosure = WorkArea.read_json(area.release_dir(month, "publishable", "disclosure.json"))
    borough = quality.read_dataset_files(area, "borough", month).get("24m", pd.DataFrame())
    cols = [c for c in borough.columns if str(c).isdigit() and c <= month.replace("-", "")][-13:]
    totals = {c: int(borough[c].sum()) for c in cols}
    report = build_report(
        month, gather_checks(area, month, policy), disclosure, quality.read_ledger(area, month), totals
    )
    out = area.release_dir(month, "report")
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
