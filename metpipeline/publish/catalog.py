"""`catalog.json` at the bucket root: every dataset, its latest version, and when the next release is due."""

from datetime import datetime, timedelta

from metpipeline import settings
from metpipeline.catalogue import CATALOGUE
from metpipeline.publish.datapackage import BUCKET_SLUGS, TITLES
from metpipeline.publish.words import LONDON

RELEASE_CRON_VARIABLE = settings.RELEASE_CRON.name


def next_release(after: datetime, cron: str) -> datetime:
    """The next monthly release time strictly after `after`, London time.

    Only the monthly form `MIN HOUR DAY * *` is understood: it is the release calendar's only shape.
    """
    parts = cron.split()
    if len(parts) != 5 or parts[3:] != ["*", "*"] or not all(p.isdigit() for p in parts[:3]):
        raise ValueError(
            f"{RELEASE_CRON_VARIABLE}={cron!r}: expected a monthly cron 'MIN HOUR DAY * *', e.g. '0 6 5 * *'"
        )
    minute, hour, day = (int(p) for p in parts[:3])
    local = after.astimezone(LONDON)
    year, month = local.year, local.month
    for _ in range(3):
        try:
            candidate = datetime(year, month, day, hour, minute, tzinfo=LONDON)
        except ValueError:
            candidate = None  # this month has no such day (e.g. the 31st)
        if candidate is not None and candidate > local:
            return candidate
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    raise ValueError(f"{RELEASE_CRON_VARIABLE}={cron!r} gives no release date in the next months")


def publication_time(approved_at: datetime, release_time: str) -> datetime:
    """When an approval completed at `approved_at` (aware) is published: at the next announced release time
    of day, London time (`release_time`, METPIPELINE_RELEASE_TIME: default 09:30), or at once when it is
    `immediate`."""
    raw = release_time.strip().lower()
    if raw == "immediate":
        return approved_at
    try:
        hour, minute = (int(p) for p in raw.split(":"))
        local = approved_at.astimezone(LONDON)
        due = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    except ValueError:
        raise settings.ConfigError(
            f"{settings.RELEASE_TIME.name}={raw!r}: expected HH:MM (London time), e.g. 09:30, or immediate"
        ) from None
    return due if due >= local else due + timedelta(days=1)


def next_public_release(after: datetime, cron: str, release_time: str) -> datetime:
    """When the public gets the next release: the release calendar's day (`cron`: when the build starts),
    at the release time of day (`release_time`), or when the build starts if that is later or `immediate`."""
    build = next_release(after, cron)
    if release_time.strip().lower() == "immediate":
        return build
    hour, minute = (int(p) for p in release_time.split(":"))
    public = build.replace(hour=hour, minute=minute)
    return public if public >= build else build


def reading_order(name: str) -> tuple[int, str]:
    """The order a reader wants a version's files in: the current layout's CSV files first, then the
    spreadsheet and the tidy files, and files in a deprecated layout last."""
    if name.endswith(" layout].csv"):
        return (3, name)
    return (0 if name.endswith(".csv") else 1 if name.endswith(".xlsx") else 2, name)


def data_files(files: list[str]) -> list[str]:
    """A version's data files (no metadata), in reading order."""
    return sorted(
        (n for n in files if n.endswith((".csv", ".csv.gz", ".parquet", ".xlsx"))), key=reading_order
    )


def catalog_entry(dataset: str, latest: dict, cron: str, release_time: str) -> dict:
    slug = BUCKET_SLUGS[dataset]
    current = latest["latest"]
    released = datetime.fromisoformat(current["released_at"])
    base = f"datasets/{slug}/{current['month']}/v{current['version']}/"
    entry = {
        "dataset": slug,
        "title": TITLES[dataset],
        "about": CATALOGUE[dataset].about,
        "frequency": "Monthly",
        "latest_version": current["version"],
        "latest_month": current["month"],
        "release_date": current["released_at"],
        "next_scheduled_release": next_public_release(
            released + timedelta(seconds=1), cron, release_time
        ).isoformat(),
        "downloads": data_files(current.get("files", [])),
        "sizes": current.get("sizes", {}),
        "links": {
            "latest": f"datasets/{slug}/latest.json",
            "history": f"datasets/{slug}/history.html",
            "version": base,
            "datapackage": base + "datapackage.json",
            "cover_sheet": base + "cover-sheet.html",
        },
    }
    spreadsheets = [name for name in current.get("files", []) if name.endswith(".xlsx")]
    if spreadsheets:
        entry["links"]["spreadsheet"] = base + spreadsheets[0]
    return entry


def update_catalog(catalog: dict | None, dataset: str, latest: dict, cron: str, release_time: str) -> dict:
    """The catalog with `dataset`'s entry replaced; other datasets are left as they are."""
    entries = {e["dataset"]: e for e in (catalog or {}).get("datasets", [])}
    entry = catalog_entry(dataset, latest, cron, release_time)
    entries[entry["dataset"]] = entry
    return {
        "publisher": "Metropolitan Police Service",
        "licence": "OGL-UK-3.0",
        "datasets": [entries[k] for k in sorted(entries)],
    }
