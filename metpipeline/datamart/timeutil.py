"""Month arithmetic and time-zone conversion for the seed, vectorised over epoch seconds.

CRIS stores London local time, CONNECT UTC (contract). Instants are generated in UTC between the London
month boundaries, so clock changes (non-existent and repeated local hours) never produce invalid values.
"""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

LONDON = ZoneInfo("Europe/London")
CUTOVER_LOCAL = datetime(2024, 2, 28)  # first London-time instant CONNECT is the system of record
CUTOVER_MONTH = (2024, 2)


def parse_month(text: str) -> tuple[int, int]:
    try:
        y, m = (int(p) for p in text.split("-"))
        date(y, m, 1)
    except ValueError:
        raise ValueError(f"month {text!r} is not YYYY-MM") from None
    return y, m


def month_str(ym: tuple[int, int]) -> str:
    return f"{ym[0]:04d}-{ym[1]:02d}"


def months_between(first: tuple[int, int], last: tuple[int, int]) -> list[tuple[int, int]]:
    if first > last:
        raise ValueError(f"first month {month_str(first)} is after last month {month_str(last)}")
    out, (y, m) = [], first
    while (y, m) <= last:
        out.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def next_month(ym: tuple[int, int]) -> tuple[int, int]:
    return (ym[0] + 1, 1) if ym[1] == 12 else (ym[0], ym[1] + 1)


def last_complete_month(today: date | None = None) -> tuple[int, int]:
    """The month before the current one in London time."""
    today = today or datetime.now(LONDON).date()
    return (today.year - 1, 12) if today.month == 1 else (today.year, today.month - 1)


def local_to_epoch(local: datetime) -> int:
    """A naive London wall-clock time as UTC epoch seconds."""
    return int(local.replace(tzinfo=LONDON).timestamp())


def month_bounds_utc(ym: tuple[int, int]) -> tuple[int, int]:
    """[start, end) of the London calendar month as UTC epoch seconds."""
    return local_to_epoch(datetime(ym[0], ym[1], 1)), local_to_epoch(datetime(*next_month(ym), 1))


def utc_to_local(seconds: np.ndarray) -> np.ndarray:
    """UTC epoch seconds -> London wall-clock time, as naive epoch-like seconds (for formatting)."""
    idx = pd.to_datetime(seconds, unit="s", utc=True).tz_convert("Europe/London").tz_localize(None)
    return idx.as_unit("s").asi8


def fmt_seconds(seconds: np.ndarray) -> np.ndarray:
    """Epoch-like seconds -> 'YYYY-MM-DD HH:MM:SS' text (the DataMart's DATETIME text form on SQLite)."""
    text = np.datetime_as_string(np.asarray(seconds, dtype="int64").astype("datetime64[s]"), unit="s")
    return np.strings.replace(text, "T", " ").astype(object)
