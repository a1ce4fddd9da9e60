"""The summary printed after a release or `make run`: what was built, checked, suppressed and published."""

import json

from metpipeline import settings
from metpipeline.resources import default_resources


def _load(path):
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _suppressed_total(cells) -> int:
    """Total suppressed cells from disclosure.json's nested {rule or dataset: count or {...}} mapping."""
    if isinstance(cells, int):
        return cells
    if isinstance(cells, dict):
        return sum(_suppressed_total(v) for v in cells.values())
    return 0


def print_release_summary(month: str) -> None:
    from metpipeline.governance import ledger
    from metpipeline.governance.registry import DATASETS
    from metpipeline.publish.datapackage import BUCKET_SLUGS

    resources = default_resources()
    area = resources["workarea"].area
    engine = resources["state"].engine()
    recon = _load(area.reconciliation_path(month)) or {}
    disclosure = _load(area.publishable_dir(month) / "disclosure.json") or {}
    report = _load(area.report_dir(month) / "report.json") or {}

    print()
    print(f"=== metpipeline release {month} ===")
    for system, figures in sorted((recon.get("systems") or {}).items()):
        excluded = ", ".join(f"{k} {v}" for k, v in sorted(figures.get("excluded", {}).items()) if v)
        print(
            f"  {system:8} extracted {figures.get('extracted', 0):>8,}"
            f"  counted {figures.get('counted', 0):>8,}"
            f"  excluded: {excluded or 'none'}"
        )
    ng = recon.get("not_geocoded") or {}
    left_out = ", ".join(f"{slug} {n}" for slug, n in ng.items())
    print(f"  counted crimes: {recon.get('counted', 0):,} (not geocoded: {left_out or 'none'})")
    print(
        f"  disclosure policy {disclosure.get('policy_version')}: "
        f"{_suppressed_total(disclosure.get('suppressed_cells')):,} cells suppressed; "
        f"withheld: {json.dumps(disclosure.get('withheld_categories') or {})}"
    )
    counts = report.get("counts") or {}
    print(
        f"  checks: {counts.get('pass', 0)} passed, {counts.get('warn', 0)} warnings, "
        f"{counts.get('fail', 0)} failed"
    )
    for warning in report.get("warnings") or []:
        print(f"    warning: {warning}")
    print("  datasets:")
    for dataset in DATASETS:
        current = ledger.current_candidate(engine, dataset, month)
        if current is None:
            print(f"    {dataset:8} no candidate staged")
            continue
        decisions = ledger.decisions_for(engine, dataset, month, current.content_hash)
        publication = ledger.publication_for(engine, dataset, month, current.content_hash)
        state = (
            f"published v{publication.version} at "
            f"datasets/{BUCKET_SLUGS[dataset]}/{month}/v{publication.version}/"
            if publication
            else (
                "; ".join(d.describe() for d in decisions)
                if decisions
                else "waiting for the data owner's approval"
            )
        )
        print(f"    {dataset:8} candidate {current.content_hash[:12]}…  {state}")
    print(f"  report:  {area.report_dir(month) / 'report.html'}")
    print(f"  bucket:  {settings.BUCKET_URL.value()}")
    print(
        f"  UI:      make ui, then open http://127.0.0.1:3000 (the owners' decision page: /approvals/{month})"
    )
