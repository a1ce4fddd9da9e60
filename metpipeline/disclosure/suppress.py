"""Primary and secondary suppression, and withholding of whole categories (pure).

Primary: cells of protected rows (policy `applies_to`) with counts in [min_count, max_count].
Secondary: per block (dataset, window, month), while the audit finds a suppressed cell whose feasible
range is narrower than the policy allows, suppress one more published cell: first in the same category
as a failing cell, then (when the month's not-geocoded total links categories) in any category, always
the smallest non-zero count that the previous version did not already publish with the same value.
Zeros are never chosen: a zero adds no width. Blocks are independent, so this scales to real volumes.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from metpipeline.disclosure.audit import audit_block, protected_in_range
from metpipeline.disclosure.constraints import Known, borough_totals, build_block, prepare
from metpipeline.disclosure.policy import Policy
from metpipeline.disclosure.tables import CATEGORY_COLUMNS, PRIMARY, PUBLISHED, SECONDARY, Release, Table


@dataclass
class SuppressionOutcome:
    withheld: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # slug -> categories removed
    withheld_totals: dict[str, dict[str, int]] = field(default_factory=dict)  # slug -> YYYYMM -> count
    unresolved: list[str] = field(default_factory=list)  # blocks the secondary search could not protect

    def cells(self, release: Release) -> dict[str, dict[str, int]]:
        """Suppressed cells per dataset and rule (counts only)."""
        out: dict[str, dict[str, int]] = {}
        for (slug, _w), t in release.items():
            d = out.setdefault(slug, {"primary": 0, "secondary": 0})
            d["primary"] += t.count(PRIMARY)
            d["secondary"] += t.count(SECONDARY)
        return out


def withhold(release: Release, policy: Policy, sensitivity: dict, outcome: SuppressionOutcome) -> None:
    """Remove rows of withheld categories (LSOA high categories) and keep their monthly totals."""
    for (slug, _w), t in list(release.items()):
        rule = policy.rule(slug)
        if rule.action != "withhold":
            continue
        a, b = CATEGORY_COLUMNS[slug]
        cats = list(zip(t.frame[a].astype(str), t.frame[b].astype(str), strict=True))
        drop = np.array([rule.protects(sensitivity.get(c, "standard")) for c in cats], dtype=bool)
        found = sorted({c for c, d in zip(cats, drop, strict=True) if d})
        seen = outcome.withheld.setdefault(slug, [])
        seen.extend(c for c in found if c not in seen)
        totals = outcome.withheld_totals.setdefault(slug, {})
        for m in t.months:
            totals[m] = int(t.frame.loc[drop, m].sum())
        release[(slug, _w)] = Table(slug, _w, t.frame.loc[~drop].reset_index(drop=True))
    for slug in outcome.withheld:
        outcome.withheld[slug].sort()


def primary(release: Release, policy: Policy, sensitivity: dict) -> None:
    for (slug, _w), t in release.items():
        rule = policy.rule(slug)
        if rule.action != "suppress" or not t.months:
            continue
        t.status[protected_in_range(t, rule, sensitivity)] = PRIMARY


def secondary(release: Release, policy: Policy, known: Known | None = None) -> list[str]:
    """Add complementary suppressions until every block passes the audit; returns unresolved blocks."""
    known = known or {}
    totals = borough_totals(release)
    unresolved: list[str] = []
    for t in release.values():
        if policy.rule(t.slug).action != "suppress":
            continue
        for col in np.flatnonzero((t.status != PUBLISHED).any(axis=0)):
            if not _protect_column(release, t, int(col), policy, known, totals):
                unresolved.append(f"{t.slug} {t.window} {t.months[col]}")
    return unresolved


def _protect_column(release: Release, t: Table, col: int, policy: Policy, known: Known, totals) -> bool:
    prepare(t)
    while True:
        block = build_block(release, t, col, policy, known, totals)
        failing = [iv for iv in audit_block(block) if iv.width < policy.min_interval_width - 1e-9]
        if not failing:
            return True
        fixed = {v.cell for v in block.variables if v.fixed}
        if any(iv.cell in fixed for iv in failing):
            return False  # values the previous version published: no complement can hide them again
        row = _complement(t, col, failing, known, linked=bool(block.equations) and _linked(policy))
        if row is None:
            return False
        t.status[row, col] = SECONDARY


def _linked(policy: Policy) -> bool:
    return policy.not_geocoded_published == "month"


def _complement(t: Table, col: int, failing, known: Known, linked: bool) -> int | None:
    vals = t.values_cache[:, col]  # type: ignore[attr-defined]
    cats = t.categories_cache  # type: ignore[attr-defined]
    month = t.months[col]
    open_ = (t.status[:, col] == PUBLISHED) & (vals > 0)
    if known:
        keys = t.row_keys_cache  # type: ignore[attr-defined]
        for r in np.flatnonzero(open_):
            if known.get((t.slug, month, keys[r])) == vals[r]:
                open_[r] = False  # already public: suppressing it now hides nothing
    failing_cats = {cats[iv.cell[2]] for iv in failing}
    pools = [np.concatenate([t.category_rows[c] for c in failing_cats])]  # type: ignore[attr-defined]
    if linked:
        pools.append(np.arange(len(vals)))
    for pool in pools:
        cand = pool[open_[pool]]
        if len(cand):
            return int(cand[np.argmin(vals[cand])])  # first of the smallest
    return None


def apply_policy(
    release: Release, policy: Policy, sensitivity: dict, known: Known | None = None
) -> SuppressionOutcome:
    """Withhold, then primary, then secondary suppression, in place on `release`."""
    outcome = SuppressionOutcome()
    withhold(release, policy, sensitivity, outcome)
    primary(release, policy, sensitivity)
    outcome.unresolved = secondary(release, policy, known)
    return outcome


def release_from_frames(frames: dict[tuple[str, str], pd.DataFrame]) -> Release:
    """Release from counts frames keyed by (slug, window)."""
    return {k: Table(k[0], k[1], f) for k, f in frames.items()}
