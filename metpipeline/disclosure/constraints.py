"""The published equalities of a release, as an attacker could write them down.

One `Block` per (dataset, window, month column) that holds suppressed cells. Every equation has
coefficients +1 and a right-hand side the attacker knows: the auditor, who knows every true value,
computes it as the sum of the true values of the unknowns in it (published cells are constants and
cancel out). Only unknowns are materialised, so a block stays small on real volumes.

Relations that really hold in a release (see docs in the policy and the report):

* Ward file (rows by the location's borough) against the borough file (rows by recording borough): the
  two only meet London-wide. For each category c and month m
      sum over wards ward(c, m) + ng(c, m) = sum over boroughs borough(c, m)
  where ng(c, m) >= 0 is the number of crimes of c in m with no geocode. ng per category is not published
  (policy `not_geocoded_published: month`), only the month's total, so ng(c, m) is an unknown and
      sum over c of ng(c, m) = NG(m)            (published)
  A category with no suppressed cell in m has ng(c, m) fixed by the first relation; it is folded into
  the right-hand side, which is exact and keeps only categories with suppressed cells in the block.
  With `minor_month` every ng(c, m) is published (a constant); with `none` the second relation is absent.
* The 24-month and historical files cover disjoint months, and no file publishes a row or column total,
  so months are independent and no relation runs across months.
* LSOA rows of high categories are withheld entirely; no LSOA cell is suppressed.
* Flagged file: no total of flag rows is published and flags overlap, so no equality holds; a suppressed
  flagged cell is bounded below by 0 only.
* Previous version: a cell published by the previous version with the value it still has is known to the
  attacker (`known`), so it is a constant here even if this version suppresses it.
"""

from dataclasses import dataclass, field

import numpy as np

from metpipeline.disclosure.policy import Policy
from metpipeline.disclosure.tables import PUBLISHED, Release, Table

Known = dict[
    tuple[str, str, tuple], int
]  # (slug, YYYYMM, row key) -> value published by the previous version


class DisclosureError(ValueError):
    """The tables are inconsistent (e.g. more geocoded crimes in a ward file than counted)."""


@dataclass
class Variable:
    value: int
    audited: bool  # a suppressed published cell (True) or a hidden quantity such as ng(c, m) (False)
    fixed: bool = False  # value known from the previous version
    cell: tuple | None = None  # (slug, window, row, column index)
    category: tuple[str, str] | None = None
    equations: list[int] = field(default_factory=list)


@dataclass
class Block:
    label: str
    variables: list[Variable]
    equations: list[list[int]]

    def add_equation(self, members: list[int]) -> None:
        if not members:
            return
        idx = len(self.equations)
        self.equations.append(members)
        for v in members:
            self.variables[v].equations.append(idx)


def borough_totals(release: Release) -> dict[str, dict[tuple[str, str], int]]:
    """YYYYMM -> (major, minor) -> London-wide total of the borough file."""
    out: dict[str, dict[tuple[str, str], int]] = {}
    for window in ("24m", "historical"):
        t = release.get(("borough", window))
        if t is None or not t.months:
            continue
        sums = t.frame.groupby(["MajorText", "MinorText"])[t.months].sum()
        for m in t.months:
            totals = sums[m]  # indexed by (major, minor)
            out[m] = {(str(a), str(b)): int(v) for (a, b), v in zip(totals.index, totals, strict=True)}
    return out


def _cell_variable(t: Table, row: int, col: int, month: str, value: int, cat, known: Known) -> Variable:
    prev = known.get((t.slug, month, t.row_keys_cache[row])) if known else None  # type: ignore[attr-defined]
    return Variable(
        value=value,
        audited=True,
        fixed=prev is not None and prev == value,
        cell=(t.slug, t.window, row, col),
        category=cat,
    )


def prepare(t: Table) -> None:
    """Cache per-table lookups the block builders use on every iteration."""
    if getattr(t, "row_keys_cache", None) is None:
        t.row_keys_cache = t.row_keys()  # type: ignore[attr-defined]
        t.values_cache = t.values()  # type: ignore[attr-defined]
        cats = t.categories()
        t.categories_cache = cats  # type: ignore[attr-defined]
        rows: dict[tuple[str, str], list[int]] = {}
        for i, c in enumerate(cats):
            rows.setdefault(c, []).append(i)
        t.category_rows = {c: np.array(r, dtype=np.int64) for c, r in rows.items()}  # type: ignore[attr-defined]


def build_block(
    release: Release, t: Table, col: int, policy: Policy, known: Known, totals: dict | None = None
) -> Block:
    prepare(t)
    vals, status, cats = t.values_cache, t.status[:, col], t.categories_cache  # type: ignore[attr-defined]
    month = t.months[col]
    block = Block(label=f"{t.slug} {t.window} {month}", variables=[], equations=[])
    suppressed = np.flatnonzero(status != PUBLISHED)
    by_cat: dict[tuple[str, str], list[int]] = {}
    for r in suppressed:
        block.variables.append(_cell_variable(t, int(r), col, month, int(vals[r, col]), cats[r], known))
        by_cat.setdefault(cats[r], []).append(len(block.variables) - 1)
    if t.slug != "ward":
        return block  # see module docstring: no published relation constrains other suppressed cells
    totals = totals if totals is not None else borough_totals(release)
    month_totals = totals.get(month)
    if month_totals is None:
        return block  # the borough file does not publish this month: no relation holds
    ng_vars: list[int] = []
    for cat, members in by_cat.items():
        if cat not in month_totals:
            continue
        geocoded = int(vals[t.category_rows[cat], col].sum())  # type: ignore[attr-defined]
        ng = month_totals[cat] - geocoded
        if ng < 0:
            raise DisclosureError(
                f"ward file has more crimes than the borough file for {cat[1]} in {month}: "
                "the tables do not reconcile"
            )
        if policy.not_geocoded_published == "minor_month":
            block.add_equation(members)  # ng(c, m) is published: a constant
            continue
        block.variables.append(Variable(value=ng, audited=False, category=cat))
        ng_vars.append(len(block.variables) - 1)
        block.add_equation(members + [ng_vars[-1]])
    if policy.not_geocoded_published == "month":
        block.add_equation(ng_vars)
    return block
