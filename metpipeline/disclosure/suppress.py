"""Primary and secondary suppression, and withholding of whole categories and lone rows (pure).

Primary: cells of protected rows (policy `applies_to`) with counts in [min_count, max_count].

Secondary, per group of the worst-case model (constraints.py: e.g. a category's wards in one borough in
one month, whose total the attacker knows): a group whose suppressed cells do not yet hide enough gets the
complementary cells that lose the least information, fewest cells first, then fewest crimes. A group is
protected when it has at least two unknown cells and their sum reaches the policy's range (or everything the
group holds, when that is less: the attacker then learns no more than the borough's figure, which the
borough file publishes). Cells an earlier version published with the same value are never chosen (hiding
them hides nothing). Groups share no cell, so each is solved once, in closed form, at any density.

Lone rows: a protected category with a single row in a group over the whole window (one ward of a
borough; one borough of a flag London-wide) can never be protected by suppressing cells (the group total is
the row), so that row is withheld from the file; its crimes stay in the borough file (and the flag's
London total).
"""

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from metpipeline.disclosure.audit import audit_block, protected_in_range
from metpipeline.disclosure.constraints import (
    Hidden,
    Known,
    build_block,
    earlier_equations,
    forget,
    known_mask,
    prepare,
)
from metpipeline.disclosure.policy import Policy
from metpipeline.disclosure.tables import (
    CATEGORY_COLUMNS,
    PRIMARY,
    PUBLISHED,
    SECONDARY,
    Release,
    Table,
    rows_kept,
)


@dataclass
class SuppressionOutcome:
    withheld: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # slug -> categories removed
    withheld_totals: dict[str, dict[str, int]] = field(default_factory=dict)  # slug -> YYYYMM -> count
    unresolved: list[str] = field(default_factory=list)  # groups the secondary search could not protect
    lone_rows_withheld: dict[str, int] = field(default_factory=dict)  # slug -> lone rows withheld
    rows_withheld: dict[str, int] = field(default_factory=dict)  # slug -> rows no suppression could protect

    def information_loss(self, release: Release) -> dict[str, dict]:
        """Per dataset that suppresses: cells and crimes hidden, their share, and by category (counts only;
        every figure here is implied by totals the worst-case attacker already knows)."""
        out: dict[str, dict] = {}
        for (slug, _w), t in sorted(release.items()):
            if not t.count(PRIMARY) and not t.count(SECONDARY) and slug not in out:
                continue
            d = out.setdefault(
                slug, {"cells": 0, "suppressed": 0, "crimes": 0, "crimes_hidden": 0, "by_category": {}}
            )
            hidden = t.status != PUBLISHED
            vals = t.values()
            d["cells"] += int(hidden.size)
            d["suppressed"] += int(hidden.sum())
            d["crimes"] += int(vals.sum())
            d["crimes_hidden"] += int(vals[hidden].sum())
            for cat, row_hidden in zip(t.categories(), hidden, strict=True):
                c = d["by_category"].setdefault(" / ".join(cat), {"suppressed": 0, "cells": 0})
                c["suppressed"] += int(row_hidden.sum())
                c["cells"] += int(row_hidden.size)
            d["lone_rows_withheld"] = self.lone_rows_withheld.get(slug, 0)
            d["rows_withheld"] = self.rows_withheld.get(slug, 0)
        for d in out.values():
            d["share"] = round(d["suppressed"] / d["cells"], 6) if d["cells"] else 0.0
            d["by_category"] = {
                name: {**c, "share": round(c["suppressed"] / c["cells"], 6) if c["cells"] else 0.0}
                for name, c in sorted(d["by_category"].items())
                if c["suppressed"]
            }
        return out

    def cells(self, release: Release) -> dict[str, dict[str, int]]:
        """Suppressed cells per dataset and rule (counts only)."""
        out: dict[str, dict[str, int]] = {}
        for (slug, _w), t in release.items():
            d = out.setdefault(slug, {"primary": 0, "secondary": 0})
            d["primary"] += t.count(PRIMARY)
            d["secondary"] += t.count(SECONDARY)
        return out


def withhold(release: Release, policy: Policy, sensitivity: dict, outcome: SuppressionOutcome) -> None:
    """Remove rows of withheld categories (LSOA high categories) and keep their monthly totals; remove the
    lone rows of protected categories in suppressing datasets (module docstring)."""
    for (slug, _w), t in list(release.items()):
        rule = policy.rule(slug)
        if rule.action == "suppress":
            _withhold_lone_rows(release, (slug, _w), t, rule, sensitivity, outcome)
            continue
        if rule.action != "withhold":
            continue
        a, b = CATEGORY_COLUMNS[slug]
        cats = t.categories()
        drop = np.array([rule.protects(sensitivity.get(c, "standard")) for c in cats], dtype=bool)
        found = sorted({c for c, d in zip(cats, drop, strict=True) if d})
        seen = outcome.withheld.setdefault(slug, [])
        seen.extend(c for c in found if c not in seen)
        totals = outcome.withheld_totals.setdefault(slug, {})
        for m in t.months:
            totals[m] = int(t.frame.loc[drop, m].sum())
        release[(slug, _w)] = Table(slug, _w, rows_kept(t.frame, ~drop))
    for slug in outcome.withheld:
        outcome.withheld[slug].sort()


def _withhold_lone_rows(release, key, t: Table, rule, sensitivity, outcome) -> None:
    if not t.months:
        return
    prepare(t)
    sizes = np.array([len(t.group_rows[g]) for g in t.group_of])  # type: ignore[attr-defined]
    in_range = protected_in_range(t, rule, sensitivity).any(axis=1)
    lone = (sizes == 1) & in_range
    if lone.any():
        outcome.lone_rows_withheld[t.slug] = outcome.lone_rows_withheld.get(t.slug, 0) + int(lone.sum())
        release[key] = Table(t.slug, t.window, rows_kept(t.frame, ~lone))


def primary(release: Release, policy: Policy, sensitivity: dict) -> None:
    for (slug, _w), t in release.items():
        rule = policy.rule(slug)
        if rule.action != "suppress" or not t.months:
            continue
        t.status[protected_in_range(t, rule, sensitivity)] = PRIMARY


def secondary(
    release: Release, policy: Policy, known: Known | None = None, hidden: Hidden | None = None
) -> tuple[list[str], dict[tuple[str, str], set[int]]]:
    """Add the complementary suppressions every group needs. Returns the groups that cannot be protected
    (counts-only labels) and, per table, the rows of their cells (for `apply_policy` to withhold)."""
    known = known or {}
    unresolved: list[str] = []
    rows_out: dict[tuple[str, str], set[int]] = {}
    for key, t in release.items():
        if policy.rule(t.slug).action != "suppress":
            continue
        prepare(t)
        for col in np.flatnonzero((t.status != PUBLISHED).any(axis=0)):
            failed = _protect_column(release, t, int(col), policy, known, hidden)
            if failed:
                unresolved.append(f"{t.slug} {t.window} {t.months[col]}: {len(failed)} group(s)")
                rows_out.setdefault(key, set()).update(failed)
    return unresolved, rows_out


def _protect_column(release, t: Table, col: int, policy: Policy, known: Known, hidden) -> set[int]:
    """Protect every group of one month column; returns the rows of the cells that cannot be."""
    vals = t.values_cache[:, col]  # type: ignore[attr-defined]
    status = t.status[:, col]
    is_known = known_mask(t, col, known)
    failed: set[int] = set()
    for g in np.unique(t.group_of[status != PUBLISHED]):  # type: ignore[attr-defined]
        rows = t.group_rows[g]  # type: ignore[attr-defined]
        earlier = earlier_equations(t, col, int(g), hidden)
        # Sticky: what an earlier version hid together, with the same values, stays hidden; publishing one
        # of those cells now would solve that version's equation for the others.
        for eq in earlier:
            for r in eq:
                if t.status[r, col] == PUBLISHED and not is_known[r]:
                    t.status[r, col] = SECONDARY
        chosen = complements(
            vals[rows], t.status[rows, col] != PUBLISHED, is_known[rows], policy.min_interval_width
        )
        if chosen is not None:
            t.status[rows[chosen], col] = SECONDARY
        if chosen is None or (
            _linked(earlier, rows[t.status[rows, col] != PUBLISHED])
            and not _linked_group_protected(release, t, col, int(g), policy, known, hidden)
        ):
            # The rows of the cells that stay too narrow: withholding them is all that is left.
            block = build_block(release, t, col, policy, known, hidden=hidden, groups=[int(g)])
            failed.update(iv.cell[2] for iv in audit_block(block) if iv.fails)
    return failed


def _linked(earlier: list[list[int]], hidden_rows: np.ndarray) -> bool:
    """Whether earlier versions' equations add anything to the group's own. An earlier equation over
    exactly the cells hidden now, with the values they still have (earlier_equations keeps only those),
    is the same equation: the closed form above already protects it. Only a different set of cells links
    equations (then linear programs decide)."""
    now = set(hidden_rows.tolist())
    return any(set(eq) != now for eq in earlier)


def _linked_group_protected(release, t: Table, col: int, g: int, policy, known, hidden) -> bool:
    """With earlier versions' equations on the group, add the smallest open non-zero cells until the
    audit (linear programs) passes; False when no open cell is left."""
    vals = t.values_cache[:, col]  # type: ignore[attr-defined]
    rows = t.group_rows[g]  # type: ignore[attr-defined]
    is_known = known_mask(t, col, known)
    while True:
        block = build_block(release, t, col, policy, known, hidden=hidden, groups=[g])
        if not any(iv.fails for iv in audit_block(block)):
            return True
        open_ = rows[(t.status[rows, col] == PUBLISHED) & ~is_known[rows]]
        if not len(open_):
            return False
        nonzero = open_[vals[open_] > 0]
        pick = nonzero[np.argmin(vals[nonzero])] if len(nonzero) else open_[0]
        t.status[pick, col] = SECONDARY


def complements(
    values: np.ndarray, suppressed: np.ndarray, known: np.ndarray, width: float
) -> list[int] | None:
    """Positions (within one group) to suppress so that the group is protected, fewest cells then fewest
    crimes (ties: the first rows); None when no choice can protect it (the other cells already public)."""
    unknown = suppressed & ~known
    if not unknown.any():
        return []  # only cells an earlier version already published: nothing this release can hide
    capacity = float(values[~known].sum())
    need = min(width, capacity) - float(values[unknown].sum())
    open_ = np.flatnonzero(~suppressed & ~known)
    nonzero = [int(i) for i in open_ if values[i] > 0]
    zero = [int(i) for i in open_ if values[i] == 0]
    if need <= 1e-9 and unknown.sum() >= 2:
        return []
    best: tuple | None = None
    # `need` is below the range (a few crimes), so a handful of cells always suffices; search them all.
    for k in range(0, min(len(nonzero), 4) + 1):
        for combo in combinations(nonzero, k):
            hidden = float(values[list(combo)].sum())
            if hidden < need - 1e-9:
                continue
            extra = [] if unknown.sum() + k >= 2 else zero[:1]
            if unknown.sum() + k + len(extra) < 2:
                continue
            cost = (k + len(extra), hidden, combo)
            if best is None or cost < best[0]:
                best = (cost, [*combo, *extra])
        if best is not None:
            break
    return None if best is None else best[1]


def apply_policy(
    release: Release,
    policy: Policy,
    sensitivity: dict,
    known: Known | None = None,
    hidden: Hidden | None = None,
) -> SuppressionOutcome:
    """Withhold, then primary, then secondary suppression, in place on `release`.

    A cell no suppression can protect (its group's other cells already public, say) has its row withheld,
    and the tables are suppressed again without those rows; `unresolved` lists what is left (nothing, but
    for cells an earlier version already published, which no release can hide again)."""
    outcome = SuppressionOutcome()
    withhold(release, policy, sensitivity, outcome)
    for _ in range(len(release) * 4 + 1):  # each round withholds rows; a handful of rounds at most
        primary(release, policy, sensitivity)
        outcome.unresolved, unprotectable = secondary(release, policy, known, hidden)
        if not unprotectable:
            break
        for key, rows in unprotectable.items():
            t = release[key]
            keep = np.ones(len(t.frame), dtype=bool)
            keep[sorted(rows)] = False
            slug = key[0]
            outcome.rows_withheld[slug] = outcome.rows_withheld.get(slug, 0) + len(rows)
            release[key] = Table(t.slug, t.window, rows_kept(t.frame, keep))
        for t in release.values():
            t.status[:] = PUBLISHED
    for t in release.values():
        forget(t)  # the suppression's lookups are not needed to write or record the outcome
    return outcome


def release_from_frames(frames: dict[tuple[str, str], pd.DataFrame]) -> Release:
    """Release from counts frames keyed by (slug, window)."""
    return {k: Table(k[0], k[1], f) for k, f in frames.items()}
