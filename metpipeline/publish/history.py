"""`datasets/<slug>/history.html`: a dataset's version history as people read it, rendered from its
`latest.json` (which machines read). Every version, newest first: the month it released, when, what changed
and why, and a link to its cover sheet."""

from urllib.parse import quote

import jinja2

from metpipeline.months.arithmetic import add_months
from metpipeline.publish.words import month_in_words, time_in_words

HISTORY = "history.html"

_TEMPLATE = jinja2.Environment(autoescape=True).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}: version history</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #1b1b1b; line-height: 1.5; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .5rem; border-bottom: 1px solid #b1b4b6; vertical-align: top; }
th { background: #f3f2f1; } a { color: #1d70b8; } a:focus { outline: 3px solid #fd0; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
</style></head>
<body>
<header><p><a href="{{ home }}">All datasets</a></p></header>
<main>
<h1>{{ title }}: version history</h1>
<p>Every version of this dataset, newest first. A new month is a new version; so is a correction to an
earlier month (crimes cancelled or reclassified after they were first counted). Each version's cover sheet
says what it holds. Machine-readable: <a href="latest.json">latest.json</a>.</p>
<table>
<caption>Versions of {{ title }}</caption>
<thead><tr><th scope="col">Version</th><th scope="col">Release for</th><th scope="col">Published</th>
<th scope="col">What changed</th></tr></thead>
<tbody>
{% for v in versions %}<tr>
<th scope="row"><a href="{{ v.href }}">Version {{ v.version }}<span class="visually-hidden">: its cover
sheet</span></a>{% if v.current %} (current){% endif %}</th>
<td>{{ v.month }}</td><td>{{ v.released }}</td>
<td>{% if v.reverts_to_version %}The source went back to the figures of version {{ v.reverts_to_version }}.
{% endif %}{% for c in v.changes %}{{ c }}{% if not loop.last %}; {% endif %}{% else %}no figure changed
{% endfor %}</td>
</tr>{% endfor %}
</tbody></table>
</main></body></html>
"""
)


def group_changes(changes: list[dict]) -> list[dict]:
    """For reading: consecutive months with the same reason become one line ("2022-01 to 2026-10", cells
    summed), so a first version lists its coverage once instead of one line per month. latest.json keeps
    the per-month detail for machines."""
    out: list[dict] = []
    for c in changes:
        last = out[-1] if out else None
        if last and last["why"] == c["why"] and add_months(last["last"], 1) == c["month"]:
            last["last"] = c["month"]
            last["cells_changed"] += c["cells_changed"]
        else:
            out.append(
                {
                    "first": c["month"],
                    "last": c["month"],
                    "cells_changed": c["cells_changed"],
                    "why": c["why"],
                }
            )
    for g in out:
        g["months"] = g["first"] if g["first"] == g["last"] else f"{g['first']} to {g['last']}"
    return out


def describe_changes(changes: list[dict]) -> list[str]:
    """`[{month, cells_changed, why}]` as lines people read: consecutive months of one reason grouped, months
    in words, counts with separators."""
    out = []
    for g in group_changes(changes):
        first, last = month_in_words(g["first"]), month_in_words(g["last"])
        months = first if g["first"] == g["last"] else f"{first} to {last}"
        n = g["cells_changed"]
        out.append(f"{months}: {n:,} figure{'s' if n != 1 else ''} ({g['why']})")
    return out


def render_history(title: str, latest: dict) -> str:
    current = (latest.get("latest") or {}).get("version")
    versions = [
        {
            "version": v["version"],
            "current": v["version"] == current,
            "month": month_in_words(v["month"]),
            "released": time_in_words(v["released_at"]),
            "href": quote(f"{v['month']}/v{v['version']}/cover-sheet.html"),
            "reverts_to_version": v.get("reverts_to_version"),
            "changes": describe_changes(v.get("changes", [])),
        }
        for v in latest.get("versions", [])
    ]
    return _TEMPLATE.render(title=title, versions=versions, home="../../index.html")
