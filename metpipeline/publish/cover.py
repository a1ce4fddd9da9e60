"""The cover sheet published with every version: what the data is, where it comes from, what was withheld,
and what changed since the previous version and why. Rendered to HTML from plain data."""

import csv
import html
import io
import posixpath
import re
from dataclasses import dataclass
from urllib.parse import quote

import jinja2
import markupsafe

from metpipeline.catalogue import CATALOGUE, headline, spec
from metpipeline.months.arithmetic import add_months
from metpipeline.publish.catalog import reading_order
from metpipeline.publish.datapackage import LICENCE, SUPPRESSED, TITLES
from metpipeline.publish.history import describe_changes
from metpipeline.publish.words import month_in_words, size_in_words, time_in_words
from metpipeline.reference import offence_classification

_MONTH_COLUMN = re.compile(r"^\d{6}$")
WHY_NEW = "new month"
WHY_REVISED = "revised source records (e.g. crimes cancelled or reclassified in CONNECT)"


@dataclass(frozen=True)
class MonthChange:
    month: str  # YYYY-MM
    cells_changed: int
    why: str


def _wide_cells(files: dict[str, bytes]) -> dict[str, dict[tuple, str]]:
    """month -> {row key: cell} over all wide CSVs (24-month and historical windows together, so a month
    moving from one file to the other is not a change)."""
    cells: dict[str, dict[tuple, str]] = {}
    for name, data in files.items():
        if not name.endswith(".csv") or name.endswith("-tidy.csv") or name.endswith(" layout].csv"):
            continue  # the current layout's wide files only (an earlier layout beside them repeats them)
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
        if not rows:
            continue
        header = rows[0]
        month_idx = [(i, f"{c[:4]}-{c[4:]}") for i, c in enumerate(header) if _MONTH_COLUMN.match(c)]
        key_idx = [i for i, c in enumerate(header) if not _MONTH_COLUMN.match(c)]
        for row in rows[1:]:
            key = tuple(row[i] for i in key_idx)
            for i, month in month_idx:
                cells.setdefault(month, {})[key] = row[i]
    return cells


def diff_versions(previous: dict[str, bytes] | None, new: dict[str, bytes]) -> list[MonthChange]:
    """Months that are new or whose cells differ from the previous version (a row absent on one side
    counts as zero, since the datasets leave out rows that are zero in every month)."""
    new_cells = _wide_cells(new)
    old_cells = _wide_cells(previous or {})
    changes = []
    for month in sorted(new_cells):
        if month not in old_cells:
            changes.append(MonthChange(month, len(new_cells[month]), WHY_NEW))
            continue
        old, cur = old_cells[month], new_cells[month]
        changed = sum(1 for k in set(old) | set(cur) if old.get(k, "0") != cur.get(k, "0"))
        if changed:
            changes.append(MonthChange(month, changed, WHY_REVISED))
    return changes


def coverage(cells: dict[str, dict[tuple, str]]) -> tuple[str | None, str | None, int]:
    """First and last month and how many, of the version's wide cells (`_wide_cells`)."""
    months = sorted(cells)
    return (months[0], months[-1], len(months)) if months else (None, None, 0)


def category_definitions() -> list[dict]:
    """Every MPS major/minor category with the Home Office codes counted in it."""
    c = offence_classification()
    out = []
    for (major, minor), grp in c.groupby(["mps_major", "mps_minor"], sort=True):
        codes = sorted(set(grp["ho_code"]))
        out.append({"major": major, "minor": minor, "ho_codes": ", ".join(codes)})
    return out


def find_key(obj, key: str):
    """First value under `key` anywhere in a nested JSON document (report.json's layout is the report's)."""
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        obj = list(obj.values())
    if isinstance(obj, list):
        for item in obj:
            found = find_key(item, key)
            if found is not None:
                return found
    return None


def _flatten(value, path: tuple[str, ...] = ()) -> list[str]:
    """Nested JSON as readable lines: "flagged / small cell: 1"."""
    if isinstance(value, dict):
        return [line for k, v in sorted(value.items()) for line in _flatten(v, (*path, str(k)))]
    text = ", ".join(str(v) for v in value) or "none" if isinstance(value, list) else str(value)
    return [f"{' / '.join(path)}: {text}" if path else text]


def monthly_totals(cells: dict[str, dict[tuple, str]]) -> tuple[dict[str, int], dict[str, int]]:
    """Month (YYYY-MM) -> the total of the figures the 24-month file shows, and -> how many of its cells
    are hidden (the suppression marker), from the version's wide cells as published (`_wide_cells`, read
    once for the whole cover sheet): the 24-month file holds the last 24 of them."""
    recent = sorted(cells)[-24:]
    totals = {m: sum(int(v) for v in cells[m].values() if v.isdigit()) for m in recent}
    hidden = {m: sum(1 for v in cells[m].values() if not v.isdigit()) for m in recent}
    return totals, hidden


def chart_svg(totals: dict[str, int], width: int = 640, height: int = 180) -> markupsafe.Markup:
    """The monthly totals as a bar chart (inline SVG), the last month dark, with a text alternative."""
    items = sorted(totals.items())
    top = max((v for _, v in items), default=0) or 1
    bar = width / max(len(items), 1)
    first, last = month_in_words(items[0][0]), month_in_words(items[-1][0])
    low = min(items, key=lambda kv: kv[1])
    high = max(items, key=lambda kv: kv[1])
    desc = (
        f"Bar chart of the monthly totals from {first} to {last}: lowest {low[1]:,} in "
        f"{month_in_words(low[0])}, highest {high[1]:,} in {month_in_words(high[0])}, "
        f"{items[-1][1]:,} in {last}."
    )
    bars = []
    for i, (month, value) in enumerate(items):
        h = round(value / top * (height - 20), 1)
        colour = "#1d70b8" if i == len(items) - 1 else "#b1b4b6"
        bars.append(
            f'<rect x="{i * bar + 1:.1f}" y="{height - h:.1f}" width="{max(bar - 2, 1):.1f}" height="{h}" '
            f'fill="{colour}"><title>{html.escape(month_in_words(month))}: {value:,}</title></rect>'
        )
    return markupsafe.Markup(
        f'<svg role="img" aria-labelledby="chart-title chart-desc" viewBox="0 0 {width} {height}" '
        f'width="100%" style="max-width:{width}px" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="chart-title">Monthly totals</title><desc id="chart-desc">{html.escape(desc)}</desc>'
        + "".join(bars)
        + "</svg>"
    )


def in_brief(dataset: str, cells: dict[str, dict[tuple, str]], month: str) -> dict | None:
    """The cover sheet's headline: the release month's total, its change on the month before, and a chart
    of the months of the 24-month file, with the figures as a table. None when the file is absent."""
    totals, hidden = monthly_totals(cells)
    if month not in totals:
        return None
    noun = "crimes" if spec(dataset).rows is None else "records"
    previous = add_months(month, -1)
    change_text = ""
    if previous in totals and totals[previous]:
        diff = totals[month] - totals[previous]
        more = "more" if diff >= 0 else "fewer"
        change_text = (
            f"{abs(diff):,} {more} than in {month_in_words(previous)} ({diff / totals[previous]:+.1%})"
            if diff
            else f"the same as in {month_in_words(previous)}"
        )
    n_hidden = hidden.get(month, 0)
    return {
        "month": month_in_words(month),
        "first": month_in_words(min(totals)),
        "total_text": f"{totals[month]:,} {noun}",
        "change_text": change_text,
        "hidden": n_hidden,
        "hidden_text": f"{n_hidden:,} hidden figure{'s' if n_hidden != 1 else ''}",
        "svg": chart_svg(totals),
        "rows": [(month_in_words(m), f"{v:,}") for m, v in sorted(totals.items())],
    }


# What disclosure.json's counts of hidden cells mean, for the public.
HIDDEN = {
    "primary": "small counts in protected categories",
    "secondary": "further figures, hidden so that the small counts cannot be worked out from the totals",
}


def disclosure_lines(disclosure: dict, dataset: str) -> tuple[list[str], list[str]]:
    """Suppressed-cell counts and withheld categories of `dataset` from disclosure.json
    (`suppressed_cells` / `withheld_categories` per dataset; `suppressed` / `withheld` are also read)."""
    suppressed = disclosure.get("suppressed_cells", disclosure.get("suppressed", {}))
    if isinstance(suppressed, dict) and set(suppressed) & set(TITLES):  # keyed by dataset
        suppressed = suppressed.get(dataset, {})
    withheld = disclosure.get("withheld_categories", disclosure.get("withheld", []))
    if isinstance(withheld, dict):
        withheld = withheld.get(dataset, [])
    withheld_lines = [
        f"{w.get('major', '')} / {w.get('minor', '')}" if isinstance(w, dict) else str(w) for w in withheld
    ]
    if isinstance(suppressed, dict) and suppressed and all(isinstance(v, int) for v in suppressed.values()):
        lines = [f"{n:,} {HIDDEN.get(k, k)}" for k, n in suppressed.items()]
    else:
        lines = _flatten(suppressed) if suppressed else []
    return lines or ["none"], withheld_lines


_TEMPLATE = jinja2.Environment(autoescape=True).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}: release for {{ month_words }}, version {{ version }}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 62rem; margin: 2rem auto; padding: 0 1rem;
       color: #1b1b1b; background: #fff; line-height: 1.5; }
h1 { font-size: 1.7rem; } h2 { font-size: 1.3rem; margin-top: 2rem; border-top: 1px solid #b1b4b6;
     padding-top: 1rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
caption { text-align: left; font-weight: bold; padding: .25rem 0; }
th, td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid #b1b4b6; vertical-align: top; }
th { background: #f3f2f1; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, .hash { font-family: ui-monospace, monospace; font-size: .85rem; word-break: break-all; }
a { color: #1d70b8; } a:visited { color: #4c2c92; } a:focus { outline: 3px solid #fd0; background: #fd0; }
.note { border-left: 5px solid #1d70b8; padding: .5rem 1rem; background: #f3f2f1; }
</style></head>
<body>
<header><p><a href="{{ home }}">All datasets</a></p></header>
<main>
<h1>{{ title }}</h1>
<p>Release for <strong>{{ month_words }}</strong>, version {{ version }}, published {{ released }}.
Licence: <a href="{{ licence.path }}">{{ licence.title }}</a>.</p>
{% if about %}<p>{{ about }}</p>{% endif %}
{% if brief %}<h2 id="in-brief">In brief</h2>
<p class="note"><strong>{{ brief.total_text }}</strong> in {{ brief.month }}{% if brief.change_text %},
{{ brief.change_text }}{% endif %}.{% if brief.hidden %} Not counting {{ brief.hidden_text }} shown as
<code>{{ suppressed_marker }}</code>.{% endif %}</p>
<figure>
{{ brief.svg }}
<figcaption>Monthly totals, {{ brief.first }} to {{ brief.month }}.</figcaption>
</figure>
<details><summary>The monthly totals as a table</summary>
<table><caption>Monthly totals of this dataset</caption>
<thead><tr><th scope="col">Month</th><th scope="col">Total</th></tr></thead><tbody>
{% for m, t in brief.rows %}<tr><td>{{ m }}</td><td class="num">{{ t }}</td></tr>
{% endfor %}</tbody></table></details>{% endif %}
<h2 id="summary">What the files hold</h2>
<p>Crimes recorded by the Metropolitan Police Service in London, counted in the month (London time) in
which each was recorded, {{ first_month_words }} to {{ last_month_words }} ({{ n_months }} months). The
figures come as two tables, the most recent 24 months and the months before them, in the London Datastore's
layout; as one row per area, category and month (a "tidy" file, as compressed CSV and as Parquet; a count
of 0 is left out); and as a spreadsheet.</p>
{% if layout %}<p class="note">Layout: {{ layout.current_text }}{% if layout.previous %} Files in the
earlier layout ({{ layout.previous_text }}) are published beside them, marked
<code>[{{ layout.previous }} layout]</code>, until the release for {{ previous_until }}.{% endif %}
{% if layout.airports %} The borough file has no separate row for Heathrow and London City airports:
crimes recorded by the police's Aviation Security command are counted in the borough where they happened
(Heathrow in Hillingdon, London City Airport in Newham), and in <code>Unknown</code> when their location is
not known.{% endif %}
The tidy files name the borough that recorded each crime.</p>{% endif %}
<h2 id="files">Files</h2>
<table>
<caption>The files of this version (sha256: the file's SHA-256 checksum)</caption>
<thead><tr><th scope="col">File</th><th scope="col">Size</th><th scope="col">sha256</th></tr></thead>
<tbody>
{% for f in files %}<tr><td><a href="{{ f.href }}">{{ f.name }}</a></td><td class="num">{{ f.size }}</td>
<td class="hash">{{ f.sha256 }}</td></tr>
{% endfor %}</tbody></table>
<p>The package's metadata: <a href="datapackage.json">datapackage.json</a> (Data Package v2) and
<a href="manifest.json">manifest.json</a>.</p>
<h2 id="sources">Sources</h2>
<ul>
<li>MPS DataMart, CRIS: crimes recorded until 27 February 2024 (inclusive, London time).</li>
<li>MPS DataMart, CONNECT: crimes recorded from 28 February 2024. Crimes migrated from CRIS at cut-over are
counted once, in their original month; where the systems disagree CONNECT, the live system, wins.</li>
</ul>
<h2 id="disclosure">Disclosure control</h2>
<p>Disclosure policy version {{ policy_version }}. A cell shown as <code>{{ suppressed_marker }}</code> is
suppressed to protect the people involved; withheld categories are not published at this level.</p>
<ul>{% for line in suppressed %}<li>Hidden: {{ line }}</li>{% endfor %}
{% for line in withheld %}<li>Withheld: {{ line }}</li>{% else %}<li>Withheld: none</li>{% endfor %}</ul>
<h2 id="quality">Quality notes</h2>
<ul>{% for line in not_geocoded %}
<li>Not geocoded (counted, but left out of the tables by area): {{ line }}</li>
{% else %}<li>Not geocoded: not reported for this release.</li>{% endfor %}
<li>The tables by area ({{ geocoded }}) therefore do not add up to the {{ headline }} counts.</li></ul>
<h2 id="history">Version history</h2>
<table>
<caption>Every version of this dataset, newest first</caption>
<thead><tr><th scope="col">Version</th><th scope="col">Release month</th><th scope="col">Published</th>
<th scope="col">Changes</th></tr></thead>
<tbody>
{% for v in history %}<tr><th scope="row">{% if v.href %}<a href="{{ v.href }}">Version {{ v.version }}</a>
{% else %}Version {{ v.version }} (this page){% endif %}</th><td>{{ v.month_words }}</td>
<td>{{ v.released }}</td>
<td>{% if v.reverts_to_version %}the source was reverted: the figures of version
{{ v.reverts_to_version }} are current again. {% endif %}{% for c in v.changes -%}
{{ c }}{% if not loop.last %}; {% endif %}
{%- else %}no figure changed{% endfor %}</td></tr>
{% endfor %}</tbody></table>
<h2 id="definitions">Definitions</h2>
<table>
<caption>Categories and the Home Office offence codes counted in them</caption>
<thead><tr><th scope="col">Major category</th><th scope="col">Minor category</th>
<th scope="col">Home Office codes</th></tr></thead>
<tbody>
{% for d in categories %}<tr><td>{{ d.major }}</td><td>{{ d.minor }}</td><td>{{ d.ho_codes }}</td></tr>
{% endfor %}</tbody></table>
{% for term, text in definitions %}<p>{{ term }}: {{ text }}</p>
{% endfor %}
<h2 id="contact">Contact</h2>
<p>Metropolitan Police Service Data Office:
{% if contact_href %}<a href="{{ contact_href }}">{{ contact }}</a>{% else %}{{ contact }}{% endif %}.</p>
</main></body></html>
"""
)


def contact_link(contact: str) -> str | None:
    if contact.startswith(("http://", "https://", "mailto:")):
        return contact
    return f"mailto:{contact}" if "@" in contact and " " not in contact else None


@dataclass(frozen=True)
class PublicFile:
    name: str
    size: int
    sha256: str


def render_cover(
    dataset: str,
    month: str,
    version: int,
    released_at: str,
    files: dict[str, bytes],
    disclosure: dict,
    report: dict,
    history: list[dict],
    public_files: list[PublicFile] | None = None,
    layout: dict | None = None,
    contact: str = "",
) -> str:
    """`history`: newest first, each {version, month, released_at, path, changes: [...]}; the first is
    this version. `public_files`: every data file of the version (linked, with size and sha256);
    `layout`: the candidate manifest's layout record (datasets/public.py)."""
    cells = _wide_cells(files)  # every wide file parsed once, for the coverage and the headline
    first, last, n = coverage(cells)
    suppressed, withheld = disclosure_lines(disclosure, dataset)
    not_geocoded = find_key(report, "not_geocoded")
    here = history[0].get("path", "") if history else ""
    return _TEMPLATE.render(
        title=TITLES[dataset],
        version=version,
        month=month,
        month_words=month_in_words(month),
        previous_until=month_in_words(until) if (until := (layout or {}).get("previous_until")) else "",
        about=spec(dataset).about,
        brief=in_brief(dataset, cells, month),
        released=time_in_words(released_at),
        licence=LICENCE,
        home=posixpath.relpath("index.html", here) if here else "../../../../index.html",
        first_month_words=month_in_words(first) if first else "",
        last_month_words=month_in_words(last) if last else "",
        n_months=n,
        layout=layout,
        files=[
            {
                "name": f.name,
                "href": quote(f.name),
                "size": size_in_words(f.size),
                "sha256": f.sha256,
            }
            for f in sorted(public_files or [], key=lambda f: reading_order(f.name))
        ],
        categories=category_definitions(),
        definitions=spec(dataset).definitions,
        geocoded=", ".join(s.slug for s in CATALOGUE.values() if s.not_geocoded),
        headline=headline().slug,
        policy_version=disclosure.get("policy_version", "not stated"),
        suppressed_marker=SUPPRESSED,
        suppressed=suppressed,
        withheld=withheld,
        not_geocoded=_flatten(not_geocoded) if not_geocoded is not None else [],
        history=[
            {
                **v,
                "month_words": month_in_words(v["month"]),
                "released": time_in_words(v["released_at"]),
                "href": (
                    posixpath.relpath(v["path"] + "cover-sheet.html", here)
                    if here and i and v.get("path")
                    else None
                ),
                "changes": describe_changes(v.get("changes", [])),
            }
            for i, v in enumerate(history)
        ],
        contact=contact,
        contact_href=contact_link(contact),
    )
