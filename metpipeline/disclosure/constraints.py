"""The published relations of a release, as the worst-case attacker writes them down.

One `Block` per (dataset, window, month column) that holds suppressed cells; in it one equation per
*group*: the cells whose sum the attacker knows. Every equation has coefficients +1 and a right-hand side
the auditor computes as the true sum of the unknowns in it (published cells are constants and cancel out).

The groups, with the attacker assumed to know every remainder (crimes not geocoded, or located in another
borough than the one that recorded them): the policy's protection must hold even then.

* **Ward within borough.** The borough file publishes, for each category c, borough b and month m, every
  crime of b; the ward file publishes the same crimes by ward, grouped by the ward's borough. The two differ
  by a remainder (not geocoded; located elsewhere), which is zero or small and partly public (the
  not-geocoded totals; street-level data), so the attacker is assumed to know it:
      sum over wards w of b of ward(c, w, m) = borough(c, b, m) - remainder(c, b, m)    (known)
  This subsumes the London-wide relation (the sum of these over boroughs).
* **LSOA within borough**, the same, for the categories the LSOA file publishes (its protected categories
  are withheld entirely, so no LSOA cell is suppressed under the current policy). LSOAs nest in wards only
  by best fit, but an equation per borough is already the attacker's strongest: a ward's LSOAs are a
  subset of its borough's.
* **Flagged counts** (hate crime strands, domestic abuse, by borough) against their London total for the
  flag and month, which the MPS publishes elsewhere (hate crime dashboards): known.
* **Borough file**, were it ever suppressed: its London total per category and month (known).
* **Major against minor categories**: no file publishes a major-category row, so no relation.
* **24-month against historical file**: disjoint months, and no file publishes a row total across months,
  so no relation runs across months.
* **Revisions**: a cell any earlier version published with the value it still has is known (`known`,
  from `published_cells.parquet`, which carries every version's published cells forward), a constant here
  even if this version suppresses it. And each earlier version's own group equations (the sum of the
  cells it suppressed in a group) still hold wherever those cells keep their values (`hidden`): they are
  added to the block, where, with the current equation, they are solved by linear programs.

Groups never share a cell, so each is a block of its own with a single equation: the audit of a group is
closed-form (audit.py) and so is the choice of complementary cells (suppress.py). Both take about the same
time per cell at any density.
"""

import math
from dataclasses import dataclass, field

import numpy as np

from metpipeline.catalogue import CATALOGUE
from metpipeline.disclosure.policy import Policy
from metpipeline.disclosure.rule_aware import Rule, closed_form
from metpipeline.disclosure.tables import CATEGORY_COLUMNS, KEY_COLUMNS, PUBLISHED, Release, Table

# (slug, YYYYMM, row key) -> the values earlier versions published in that cell
Known = dict[tuple[str, str, tuple], set[int]]
# (slug, YYYYMM) -> earlier version (its release month) -> the cells it suppressed: row key -> true value.
# Each earlier version's group equations stay true while its suppressed cells keep their values.
Hidden = dict[tuple[str, str], dict[str, dict[tuple, int]]]

# The columns beside the category that name a group whose total the attacker knows (see above).
GROUP_COLUMNS: dict[str, tuple[str, ...]] = {slug: spec.group for slug, spec in CATALOGUE.items()}


@dataclass
class Variable:
    value: int
    audited: bool  # a suppressed published cell (True) or a hidden quantity (False)
    fixed: bool = False  # value known from an earlier version
    cell: tuple | None = None  # (slug, window, row, column index)
    category: tuple[str, str] | None = None
    equations: list[int] = field(default_factory=list)
    # The least width the policy asks of this cell's interval: min(min_interval_width, what its group can
    # hide at most, i.e. the sum of its cells not already known).
    required: float = 0.0


@dataclass
class Block:
    label: str
    variables: list[Variable]
    equations: list[list[int]]
    # Per equation, what the suppression procedure's public rule tells of its cells (rule_aware.py).
    rules: list[Rule | None] = field(default_factory=list)

    def add_equation(self, members: list[int], rule: Rule | None = None) -> None:
        if not members:
            return
        idx = len(self.equations)
        self.equations.append(members)
        self.rules.append(rule)
        for v in members:
            self.variables[v].equations.append(idx)


def prepare(t: Table) -> None:
    """Cache per-table lookups the block builders use on every month column."""
    if getattr(t, "row_keys_cache", None) is None:
        t.row_keys_cache = t.row_keys()  # type: ignore[attr-defined]
        t.values_cache = t.values()  # type: ignore[attr-defined]
        cats = t.categories()
        t.categories_cache = cats  # type: ignore[attr-defined]
        rows: dict[tuple[str, str], list[int]] = {}
        for i, c in enumerate(cats):
            rows.setdefault(c, []).append(i)
        t.category_rows = {c: np.array(r, dtype=np.int64) for c, r in rows.items()}  # type: ignore[attr-defined]
        extra = [t.frame[c].astype(str).tolist() for c in GROUP_COLUMNS.get(t.slug, ())]
        t.row_of_key = {k: i for i, k in enumerate(t.row_keys_cache)}  # type: ignore[attr-defined]
        groups: dict[tuple, list[int]] = {}
        for i, c in enumerate(cats):
            groups.setdefault((c, *(e[i] for e in extra)), []).append(i)
        t.group_of = np.empty(len(cats), dtype=np.int64)  # type: ignore[attr-defined]
        t.group_rows = []  # type: ignore[attr-defined]
        t.group_index = {}  # type: ignore[attr-defined]
        for g, (name, members) in enumerate(groups.items()):
            t.group_rows.append(np.array(members, dtype=np.int64))  # type: ignore[attr-defined]
            t.group_of[members] = g  # type: ignore[attr-defined]
            t.group_index[name] = g  # type: ignore[attr-defined]


# What `prepare`, `known_mask` and `_earlier_by_group` cache on a table.
_CACHES = (
    "row_keys_cache",
    "values_cache",
    "categories_cache",
    "category_rows",
    "row_of_key",
    "group_of",
    "group_rows",
    "group_index",
    "_known_cache",
    "_known_by_month",
    "_earlier_cache",
    "_earlier_cells_cache",
)


def forget(t: Table) -> None:
    """Drop the lookups cached on `t` once its suppression is settled. They are a 64-bit copy of its counts,
    its keys as Python tuples, and a reference to the earlier versions' cells (`known`). Left on the table,
    they stayed in memory while the files were written (benchmarks/RESULTS.md)."""
    for name in _CACHES:
        t.__dict__.pop(name, None)


def known_mask(t: Table, col: int, known: Known) -> np.ndarray:
    """Rows whose cell in `col` an earlier version published with the value it has now.

    Computed once per month column (cached on the table, read-only): the suppression and the audit ask for
    it group by group, and a table at full scale has tens of thousands of groups. Only the month's known
    cells are looked at (`_known_by_month`), not every row of the table."""
    cache = t.__dict__.setdefault("_known_cache", {})
    key = (col, id(known))
    if key not in cache:
        mask = np.zeros(len(t.frame), dtype=bool)
        if known:
            prepare(t)
            month, vals = t.months[col], t.values_cache[:, col]  # type: ignore[attr-defined]
            row_of = t.row_of_key  # type: ignore[attr-defined]
            if len(row_of) == len(mask):  # one row per key (always, for a published table)
                for cell_key, values in _known_by_month(t, known).get(month, ()):
                    r = row_of.get(cell_key)
                    if r is not None and int(vals[r]) in values:
                        mask[r] = True
            else:  # a key on several rows: each row looked up
                keys = t.row_keys_cache  # type: ignore[attr-defined]
                for r in range(len(mask)):
                    previous = known.get((t.slug, month, keys[r]))
                    mask[r] = previous is not None and int(vals[r]) in previous
        mask.flags.writeable = False
        cache[key] = mask
    return cache[key]


def _known_by_month(t: Table, known: Known) -> dict[str, list[tuple[tuple, set[int]]]]:
    """`known`'s cells of `t`'s dataset by month, built once per table and knowledge (a month column then
    visits its own cells only). Like the other caches here, it takes `known` as read-only once built."""
    cached = t.__dict__.get("_known_by_month")
    if cached is None or cached[0] is not known:
        index: dict[str, list[tuple[tuple, set[int]]]] = {}
        for (slug, month, cell_key), values in known.items():
            if slug == t.slug:
                index.setdefault(month, []).append((cell_key, values))
        cached = (known, index)
        t.__dict__["_known_by_month"] = cached
    return cached[1]


def earlier_equations(t: Table, col: int, group: int, hidden: Hidden | None) -> list[list[int]]:
    """Rows of `group` that an earlier version suppressed together, one list per version, where every one
    of them still has the value it had then (so that version's equation over them still holds)."""
    if not hidden:
        return []
    return _earlier_by_group(t, col, hidden).get(group, [])


def _earlier_by_group(t: Table, col: int, hidden: Hidden) -> dict[int, list[list[int]]]:
    """`earlier_equations` for every group of one month column, computed once per column: the suppression
    and the audit ask for it group by group, and a month carries every earlier version's cells."""
    cache = t.__dict__.setdefault("_earlier_cache", {})
    key = (col, id(hidden))
    if key not in cache:
        vals = t.values_cache[:, col]  # type: ignore[attr-defined]
        out: dict[int, list[list[int]]] = {}
        for cells in hidden.get((t.slug, t.months[col]), {}).values():
            by_group: dict[int, list[tuple[int, int]]] = {}
            broken: set[int] = set()  # groups with a cell whose row the table no longer has
            for k, v in cells.items():
                r = t.row_of_key.get(k)  # type: ignore[attr-defined]
                if r is None:
                    g = group_of_key(t, k)
                    if g is not None:
                        broken.add(g)
                    continue
                by_group.setdefault(int(t.group_of[r]), []).append((int(r), v))  # type: ignore[attr-defined]
            for g, members in by_group.items():
                if g not in broken and all(int(vals[r]) == v for r, v in members):
                    out.setdefault(g, []).append(sorted(r for r, _ in members))
        cache[key] = out
    return cache[key]


def _whole_group_span(t: Table, rows, is_known, capacity: float, policy: Policy) -> float:
    """How wide a cell's range is when every cell of the group not already public is hidden, under the
    procedure's rule (a primary among them), where that still leaves each cell anywhere from 0 to the
    primary range: three crimes over three or more wards hidden whole tell only that no ward holds all
    three. The policy asks no more than that (the attacker then learns the group's total and the rule, both
    public), so such a thin group is protected by hiding it, not by withholding rows for the whole window.
    A range that excludes 0 or the primary range (two wards holding 3: each 1 or 2) does not count."""
    rule = policy.rule(t.slug)
    n = int((~is_known[rows]).sum())
    if rule.action != "suppress" or n < 2:
        return math.inf
    facts = Rule(rule.min_count, rule.max_count, primary=True, other=False)
    bounds = closed_form(n, n, int(capacity), facts, True)
    if bounds is None or bounds[0] > 0 or bounds[1] < rule.max_count:
        return math.inf
    return float(bounds[1] - bounds[0])


def group_of_key(t: Table, key: tuple) -> int | None:
    """The group a row key belongs to (its category and group columns), whether or not the table has the
    row; None when no row of the table is in that group."""
    columns = KEY_COLUMNS[t.slug]
    names = (*CATEGORY_COLUMNS[t.slug], *GROUP_COLUMNS.get(t.slug, ()))
    parts = tuple(key[columns.index(c)] for c in names)
    category, extra = parts[: len(CATEGORY_COLUMNS[t.slug])], parts[len(CATEGORY_COLUMNS[t.slug]) :]
    return t.group_index.get((category, *extra))  # type: ignore[attr-defined]


def build_block(
    release: Release,
    t: Table,
    col: int,
    policy: Policy,
    known: Known,
    totals: dict | None = None,
    hidden: Hidden | None = None,
    groups: list[int] | None = None,
) -> Block:
    """The month column's groups with suppressed cells (or just `groups`): the group's equation and the
    earlier versions' equations that still hold, over its suppressed cells. (`release` and `totals` are
    accepted for callers of the earlier, London-wide model; the worst case needs neither.)"""
    prepare(t)
    vals, status, cats = t.values_cache, t.status[:, col], t.categories_cache  # type: ignore[attr-defined]
    block = Block(label=f"{t.slug} {t.window} {t.months[col]}", variables=[], equations=[])
    is_known = known_mask(t, col, known)
    suppressed = np.flatnonzero(status != PUBLISHED)
    for g in groups if groups is not None else np.unique(t.group_of[suppressed]):  # type: ignore[attr-defined]
        rows = t.group_rows[g]  # type: ignore[attr-defined]
        capacity = float(vals[rows, col][~is_known[rows]].sum())
        required = min(
            policy.min_interval_width, capacity, _whole_group_span(t, rows, is_known, capacity, policy)
        )
        variable_of: dict[int, int] = {}
        for r in rows[status[rows] != PUBLISHED]:
            block.variables.append(
                Variable(
                    value=int(vals[r, col]),
                    audited=True,
                    fixed=bool(is_known[r]),
                    cell=(t.slug, t.window, int(r), col),
                    category=cats[r],
                    required=required,
                )
            )
            variable_of[int(r)] = len(block.variables) - 1
        members = sorted(variable_of.values())
        earlier = earlier_equations(t, col, int(g), hidden)
        block.add_equation(members, group_rule(t, col, rows, earlier, policy, is_known, variable_of))
        index_of = {tuple(members): len(block.equations) - 1}
        older: set[int] = set()  # rows hidden by the versions before the one looked at
        for old_cells in _earlier_cells(t, col, int(g), hidden):
            # Each earlier version's equation over this group: the old counts of the cells it hid sum to their
            # old total. A cell with the value it had is this version's variable (or a constant, published
            # now); a cell revised since adds its old count as a variable of its own.
            eq: list[int] = []
            # (old count, whether that version could have drawn the cell, its variable or None: a constant)
            facts: list[tuple[int, bool, int | None]] = []
            for r, old in old_cells:
                if int(vals[r, col]) == old:
                    v = variable_of.get(r)
                else:
                    block.variables.append(Variable(value=old, audited=False))
                    v = len(block.variables) - 1
                facts.append((old, r not in older, v))
                if v is not None:
                    eq.append(v)
            shown_open = len(old_cells) < len(rows)
            older.update(r for r, _ in old_cells)
            eq.sort()
            if not eq:
                continue
            rule = earlier_rule(facts, shown_open, policy.rule(t.slug))
            same = index_of.get(tuple(eq))
            existing = block.rules[same] if same is not None else None
            if same is not None and not (existing is not None and existing.has_facts):
                block.rules[same] = rule  # the same cells: that version's facts are the ones that count
            elif same is None or rule.has_facts:
                index_of.setdefault(tuple(eq), len(block.equations))
                block.add_equation(eq, rule)
    return block


def _earlier_cells(t: Table, col: int, group: int, hidden: Hidden | None) -> list[list[tuple[int, int]]]:
    """Per earlier version, oldest first, the cells of `group` it hid in this month: (row, the count it
    hid)."""
    if not hidden:
        return []
    cache = t.__dict__.setdefault("_earlier_cells_cache", {})
    key = (col, id(hidden))
    if key not in cache:
        out: dict[int, list[list[tuple[int, int]]]] = {}
        for _version, cells in sorted(hidden.get((t.slug, t.months[col]), {}).items()):
            by_group: dict[int, list[tuple[int, int]]] = {}
            for k, v in cells.items():
                r = t.row_of_key.get(k)  # type: ignore[attr-defined]
                # A row withheld now is left out: the equation then claims the attacker knows the sum of
                # the rest, more than is published (a stricter audit, never a weaker one).
                if r is not None:
                    by_group.setdefault(int(t.group_of[r]), []).append((int(r), v))  # type: ignore[attr-defined]
            for g, members in by_group.items():
                out.setdefault(g, []).append(members)
        cache[key] = out
    return cache[key].get(group, [])


def group_rule(t: Table, col: int, rows, earlier, policy: Policy, is_known, variable_of) -> Rule | None:
    """What the procedure's public rule says of a group's suppressed cells this version (rule_aware.py):
    a primary among them unless cells an earlier version hid there could explain the suppression, and a
    drawn complement among the others whenever the group shows a cell the draw could have taken and kept
    none (a group that keeps earlier cells may draw none)."""
    rule = policy.rule(t.slug)
    if rule.action != "suppress":
        return None
    vals, status = t.values_cache[:, col], t.status[:, col]  # type: ignore[attr-defined]
    sticky = {r for eq in earlier for r in eq if not is_known[r]}
    hidden_known_primary = any(
        is_known[r] and rule.min_count <= vals[r] <= rule.max_count for r in variable_of
    )
    open_shown = bool(((status[rows] == PUBLISHED) & ~is_known[rows]).any())
    drawable = frozenset(v for r, v in variable_of.items() if r not in sticky and not is_known[r])
    return Rule(
        rule.min_count,
        rule.max_count,
        primary=not sticky and not hidden_known_primary,
        other=open_shown and not sticky,  # a group keeping earlier cells may draw none
        other_members=drawable,
    )


def earlier_rule(facts: list[tuple[int, bool, int | None]], shown_open: bool, rule) -> Rule:
    """An earlier version's facts over the cells it hid in the group (`facts`: each one's old count,
    whether that version could have drawn it (no version before it hid it), and its variable, None for a
    constant: published now with that count). Whether that version had a primary there, or kept cells from
    one before it, depends on versions before it: the audit grants the attacker each fact the old counts
    satisfy (never excluding the truth), counting as drawable only cells no version before it hid (the
    fewer, the stronger the fact). A version that showed none of the group's other cells drew nothing. A
    fact a constant already satisfies says nothing of the variables."""
    lo, hi = rule.min_count, rule.max_count
    primary = not any(v is None and lo <= x <= hi for x, _d, v in facts) and any(
        lo <= x <= hi for x, _d, v in facts
    )
    drawable = [(x, v) for x, d, v in facts if d]
    other = (
        shown_open
        and not any(v is None and not lo <= x <= hi for x, v in drawable)
        and any(not lo <= x <= hi for x, _v in drawable)
    )
    return Rule(lo, hi, primary, other, frozenset(v for _x, v in drawable if v is not None))
