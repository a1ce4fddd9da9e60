"""Month arithmetic on `YYYY-MM` keys (the partition keys) and `YYYYMM` column names. Pure: every stage may
import it."""

import re

MONTH_COLUMN = re.compile(r"^(\d{4})(0[1-9]|1[0-2])$")


def yyyymm(month: str) -> str:
    """'2024-03' -> '202403'."""
    return month.replace("-", "")


def month_columns(frame) -> list[str]:
    """The `YYYYMM` columns of a wide table, in its order."""
    return [c for c in frame.columns if MONTH_COLUMN.match(str(c))]


def add_months(month: str, n: int) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    index = year * 12 + mon - 1 + n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_range(first: str, last: str) -> list[str]:
    """Every `YYYY-MM` from first to last inclusive (empty when last < first)."""
    out = []
    month = first
    while month <= last:
        out.append(month)
        month = add_months(month, 1)
    return out


def months_between(first: str, last: str) -> int:
    """How many months from `first` to `last` (0 when equal, negative when last is earlier)."""
    return (int(last[:4]) * 12 + int(last[5:7])) - (int(first[:4]) * 12 + int(first[5:7]))


def ranges(months: list[str]) -> str:
    """['2022-01', '2022-02', '2022-05'] → '2022-01..2022-02, 2022-05' (a missing span reads as one)."""
    runs: list[list[str]] = []
    for month in months:
        if runs and add_months(runs[-1][-1], 1) == month:
            runs[-1].append(month)
        else:
            runs.append([month])
    return ", ".join(r[0] if len(r) == 1 else f"{r[0]}..{r[-1]}" for r in runs)
