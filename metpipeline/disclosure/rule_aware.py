"""What an attacker who knows the suppression procedure can infer from the pattern of `[c]` cells (pure).

The procedure is public (policy.yaml, README): a protected cell counting `lo`..`hi` crimes is always
suppressed (a *primary*); a group holding suppressed cells holds a primary, or cells an earlier version
hid there together (kept hidden: *sticky*); and whenever the group has a cell left open (not primary, not
sticky, not published by an earlier version) and keeps no earlier version's cells, the keyed draw adds at
least one such cell (a *complement*,
never a primary: its count is 0 or above `hi`). Which cells the draw takes is keyed by a secret of the
deployment: any set of open cells is a possible draw, so the attacker cannot replay it, and the pattern
tells no more than these facts (suppress.py explains why every pattern that passes the audit is a possible
output for every assignment consistent with them).

So, for one group's equation (its suppressed cells, not already public, sum to a known total `total`):

* `primary`: at least one of them counts `lo`..`hi` (not imposed when sticky cells could explain the
  suppression);
* `other`: at least one of `other_cells` (the cells the draw may have added: not sticky) counts 0 or more
  than `hi` (imposed when the group shows an open cell, i.e. the draw had something to take, and kept no
  earlier version's cells).

A cell's consistent values are then computed in closed form (one equation) or by integer programs (an
earlier version's equations linked in); the minimality attack (Wong et al., VLDB 2007) keeps only what
these facts allow, and the audit asks that what is left spans the policy's width.
"""

import functools
import math
from dataclasses import dataclass

import numpy as np


class Inconsistent(ValueError):
    """No counts satisfy the equations and their rules: the pattern is not one the procedure makes."""


@dataclass(frozen=True)
class Rule:
    """The procedure's public facts about one equation's cells (module docstring)."""

    lo: int
    hi: int
    primary: bool
    other: bool
    # The variables (of the block, or of the integer program) the draw may have added: not sticky, not
    # already public.
    other_members: frozenset[int] = frozenset()

    @property
    def has_facts(self) -> bool:
        return self.primary or self.other


def _others_feasible(a: int, b: int, rest: int, lo: int, hi: int, need_p: bool, need_n: bool) -> bool:
    """Whether `a` drawable cells and `b` sticky cells, each a count >= 0, can sum to `rest` with one of
    them in lo..hi (`need_p`) and one drawable cell outside it (`need_n`)."""
    m = a + b
    if rest < 0:
        return False
    if need_n and a == 0:
        return False
    if m == 0:
        return rest == 0 and not need_p and not need_n
    if need_p and need_n:
        if m == 1:
            return False  # one cell cannot be both
        if m >= 3:
            return rest >= lo  # p = lo, q = 0, the rest anywhere
        return lo <= rest <= hi or rest >= lo + hi + 1  # p + q with q = 0 or q > hi
    if need_p:
        return rest >= lo if m >= 2 else lo <= rest <= hi
    if need_n:
        return True if m >= 2 else (rest == 0 or rest > hi)
    return True


@functools.lru_cache(maxsize=65536)
def closed_form(
    k: int, drawable_cells: int, total: int, rule: Rule | None, drawable: bool
) -> tuple[int, int] | None:
    """The least and greatest value a cell can take, among `k` unknown cells summing to `total` under
    `rule`, `drawable_cells` of them cells the draw may have added; `drawable`: whether this cell is one.
    None: no value is consistent (the facts do not hold for the true counts: a defect)."""
    if rule is None or not rule.has_facts:
        return (total, total) if k == 1 else (0, total)
    lo, hi = rule.lo, rule.hi
    a = drawable_cells - (1 if drawable else 0)
    b = (k - drawable_cells) - (0 if drawable else 1)
    feasible = []
    for v in _candidates(total, lo, hi):
        in_range = lo <= v <= hi
        need_p = rule.primary and not in_range
        need_n = rule.other and not (drawable and not in_range)
        if _others_feasible(a, b, total - v, lo, hi, need_p, need_n):
            feasible.append(v)
    if not feasible:
        return None
    return min(feasible), max(feasible)


def _candidates(total: int, lo: int, hi: int) -> list[int]:
    """The values at which feasibility can change (the least and greatest feasible are among them)."""
    points = {0, total, lo, hi, hi + 1, total - lo, total - hi, total - hi - 1, total - lo - hi - 1}
    points |= {p + d for p in list(points) for d in (-1, 1)}
    return sorted(v for v in points if 0 <= v <= total)


def integer_program_range(
    n: int,
    equations: list[list[int]],
    totals: list[int],
    rules: list[Rule | None],
    fixed: dict[int, int],
    target: int,
    time_limit: float,
) -> tuple[float, float]:
    """Least and greatest value of variable `target` over non-negative integers satisfying every equation
    and its rule (`Rule.other_members` are variable numbers here), with `fixed` variables held at their
    value. Solved by HiGHS (scipy's milp): per variable, binaries for "in lo..hi", "zero", "above hi"."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    big = max([*totals, 1])
    # Columns: x (n), then y (in range), z (zero), w (above hi) per variable.
    cols = 4 * n
    rows: list[np.ndarray] = []
    low: list[float] = []
    high: list[float] = []

    def row(entries: dict[int, float], lb: float, ub: float) -> None:
        r = np.zeros(cols)
        for j, c in entries.items():
            r[j] += c
        rows.append(r)
        low.append(lb)
        high.append(ub)

    ranges = {}
    for members, total, rule in zip(equations, totals, rules, strict=True):
        row({v: 1.0 for v in members}, total, total)
        if rule is None:
            continue
        for v in members:
            ranges[v] = (rule.lo, rule.hi)
        if rule.primary:
            row({n + v: 1.0 for v in members}, 1, math.inf)
        if rule.other:
            drawn = {2 * n + v: 1.0 for v in rule.other_members} | {
                3 * n + v: 1.0 for v in rule.other_members
            }
            row(drawn, 1, math.inf)
    for v in range(n):
        lo, hi = ranges.get(v, (1, 2))
        row({v: 1.0, n + v: -lo}, 0, math.inf)  # y -> x >= lo
        row({v: 1.0, n + v: big}, -math.inf, hi + big)  # y -> x <= hi
        row({v: 1.0, 2 * n + v: big}, -math.inf, big)  # z -> x <= 0
        row({v: 1.0, 3 * n + v: -(hi + 1)}, 0, math.inf)  # w -> x >= hi + 1
    lb = np.zeros(cols)
    ub = np.concatenate([np.full(n, float(big)), np.ones(3 * n)])
    for v, value in fixed.items():
        lb[v] = ub[v] = value
    constraints = LinearConstraint(np.array(rows), np.array(low), np.array(high))
    integrality = np.ones(cols)
    c = np.zeros(cols)
    c[target] = 1.0
    out = []
    for sign in (1.0, -1.0):
        res = milp(
            sign * c,
            constraints=constraints,
            integrality=integrality,
            bounds=Bounds(lb, ub),
            options={"time_limit": time_limit},
        )
        if res.status == 1:
            raise RuntimeError(
                f"disclosure audit: an integer program reached its {time_limit:.0f} s limit; the release "
                "is blocked rather than published with an unaudited cell"
            )
        if res.status == 2:
            raise Inconsistent(res.message)
        if res.status != 0:
            raise RuntimeError(f"audit integer program failed: {res.message}")
        out.append(sign * res.fun)
    return float(round(out[0])), float(round(out[1]))
