"""Dates, times, sizes and counts as the public pages write them: months in words, times in London time
with their zone, sizes in kB/MB, counts with thousands separators."""

from datetime import datetime
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


def month_in_words(month: str) -> str:
    """`2024-03` -> `March 2024`."""
    return datetime.strptime(month, "%Y-%m").strftime("%B %Y")


def time_in_words(iso: str) -> str:
    """An ISO timestamp in London time with its zone: `6 April 2024, 09:30 BST`."""
    return datetime.fromisoformat(iso).astimezone(LONDON).strftime("%-d %B %Y, %H:%M %Z")


def size_in_words(n: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def file_format(name: str) -> str:
    """What a published file is, in the words of a download link."""
    if name.endswith(".csv.gz"):
        return "CSV, compressed (gzip)"
    if name.endswith(".csv"):
        return "CSV"
    if name.endswith(".parquet"):
        return "Parquet"
    if name.endswith(".xlsx"):
        return "Spreadsheet (Excel)"
    if name.endswith(".json"):
        return "JSON"
    return "HTML" if name.endswith(".html") else "file"
