"""Is the month's volume plausible enough to publish? Zero crimes, or far fewer than the trailing months,
is almost always a broken feed, not a quiet month: it blocks the release unless a data owner has recorded
an acknowledgement of exactly that total (governance/acknowledge.py)."""

from dataclasses import dataclass

import pandas as pd

from metpipeline.quality import volume


@dataclass(frozen=True)
class Assessment:
    month: str
    total: int
    trailing_mean: float | None
    months_of_history: int
    min_ratio: float

    @property
    def plausible(self) -> bool:
        if self.total <= 0:
            return False
        if self.trailing_mean is None or self.trailing_mean <= 0:
            return True  # nothing to compare with: a first month of a series is judged on zero only
        return self.total >= self.min_ratio * self.trailing_mean

    def describe(self) -> str:
        if self.total <= 0:
            return f"{self.month} has no counted crime at all: the source feed is probably broken"
        if self.trailing_mean is None:
            return f"{self.month}: {self.total:,} crimes counted (no earlier month to compare with)"
        share = self.total / self.trailing_mean if self.trailing_mean else float("nan")
        return (
            f"{self.month}: {self.total:,} crimes counted, {share:.0%} of the trailing "
            f"{self.months_of_history}-month mean of {self.trailing_mean:,.0f} (the floor is "
            f"{self.min_ratio:.0%})"
        )


def assess(borough_24m: pd.DataFrame, month: str, min_ratio: float) -> Assessment:
    if borough_24m.empty:
        return Assessment(month, 0, None, 0, min_ratio)
    table = volume.comparison(borough_24m, month)
    everything = table[table["scope"] == "ALL CRIME"].iloc[0]
    months = int(everything["months_of_history"])
    mean = float(everything["trailing_mean"]) if months else None
    return Assessment(month, int(everything["count"]), mean, months, min_ratio)
