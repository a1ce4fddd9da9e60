"""Disclosure audit and threshold check (pure).

For every suppressed cell the audit computes the tightest range an attacker can give it who holds every
published relation of the release (constraints.py: published cells are constants, suppressed cells
unknown counts >= 0) *and knows the suppression procedure* (rule_aware.py: a primary among a group's
suppressed cells, a drawn complement among them; the draw itself keyed by a secret). The range must be at
least as wide as the policy asks (`Variable.required`: the policy's `min_interval_width`, or all its group
can hide when that is less).

A component with a single equation (every group of the worst-case model, unless an earlier version's
equations link in) is solved in closed form (`rule_aware.closed_form`). A component with several is solved
by integer programs (scipy's HiGHS `milp`: least and greatest value of the cell); variables that sit in
exactly the same equations and play the same part in their rules are interchangeable, so one pair answers
for all of them. Each interval records which method judged it; the property tests compare both with brute
force enumeration.
"""

import math
from dataclasses import dataclass

import numpy as np

from metpipeline.disclosure import rule_aware
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
    method: str = "closed form"  # what judged it: "closed form", "integer program", "inconsistent"

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
        methods: dict[str, int] = {}
        for iv in self.intervals:
            d = by_slug.setdefault(iv.cell[0], {"audited": 0, "failing": 0, "exact": 0})
            d["audited"] += 1
            d["failing"] += int(iv.fails)
            d["exact"] += int(iv.exact)
            methods[iv.method] = methods.get(iv.method, 0) + 1
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
            "attacker": "knows the published tables, earlier versions, remainders and the procedure",
            "cells_by_method": methods,
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
            out.extend(_by_integer_programs(block, members, eqs))
    return out


def _closed_form(block: Block, members: list[int]) -> list[CellInterval]:
    """One equation (or none) over `members`: known cells are constants; the unknown ones sum to their
    total, under the equation's rule (rule_aware.closed_form). With no equation an unknown is bounded by 0
    only."""
    unknown = [v for v in members if not block.variables[v].fixed]
    variables = block.variables
    eq = variables[members[0]].equations
    rule = block.rules[eq[0]] if eq else None
    if rule is not None and rule.primary:
        fixed_values = [variables[v].value for v in members if variables[v].fixed]
        if any(rule.lo <= x <= rule.hi for x in fixed_values):  # a primary already public
            rule = rule_aware.Rule(rule.lo, rule.hi, False, rule.other, rule.other_members)
    total = int(sum(variables[v].value for v in unknown))
    drawable = sum(1 for v in unknown if rule is not None and v in rule.other_members)
    out = []
    for v in members:
        var = variables[v]
        if not var.audited:
            continue
        assert var.cell is not None  # audited variables are published cells
        if var.fixed:
            out.append(CellInterval(var.cell, var.value, var.value, var.value, var.required, True))
            continue
        if not eq:
            out.append(CellInterval(var.cell, var.value, 0.0, math.inf, var.required))
            continue
        is_drawable = rule is not None and v in rule.other_members
        bounds = rule_aware.closed_form(len(unknown), drawable, total, rule, is_drawable)
        if bounds is None:  # the pattern is not one the procedure makes: judged as exposing the cell
            out.append(
                CellInterval(var.cell, var.value, var.value, var.value, var.required, method="inconsistent")
            )
            continue
        out.append(CellInterval(var.cell, var.value, float(bounds[0]), float(bounds[1]), var.required))
    return out


def _by_integer_programs(block: Block, members: list[int], eqs: list[int]) -> list[CellInterval]:
    out: list[CellInterval] = []
    index = {v: i for i, v in enumerate(members)}
    equations = [[index[v] for v in block.equations[e]] for e in eqs]
    totals = [int(sum(block.variables[v].value for v in block.equations[e])) for e in eqs]
    rules = []
    for e in eqs:
        r = block.rules[e]
        rules.append(
            None
            if r is None
            else rule_aware.Rule(r.lo, r.hi, r.primary, r.other, frozenset(index[v] for v in r.other_members))
        )
    fixed = {index[v]: block.variables[v].value for v in members if block.variables[v].fixed}
    solved: dict[tuple, tuple[float, float]] = {}
    for v in members:
        var = block.variables[v]
        if not var.audited:
            continue
        assert var.cell is not None  # audited variables are published cells (constraints.build_block)
        if var.fixed:
            out.append(CellInterval(var.cell, var.value, var.value, var.value, var.required, True))
            continue
        # Interchangeable: the same equations, and the same part (drawable or not) in each rule.
        signature = tuple(
            (e, block.rules[e] is not None and v in block.rules[e].other_members)  # type: ignore[union-attr]
            for e in sorted(var.equations)
        )
        if signature not in solved:
            try:
                solved[signature] = rule_aware.integer_program_range(
                    len(members), equations, totals, rules, fixed, index[v], SOLVER_TIME_LIMIT_S
                )
            except rule_aware.Inconsistent:  # not a pattern the procedure makes: judged as exposing it
                solved[signature] = (var.value, var.value)
        low, high = solved[signature]
        out.append(CellInterval(var.cell, var.value, low, high, var.required, method="integer program"))
    return out


# Each integer program is small (milliseconds); the limit bounds how long a termination request can wait for
# the solver (interrupts are acted on between calls), and a program that reaches it blocks the release
# rather than letting a cell through unaudited.
SOLVER_TIME_LIMIT_S = 5.0


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
