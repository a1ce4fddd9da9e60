"""`index.html` at the bucket root: the page a person opens, rendered from `catalog.json`.

Every dataset with its latest release, the next scheduled release (and a missed one), and links to the
cover sheet, the data package, the spreadsheet and the version history (latest.json): absolute when
METPIPELINE_PUBLIC_BASE_URL is set, relative to the bucket root otherwise.
"""

from datetime import datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2

LONDON = ZoneInfo("Europe/London")
INDEX_KEY = "index.html"

_TEMPLATE = jinja2.Environment(autoescape=True).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ publisher }}: recorded crime data</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #1b1b1b; line-height: 1.5; }
h1 { font-size: 1.6rem; } table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .5rem; border-bottom: 1px solid #b1b4b6; vertical-align: top; }
th { background: #f3f2f1; } a { color: #1d70b8; } a:focus { outline: 3px solid #fd0; }
.late { color: #d4351c; font-weight: bold; }
</style></head>
<body><main>
<h1>{{ publisher }}: recorded crime data</h1>
<p>Monthly counts of crimes recorded by the {{ publisher }}, published under the
<a href="https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/">{{ licence }}</a>.
Each dataset's cover sheet explains its definitions, disclosure control and revisions.</p>
<table>
<caption>Datasets, their latest release and the next one</caption>
<thead><tr><th scope="col">Dataset</th><th scope="col">Latest release</th><th scope="col">Next release</th>
<th scope="col">Files</th></tr></thead>
<tbody>
{% for d in datasets %}<tr>
<th scope="row">{{ d.title }}</th>
<td>{{ d.latest_month }} (version {{ d.latest_version }}), published {{ d.released }}</td>
<td>{{ d.next }}{% if d.overdue %} <span class="late">(due {{ d.overdue }}: delayed)</span>{% endif %}</td>
<td><a href="{{ d.cover }}">Cover sheet</a> · <a href="{{ d.datapackage }}">Data package</a> ·
{% if d.spreadsheet %}<a href="{{ d.spreadsheet }}">Spreadsheet</a> · {% endif %}
<a href="{{ d.latest }}">Version history</a></td>
</tr>{% endfor %}
</tbody></table>
<p>Machine-readable: <a href="{{ catalog }}">catalog.json</a>.</p>
</main></body></html>
"""
)


def _human(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(LONDON).strftime("%-d %B %Y, %H:%M")


def render_index(catalog: dict, base_url: str) -> str:
    """The landing page; links are absolute under `base_url` (the bucket's public address) when given."""
    base = base_url.rstrip("/")

    def link(path: str) -> str:
        return f"{base}/{path}" if base else path

    datasets = [
        {
            "title": e["title"],
            "latest_month": e["latest_month"],
            "latest_version": e["latest_version"],
            "released": _human(e["release_date"]),
            "next": _human(e["next_scheduled_release"]),
            "overdue": _human(e["release_overdue_since"]) if e.get("release_overdue_since") else "",
            "cover": link(e["links"]["cover_sheet"]),
            "datapackage": link(e["links"]["datapackage"]),
            "spreadsheet": link(quote(e["links"]["spreadsheet"])) if e["links"].get("spreadsheet") else "",
            "latest": link(e["links"]["latest"]),
        }
        for e in catalog.get("datasets", [])
    ]
    return _TEMPLATE.render(
        publisher=catalog.get("publisher", ""),
        licence=catalog.get("licence", ""),
        datasets=datasets,
        catalog=link("catalog.json"),
    )
