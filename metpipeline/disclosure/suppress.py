"""Primary and secondary suppression, and withholding of whole categories and lone rows (pure).

Primary: cells of protected rows (policy `applies_to`) with counts in [min_count, max_count].

Secondary, per group of the worst-case model (constraints.py: e.g. a category's wards in one borough in
one month, whose total the attacker knows). The attacker is also assumed to know this procedure, so it
must not leak its choices: a deterministic, minimal choice (fewest cells, then fewest crimes) lets anyone
replay it and keep only the counts for which it would have made the published pattern (the minimality
attack). Instead, every group with a primary (or
cells an earlier version hid together, which stay hidden) takes complements drawn from its open cells
(not primary, not already public) by a keyed pseudo-random draw, at least one whenever any is open
(unless the group keeps an earlier version's cells: then the draw may take none), and draws again,
taking more, until the rule-aware audit of the group passes (rule_aware.py: what the
published pattern, the group total, earlier versions and this rule allow each cell to be). The draw is
an HMAC under a secret of the deployment (derived from the ledger key): the same data gives the same
cells, so a re-run keeps its hash, while no one without the secret can replay the choice.

Why the audit's model is the whole truth: for counts consistent with its facts, the cells the pattern
hides beyond the primaries and sticky cells are open cells, at least one when any is open and nothing was
kept, and the draw can take exactly those in its first attempt (each open cell is taken, or not, by its
own keyed number); whether a pattern passes the audit depends only on what is public. So every pattern
the procedure publishes could have come from every assignment the audit counts as consistent.

Lone rows: a protected category with a single row in a group over the whole window (one ward of a
borough; one borough of a flag London-wide) can never be protected by suppressing cells (the group total is
the row), so that row is withheld from the file; its crimes stay in the borough file (and the flag's
London total).
"""

import hashlib
import hmac
from dataclasses import dataclass, field

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
    release: Release,
    policy: Policy,
    known: Known | None = None,
    hidden: Hidden | None = None,
    *,
    secret: bytes,
) -> tuple[list[str], dict[tuple[str, str], set[int]]]:
    """Add the complementary suppressions every group needs, drawn under `secret`. Returns the groups that
    cannot be protected (counts-only labels) and, per table, the rows of their cells (for `apply_policy` to
    withhold)."""
    known = known or {}
    unresolved: list[str] = []
    rows_out: dict[tuple[str, str], set[int]] = {}
    for key, t in release.items():
        if policy.rule(t.slug).action != "suppress":
            continue
        prepare(t)
        for col in np.flatnonzero((t.status != PUBLISHED).any(axis=0)):
            failed = _protect_column(release, t, int(col), policy, known, hidden, secret)
            if failed:
                unresolved.append(f"{t.slug} {t.window} {t.months[col]}: {len(failed)} group(s)")
                rows_out.setdefault(key, set()).update(failed)
    return unresolved, rows_out


# The draw's attempts: the chance of taking each open cell grows with the attempt, from about one cell in
# the first to nearly all of them; after the last, every open cell is taken.
MAX_ATTEMPTS = 24
MAX_CHANCE = 0.9


def _protect_column(release, t: Table, col: int, policy: Policy, known: Known, hidden, secret) -> set[int]:
    """Protect every group of one month column; returns the rows of the cells that cannot be."""
    status = t.status[:, col]
    is_known = known_mask(t, col, known)
    failed: set[int] = set()
    for g in np.unique(t.group_of[status != PUBLISHED]):  # type: ignore[attr-defined]
        rows = t.group_rows[g]  # type: ignore[attr-defined]
        # Sticky: what an earlier version hid together, with the same values, stays hidden; publishing one
        # of those cells now would solve that version's equation for the others.
        kept = False
        for eq in earlier_equations(t, col, int(g), hidden):
            for r in eq:
                if not is_known[r]:
                    kept = True
                    if t.status[r, col] == PUBLISHED:
                        t.status[r, col] = SECONDARY
        open_ = rows[(t.status[rows, col] == PUBLISHED) & ~is_known[rows]]

        def failing(group: int = int(g)) -> list:
            block = build_block(release, t, col, policy, known, hidden=hidden, groups=[group])
            return [iv for iv in audit_block(block) if iv.fails]

        passed = False
        for attempt in range(MAX_ATTEMPTS):
            if not len(open_):
                break
            # A group that keeps an earlier version's cells may draw none: the same draw as then, over the
            # cells still open, so an unchanged month keeps its pattern release after release.
            chosen = draw(secret, t, col, open_, attempt, len(rows), at_least_one=not kept)
            t.status[chosen, col] = SECONDARY
            if not failing():
                passed = True
                break
            t.status[chosen, col] = PUBLISHED
        else:
            t.status[open_, col] = SECONDARY  # every open cell: the last draw
        if not passed:
            # The rows of the cells that stay too narrow (none, if the last pattern passes): withholding them
            # is all that is left.
            failed.update(iv.cell[2] for iv in failing())
    return failed


def draw(
    secret: bytes,
    t: Table,
    col: int,
    open_rows: np.ndarray,
    attempt: int,
    group_size: int,
    at_least_one: bool = True,
) -> np.ndarray:
    """The complements of one attempt: each open cell is taken when its keyed number falls below the
    attempt's chance (from the attempt and the group's size, so a later version draws the same), and, with
    `at_least_one`, at least one is taken (the one with the least number). The numbers are
    an HMAC under the deployment's secret of the cell's dataset, month, key and the attempt: the same data
    gives the same cells (a re-run keeps its bytes), but without the secret no one can replay the choice,
    and every set of open cells is a possible draw (rule_aware.py relies on that)."""
    keys = t.row_keys_cache  # type: ignore[attr-defined]
    month = t.months[col]
    numbers = np.array(
        [_keyed_number(secret, f"{t.slug}|{month}|{attempt}|{'|'.join(keys[r])}") for r in open_rows]
    )
    chance = min(MAX_CHANCE, (attempt + 1) / (group_size + 1))
    taken = open_rows[numbers < chance]
    return taken if len(taken) or not at_least_one else open_rows[[int(np.argmin(numbers))]]


def _keyed_number(secret: bytes, message: str) -> float:
    digest = hmac.new(secret, message.encode("utf-8"), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def complement_secret(ledger_key: bytes) -> bytes:
    """The draw's secret, derived from the deployment's ledger key (kept apart from the ledger's seals)."""
    return hmac.new(ledger_key, b"metpipeline/disclosure/complement-draw", hashlib.sha256).digest()


def apply_policy(
    release: Release,
    policy: Policy,
    sensitivity: dict,
    known: Known | None = None,
    hidden: Hidden | None = None,
    *,
    secret: bytes,
) -> SuppressionOutcome:
    """Withhold, then primary, then secondary suppression, in place on `release`.

    A cell no suppression can protect (its group's other cells already public, say) has its row withheld,
    and the tables are suppressed again without those rows; `unresolved` lists what is left (nothing, but
    for cells an earlier version already published, which no release can hide again)."""
    outcome = SuppressionOutcome()
    withhold(release, policy, sensitivity, outcome)
    for _ in range(len(release) * 4 + 1):  # each round withholds rows; a handful of rounds at most
        primary(release, policy, sensitivity)
        outcome.unresolved, unprotectable = secondary(release, policy, known, hidden, secret=secret)
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
