"""`index.html` at the bucket root: the page a person opens, rendered from `catalog.json`.

As the London Datastore's own dataset pages do: for every dataset, what it is in plain words, its licence,
how often it is updated, when it was last updated and when the next release is due (the time the public
gets it), and a download link per file with its format and size; then its cover sheet, data package and
version history. Months are written in words and times in London time with their zone. Links are absolute
when METPIPELINE_PUBLIC_BASE_URL is set, relative to the bucket root otherwise.
"""

from urllib.parse import quote

import jinja2

from metpipeline.publish.words import file_format, month_in_words, size_in_words, time_in_words

INDEX_KEY = "index.html"

_TEMPLATE = jinja2.Environment(autoescape=True).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ publisher }}: recorded crime data</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #1b1b1b; line-height: 1.5; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.3rem; margin-top: 2rem; border-top: 1px solid #b1b4b6;
     padding-top: 1rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dt { font-weight: bold; } dd { margin: 0; }
ul.downloads { list-style: none; padding: 0; } ul.downloads li { margin: .25rem 0; }
a { color: #1d70b8; } a:focus { outline: 3px solid #fd0; background: #fd0; }
.late { color: #d4351c; font-weight: bold; } .meta { color: #505a5f; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
</style></head>
<body><main>
<h1>{{ publisher }}: recorded crime data</h1>
<p>Monthly counts of the crimes recorded by the {{ publisher }} in London, published under the
<a href="https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/">{{ licence_title }}</a>.
A figure shown as <code>{{ marker }}</code> is hidden to protect the people involved. Each dataset's cover
sheet explains its definitions, what was hidden and what changed.</p>
{% for d in datasets %}
<section aria-labelledby="{{ d.id }}">
<h2 id="{{ d.id }}">{{ d.title }}</h2>
{% if d.about %}<p>{{ d.about }}</p>{% endif %}
<dl>
<dt>Latest release</dt><dd>{{ d.latest_month }} (version {{ d.latest_version }})</dd>
<dt>Last updated</dt><dd>{{ d.released }}</dd>
<dt>Update frequency</dt><dd>{{ d.frequency }}</dd>
<dt>Next release</dt><dd>{{ d.next }}{% if d.overdue %} <span class="late">(was due {{ d.overdue }}:
delayed)</span>{% endif %}</dd>
<dt>Licence</dt><dd>{{ licence_title }}</dd>
</dl>
<h3>Download</h3>
<ul class="downloads">
{% for f in d.downloads %}<li><a href="{{ f.href }}" download>{{ f.name }}</a>
<span class="meta">{{ f.format }}{% if f.size %}, {{ f.size }}{% endif %}</span></li>
{% endfor %}</ul>
<p><a href="{{ d.cover }}">Cover sheet<span class="visually-hidden"> of {{ d.title }}</span></a> (what the
data is, definitions, disclosure control) ·
<a href="{{ d.history }}">Version history<span class="visually-hidden"> of {{ d.title }}</span></a> ·
<a href="{{ d.datapackage }}">Data package<span class="visually-hidden"> of {{ d.title }}</span></a>
(machine-readable description)</p>
</section>
{% endfor %}
<p>Machine-readable list of the datasets: <a href="{{ catalog }}">catalog.json</a>.</p>
</main></body></html>
"""
)

LICENCE_TITLE = "Open Government Licence v3.0"


def render_index(catalog: dict, base_url: str, marker: str = "[c]") -> str:
    """The landing page; links are absolute under `base_url` (the bucket's public address) when given."""
    base = base_url.rstrip("/")

    def link(path: str) -> str:
        return f"{base}/{quote(path)}" if base else quote(path)

    datasets = []
    for e in catalog.get("datasets", []):
        version = e["links"]["version"]
        sizes = e.get("sizes", {})
        datasets.append(
            {
                "id": e["dataset"],
                "title": e["title"],
                "about": e.get("about", ""),
                "frequency": e.get("frequency", "Monthly"),
                "latest_month": month_in_words(e["latest_month"]),
                "latest_version": e["latest_version"],
                "released": time_in_words(e["release_date"]),
                "next": time_in_words(e["next_scheduled_release"]),
                "overdue": time_in_words(e["release_overdue_since"])
                if e.get("release_overdue_since")
                else "",
                "downloads": [
                    {
                        "name": name,
                        "href": link(version + name),
                        "format": file_format(name),
                        "size": size_in_words(sizes[name]) if name in sizes else "",
                    }
                    for name in e.get("downloads", [])
                ],
                "cover": link(e["links"]["cover_sheet"]),
                "datapackage": link(e["links"]["datapackage"]),
                "history": link(e["links"].get("history") or e["links"]["latest"]),
            }
        )
    return _TEMPLATE.render(
        publisher=catalog.get("publisher", ""),
        licence_title=LICENCE_TITLE,
        marker=marker,
        datasets=datasets,
        catalog=link("catalog.json"),
    )
