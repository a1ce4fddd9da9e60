"""Release report (pure): check results, warnings, suppression, reconciliation and a volume chart,
gathered into a JSON-ready dict and rendered as one self-contained HTML page."""

import html

import jinja2
import markupsafe

from metpipeline.catalogue import CATALOGUE

# Autoescaped: check descriptions carry text people typed (a volume acknowledgement's reason, names), and
# the report is mailed to owners as a link; nothing typed may become markup.
TEMPLATE = jinja2.Environment(autoescape=True).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Release report {{ r.month }}</title>
<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}
.fail{color:#b00;font-weight:bold}.warn{color:#a60;font-weight:bold}.pass{color:#070}</style></head>
<body><h1>MPS crime data release {{ r.month }}</h1>
<p>Disclosure policy version {{ r.disclosure.policy_version }}. Overall:
<span class="{{ r.status }}">{{ r.status | upper }}</span>
({{ r.counts.fail }} failed, {{ r.counts.warn }} warnings, {{ r.counts.pass }} passed).</p>
<h2>Checks</h2><table><tr><th>check</th><th>result</th><th>detail</th></tr>
{% for c in r.checks %}<tr><td>{{ c.name }}</td><td class="{{ c.outcome }}">{{ c.outcome }}</td>
<td>{{ c.description }}</td></tr>{% endfor %}</table>
<h2>Volume</h2>{{ chart | safe }}
{% if r.warnings %}<ul>{% for w in r.warnings %}<li class="warn">{{ w }}</li>{% endfor %}</ul>{% endif %}
<h2>Disclosure control</h2><table><tr><th>dataset</th><th>primary</th><th>secondary</th></tr>
{% for slug, d in r.disclosure.suppressed_cells.items() %}<tr><td>{{ slug }}</td><td>{{ d.primary }}</td>
<td>{{ d.secondary }}</td></tr>{% endfor %}</table>
<h3>Information lost to suppression (this release and the previous one)</h3>
<table><tr><th>dataset</th><th>suppressed cells</th><th>share of cells</th><th>crimes hidden</th>
<th>previous release: cells</th><th>previous share</th></tr>
{% for d in r.disclosure.information_loss %}<tr><td>{{ d.dataset }}</td><td>{{ d.suppressed }}</td>
<td>{{ "%.2f%%" % (100 * d.share) }}</td><td>{{ d.crimes_hidden }}</td>
<td>{{ d.previous_suppressed if d.previous_suppressed is not none else "none" }}</td>
<td>{{ "%.2f%%" % (100 * d.previous_share) if d.previous_share is not none else "none" }}</td></tr>
{% endfor %}</table>
{% for d in r.disclosure.information_loss %}{% if d.by_category %}
<table><caption>{{ d.dataset }}: suppressed cells by category (this release; previous release)</caption>
<tr><th>category</th><th>suppressed</th><th>share</th><th>previous</th><th>previous share</th></tr>
{% for c in d.by_category %}<tr><td>{{ c.category }}</td><td>{{ c.suppressed }}</td>
<td>{{ "%.2f%%" % (100 * c.share) if c.share is not none else "" }}</td>
<td>{{ c.previous_suppressed if c.previous_suppressed is not none else "none" }}</td>
<td>{{ "%.2f%%" % (100 * c.previous_share) if c.previous_share is not none else "none" }}</td></tr>
{% endfor %}</table>
{% if d.lone_rows_withheld or d.rows_withheld %}<p>{{ d.dataset }}: rows withheld because no suppression could
protect them: {{ d.lone_rows_withheld + d.rows_withheld }}.</p>{% endif %}{% endif %}{% endfor %}
{% for slug, cats in r.disclosure.withheld_categories.items() %}<p>Withheld from the {{ slug }} file
entirely: {% for c in cats %}{{ c.minor }}{% if not loop.last %}, {% endif %}{% endfor %}.</p>{% endfor %}
<h2>Reconciliation</h2><table><tr><th>system</th><th>extracted</th><th>counted</th><th>excluded</th></tr>
{% for s, d in r.reconciliation.systems.items() %}<tr><td>{{ s }}</td><td>{{ d.extracted }}</td>
<td>{{ d.counted }}</td><td>{% for k, v in d.excluded.items() %}{{ k }}: {{ v }}<br>{% endfor %}</td></tr>
{% endfor %}</table><p>Counted: {{ r.reconciliation.counted }}. Not geocoded (counted, but left out of
the table's rows): {% for slug, n in r.not_geocoded.items() %}{{ slug }} {{ n }}
{{- "; " if not loop.last }}{% endfor %}.</p></body></html>
"""
)


def outcome(passed: bool, severity: str) -> str:
    if passed:
        return "pass"
    return "warn" if severity.upper() == "WARN" else "fail"


def _previous(before: dict, category: str, field: str):
    c = (before.get("by_category") or {}).get(category)
    return c.get(field) if isinstance(c, dict) else None


def information_loss(disclosure: dict, previous: dict | None) -> list[dict]:
    """Suppressed cells and their share per dataset, this release beside the previous one."""
    now = disclosure.get("information_loss") or {}
    before = (previous or {}).get("information_loss") or {}
    rows = []
    for slug in sorted(set(now) | set(before)):
        a, b = now.get(slug, {}), before.get(slug, {})
        rows.append(
            {
                "dataset": slug,
                "suppressed": a.get("suppressed", 0),
                "share": a.get("share", 0.0),
                "crimes_hidden": a.get("crimes_hidden", 0),
                "previous_suppressed": b.get("suppressed") if b else None,
                "previous_share": b.get("share") if b else None,
                "by_category": [
                    {
                        "category": name,
                        "suppressed": c.get("suppressed", 0) if isinstance(c, dict) else c,
                        "share": c.get("share", 0.0) if isinstance(c, dict) else None,
                        "previous_suppressed": _previous(b, name, "suppressed"),
                        "previous_share": _previous(b, name, "share"),
                    }
                    for name, c in a.get("by_category", {}).items()
                ],
                "lone_rows_withheld": a.get("lone_rows_withheld", 0),
                "rows_withheld": a.get("rows_withheld", 0),
            }
        )
    return rows


def build_report(
    month: str,
    checks: list[dict],
    disclosure: dict,
    reconciliation: dict | None,
    monthly_totals: dict[str, int],
    previous_disclosure: dict | None = None,
) -> dict:
    """`checks`: dicts with name, passed, severity, description (counts only). `monthly_totals`: YYYYMM ->
    London total for the month and up to twelve months before it."""
    rows = [dict(c, outcome=outcome(bool(c["passed"]), str(c.get("severity", "ERROR")))) for c in checks]
    counts = {k: sum(r["outcome"] == k for r in rows) for k in ("pass", "warn", "fail")}
    reconciliation = reconciliation or {"systems": {}, "counted": None, "not_geocoded": {}}
    return {
        "month": month,
        "status": "fail" if counts["fail"] else ("warn" if counts["warn"] else "pass"),
        "counts": counts,
        "checks": rows,
        "warnings": [f"{r['name']}: {r['description']}" for r in rows if r["outcome"] == "warn"],
        "disclosure": {
            "policy_version": disclosure.get("policy_version"),
            "suppressed_cells": disclosure.get("suppressed_cells", {}),
            "withheld_categories": disclosure.get("withheld_categories", {}),
            "information_loss": information_loss(disclosure, previous_disclosure),
        },
        "reconciliation": reconciliation,
        "not_geocoded": {
            s.slug: (reconciliation.get("not_geocoded") or {}).get(s.slug)
            for s in CATALOGUE.values()
            if s.not_geocoded
        },
        "volume": dict(sorted(monthly_totals.items())),
    }


def volume_svg(totals: dict[str, int], width: int = 480, height: int = 160) -> str:
    """Bar chart of the month's total (last bar, dark) against the trailing months."""
    if not totals:
        return "<p>No volume history.</p>"
    items = sorted(totals.items())
    top = max(v for _, v in items) or 1
    bar = width / len(items)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 20}" role="img">']
    for i, (m, v) in enumerate(items):
        h = (height - 10) * v / top
        colour = "#1f4e79" if i == len(items) - 1 else "#9db9d5"
        x = i * bar
        geometry = f'x="{x + 2:.1f}" y="{height - h:.1f}" width="{bar - 4:.1f}" height="{h:.1f}"'
        parts.append(f'<rect {geometry} fill="{colour}"><title>{html.escape(m)}: {v}</title></rect>')
        parts.append(f'<text x="{x + 2:.1f}" y="{height + 14}" font-size="9">{html.escape(m[2:])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: dict) -> str:
    # The chart is built here from numbers and month names, each escaped where it is written.
    return TEMPLATE.render(r=report, chart=markupsafe.Markup(volume_svg(report["volume"])))
