"""What the data owner reads: the release report as Markdown in the UI, and the message that a month's
candidates are ready, with its headline figures and the link to the decision. No server path is shown."""

from metpipeline.notify import Notice


def headline(report: dict) -> dict:
    volume = {k: int(v) for k, v in (report.get("volume") or {}).items()}
    months = sorted(volume)
    counted = int(
        (report.get("reconciliation") or {}).get("counted", volume.get(months[-1], 0) if months else 0)
    )
    previous = volume.get(months[-2]) if len(months) >= 2 else None
    suppressed = sum(
        int(v.get("primary", 0)) + int(v.get("secondary", 0))
        for v in ((report.get("disclosure") or {}).get("suppressed_cells") or {}).values()
    )
    return {
        "counted": counted,
        "previous": previous,
        "change_pct": round((counted - previous) / previous * 100, 1) if previous else None,
        "warnings": len(report.get("warnings") or []),
        "suppressed_cells": suppressed,
        "status": str(report.get("status", "")),
        "failed_checks": int((report.get("counts") or {}).get("fail", 0)),
    }


def headline_text(month: str, figures: dict) -> str:
    change = (
        f"{figures['change_pct']:+.1f}% against the previous month ({figures['previous']:,})"
        if figures["change_pct"] is not None
        else "no previous month to compare with"
    )
    return (
        f"{month}: {figures['counted']:,} crimes counted, {change}; {figures['warnings']} warning(s); "
        f"{figures['suppressed_cells']:,} cells suppressed; checks: {figures['status']}"
    )


def report_markdown(report: dict, plain_words: dict[str, str]) -> str:
    """The release report for the owner, in the UI: result, every check, warnings, suppression,
    reconciliation, and the month totals as a table with values."""
    month = report.get("month", "")
    figures = headline(report)
    lines = [
        f"### Release report {month}: "
        + (
            "CHECKS FAILED"
            if figures["failed_checks"]
            else f"every blocking check passed, {figures['warnings']} warning(s)"
            if figures["warnings"]
            else "all checks passed"
        ),
        headline_text(month, figures),
        "",
        "#### Checks",
        "| result | check | what it means | found |",
        "|---|---|---|---|",
    ]
    for check in report.get("checks") or []:
        name = str(check.get("name", ""))
        outcome = str(check.get("outcome", "pass" if check.get("passed") else "fail"))
        meaning = plain_words.get(name, "")
        found = str(check.get("description", "")).replace("|", "/")[:200]
        lines.append(f"| {outcome} | `{name}` | {meaning} | {found} |")
    lines += ["", "#### Warnings"]
    lines += [f"- {w}" for w in report.get("warnings") or []] or ["- none"]
    disclosure = report.get("disclosure") or {}
    lines += ["", f"#### Disclosure control (policy {disclosure.get('policy_version', '?')})"]
    lines += ["| dataset | suppressed (primary) | suppressed (secondary) |", "|---|---|---|"]
    for dataset, cells in sorted((disclosure.get("suppressed_cells") or {}).items()):
        lines.append(f"| {dataset} | {int(cells.get('primary', 0)):,} | {int(cells.get('secondary', 0)):,} |")
    loss = disclosure.get("information_loss") or []
    if loss:
        lines += ["", "Information lost to suppression, beside the previous release:", ""]
        lines += [
            "| dataset | cells suppressed | share | previous | previous share |",
            "|---|---|---|---|---|",
        ]
        for d in loss:
            before = "none" if d.get("previous_suppressed") is None else f"{int(d['previous_suppressed']):,}"
            share_before = "none" if d.get("previous_share") is None else f"{100 * d['previous_share']:.2f}%"
            share = f"{100 * d['share']:.2f}%"
            lines.append(
                f"| {d['dataset']} | {int(d['suppressed']):,} | {share} | {before} | {share_before} |"
            )
        for d in loss:
            for c in d.get("by_category") or []:
                share = "" if c.get("share") is None else f"{100 * c['share']:.2f}%"
                was = "none" if c.get("previous_suppressed") is None else f"{int(c['previous_suppressed']):,}"
                was_share = "none" if c.get("previous_share") is None else f"{100 * c['previous_share']:.2f}%"
                name = f"{d['dataset']}: {c['category']}"
                lines.append(f"| {name} | {int(c['suppressed']):,} | {share} | {was} | {was_share} |")
    for dataset, withheld in sorted((disclosure.get("withheld_categories") or {}).items()):
        if not withheld:
            continue
        names = ", ".join(f"{w.get('major')} / {w.get('minor')}" for w in withheld)
        lines.append(f"\nWithheld from {dataset}: {names}")
    recon = report.get("reconciliation") or {}
    lines += ["", "#### Reconciliation (every source record counted or excluded with a reason)"]
    lines += ["| system | extracted | counted | excluded |", "|---|---|---|---|"]
    for system, f in sorted((recon.get("systems") or {}).items()):
        reasons = sorted((f.get("excluded") or {}).items())
        excluded = ", ".join(f"{k} {int(v):,}" for k, v in reasons if v)
        extracted, counted = int(f.get("extracted", 0)), int(f.get("counted", 0))
        lines.append(f"| {system} | {extracted:,} | {counted:,} | {excluded or 'none'} |")
    lines += ["", "#### Crimes counted per month", "| month | crimes |", "|---|---|"]
    for key, value in sorted((report.get("volume") or {}).items()):
        lines.append(f"| {key[:4]}-{key[4:]} | {int(value):,} |")
    return "\n".join(lines)


def staged_notice(
    month: str, candidates: dict[str, str], report: dict, recipients, link: str, report_link: str
) -> Notice:
    text = "\n".join(
        [
            f"The release candidates for {month} are ready for your decision.",
            headline_text(month, headline(report)),
            "Datasets: " + ", ".join(f"{d} ({h[:12]}…)" for d, h in sorted(candidates.items())),
            f"Read the release report: {report_link}",
        ]
    )
    return Notice(f"MPS crime data {month}: release ready for your decision", text, link, tuple(recipients))


def reminder_notice(month: str, waiting: list[str], days: int, recipients, link: str) -> Notice:
    text = (
        f"The {month} release has waited {days} day(s) for a decision on: {', '.join(sorted(waiting))}. "
        "Nothing is published until the data owners decide."
    )
    return Notice(f"Reminder: MPS crime data {month} awaits your decision", text, link, tuple(recipients))
