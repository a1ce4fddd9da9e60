"""Differencing audit and threshold check (pure).

For every suppressed cell the audit computes the attacker's tightest interval under every published
relation of the release (constraints.py: published cells are constants, suppressed cells variables >= 0).
The interval must be at least as wide as the policy asks (`Variable.required`: the policy's
`min_interval_width`, or all its group can hide when that is less).

A component with a single equation (every group of the worst-case model) is solved in closed form: with
one unknown it is that unknown's exact value; with several, each lies anywhere between 0 and their sum.
A component with several equations is solved with scipy's HiGHS linear programming (minimise and maximise
the cell); variables that sit in exactly the same equations are interchangeable, so one pair of LPs
answers for all of them. For the relations here (sums of disjoint or nested groups, a totally unimodular
system) the LP's bounds are the integer bounds; the property tests compare both with brute force.
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

from metpipeline.disclosure.constraints import Block, Hidden, Known, build_block
from metpipeline.disclosure.policy import Policy
from metpipeline.disclosure.tables import PUBLISHED, Release, Table


@dataclass(frozen=True)
class CellInterval:
    cell: tuple  # (slug, window, row, column index): internal only, never written to metadata
    value: int
    low: float
    high: float
    required: float = 0.0  # the least width the policy asks of this cell (constraints.Variable.required)
    already_public: bool = False  # an earlier version published this value: no release can hide it again

    @property
    def width(self) -> float:
        return self.high - self.low

    @property
    def exact(self) -> bool:
        return self.width < 1e-9

    @property
    def fails(self) -> bool:
        return not self.already_public and self.width < self.required - 1e-9


@dataclass
class AuditResult:
    min_width: float
    intervals: list[CellInterval]

    @property
    def failing(self) -> list[CellInterval]:
        return [iv for iv in self.intervals if iv.fails]

    @property
    def passed(self) -> bool:
        return not self.failing

    def summary(self) -> dict:
        """Counts only: no cell, geography or value."""
        by_slug: dict[str, dict[str, int]] = {}
        for iv in self.intervals:
            d = by_slug.setdefault(iv.cell[0], {"audited": 0, "failing": 0, "exact": 0})
            d["audited"] += 1
            d["failing"] += int(iv.fails)
            d["exact"] += int(iv.exact)
        widths = [iv.width for iv in self.intervals]
        narrowest = min(widths) if widths else None
        return {
            "cells_audited": len(self.intervals),
            "cells_failing": len(self.failing),
            "cells_recovered_exactly": sum(int(iv.exact and not iv.already_public) for iv in self.intervals),
            "cells_already_public": sum(int(iv.already_public) for iv in self.intervals),
            "min_interval_width": self.min_width,
            "narrowest_width": None if narrowest is None or math.isinf(narrowest) else round(narrowest, 3),
            "by_dataset": by_slug,
        }


def _components(block: Block) -> list[tuple[list[int], list[int]]]:
    """(variables, equations) of each connected component; lone variables form their own."""
    parent = list(range(len(block.variables)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for eq in block.equations:
        for v in eq[1:]:
            a, b = find(eq[0]), find(v)
            if a != b:
                parent[b] = a
    comps: dict[int, tuple[list[int], list[int]]] = {}
    for v in range(len(block.variables)):
        comps.setdefault(find(v), ([], []))[0].append(v)
    for e, eq in enumerate(block.equations):
        comps[find(eq[0])][1].append(e)
    return list(comps.values())


def audit_block(block: Block) -> list[CellInterval]:
    out: list[CellInterval] = []
    for members, eqs in _components(block):
        if len(eqs) <= 1:
            out.extend(_closed_form(block, members))
        else:
            out.extend(_by_linear_programs(block, members, eqs))
    return out


def _closed_form(block: Block, members: list[int]) -> list[CellInterval]:
    """One equation (or none) over `members`: known cells are constants; one unknown is exact; several
    each lie in [0, their sum]. With no equation an unknown is bounded by 0 only."""
    unknown = [v for v in members if not block.variables[v].fixed]
    in_equation = bool(block.variables[members[0]].equations)
    total = float(sum(block.variables[v].value for v in unknown))
    out = []
    for v in members:
        var = block.variables[v]
        if not var.audited:
            continue
        assert var.cell is not None  # audited variables are published cells
        if var.fixed:
            out.append(CellInterval(var.cell, var.value, var.value, var.value, var.required, True))
            continue
        elif not in_equation:
            low, high = 0.0, math.inf
        elif len(unknown) == 1:
            low = high = total
        else:
            low, high = 0.0, total
        out.append(CellInterval(var.cell, var.value, low, high, var.required))
    return out


def _by_linear_programs(block: Block, members: list[int], eqs: list[int]) -> list[CellInterval]:
    out: list[CellInterval] = []
    index = {v: i for i, v in enumerate(members)}
    n = len(members)
    a_eq = np.zeros((len(eqs), n))
    for row, e in enumerate(eqs):
        for v in block.equations[e]:
            a_eq[row, index[v]] = 1.0
    values = np.array([block.variables[v].value for v in members], dtype=float)
    b_eq = a_eq @ values
    bounds = [
        (block.variables[v].value, block.variables[v].value) if block.variables[v].fixed else (0, None)
        for v in members
    ]
    solved: dict[tuple, tuple[float, float]] = {}
    for v in members:
        var = block.variables[v]
        if not var.audited:
            continue
        assert var.cell is not None  # audited variables are published cells (constraints.build_block)
        if var.fixed:
            out.append(CellInterval(var.cell, var.value, var.value, var.value, var.required, True))
            continue
        signature = tuple(sorted(var.equations))
        if signature not in solved:
            solved[signature] = _range(index[v], a_eq, b_eq, bounds)
        low, high = solved[signature]
        out.append(CellInterval(var.cell, var.value, low, high, var.required))
    return out


# Each linear program is small (milliseconds); the limit bounds how long a termination request can wait for
# the solver (interrupts are acted on between calls), and an LP that reaches it blocks the release rather
# than letting a cell through unaudited.
LP_TIME_LIMIT_S = 5.0
_LIMIT_REACHED = 1  # scipy's status for an iteration or time limit


def _range(i: int, a_eq, b_eq, bounds) -> tuple[float, float]:
    c = np.zeros(a_eq.shape[1])
    c[i] = 1.0
    options = {"time_limit": LP_TIME_LIMIT_S}
    lo = linprog(c, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs", options=options)
    hi = linprog(-c, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs", options=options)
    if _LIMIT_REACHED in (lo.status, hi.status):
        raise RuntimeError(
            f"disclosure audit: a linear program reached its {LP_TIME_LIMIT_S:.0f} s limit; the release is "
            "blocked rather than published with an unaudited cell"
        )
    if lo.status != 0:
        raise RuntimeError(f"audit LP failed: {lo.message}")  # the true values are always feasible
    high = math.inf if hi.status == 3 else -hi.fun
    return float(lo.fun), float(high)


def audit_release(
    release: Release, policy: Policy, known: Known | None = None, hidden: Hidden | None = None
) -> AuditResult:
    """The attacker's interval for every suppressed cell of the release (`known`, `hidden`: what earlier
    versions published and suppressed, constraints.py)."""
    known = known or {}
    intervals: list[CellInterval] = []
    for t in release.values():
        for col in np.flatnonzero((t.status != PUBLISHED).any(axis=0)):
            intervals.extend(audit_block(build_block(release, t, int(col), policy, known, hidden=hidden)))
    return AuditResult(policy.min_interval_width, intervals)


def protected_in_range(t: Table, rule, sensitivity: dict) -> np.ndarray:
    """Cells of `t` (rows x months) in a protected category whose count lies in the rule's range."""
    protected = np.array([rule.protects(sensitivity.get(c, "standard")) for c in t.categories()], dtype=bool)
    vals = t.values()
    return (vals >= rule.min_count) & (vals <= rule.max_count) & protected[:, None]


def threshold_breaches(release: Release, policy: Policy, sensitivity: dict[tuple[str, str], str]) -> dict:
    """Published cells of protected rows whose count is within the policy's suppression range, per dataset."""
    out: dict[str, int] = {}
    for (slug, _window), t in release.items():
        rule = policy.rule(slug)
        if rule.action != "suppress" or not t.months:
            continue
        hit = protected_in_range(t, rule, sensitivity) & (t.status == PUBLISHED)
        out[slug] = out.get(slug, 0) + int(hit.sum())
    return out
