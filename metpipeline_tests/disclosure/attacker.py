"""The attacker who knows the suppression rule, written from the policy and the README alone (no code of
the pipeline's audit): brute-force enumeration of every assignment of a group's `[c]` cells.

The attacker holds, for one group (a category's wards within a borough in a month; a flag's boroughs
London-wide), every version's published cells and its total (worst case: every remainder known), and which
cells kept their value from one version to the next (worst case again). A version's pattern could have come
from an assignment when, as the README states the procedure:

- every cell counting `lo`..`hi` is hidden (published cells show it already);
- the version's hidden cells hold a primary, unless an earlier version hid cells of the group that kept their
  values (they stay hidden, and could be the reason);
- `rule="drawn"` (the procedure now): whenever the version shows a cell it could have drawn (published, not
  published before with that value), a hidden cell it could have drawn (not kept from an earlier version, not
  published before) counts 0 or more than `hi` — the keyed draw takes at least one, unless the version kept
  an earlier version's cells (then it may take none); which ones it takes
  cannot be replayed without the secret, so nothing more is implied;
- `rule="minimal"` (the procedure before): replayed. The group is protected once two unknown cells hide
  min(3, the group's total); complements are added fewest cells first, then fewest crimes, first rows on ties.
"""

import functools
import itertools
from dataclasses import dataclass


@dataclass
class Version:
    shown: dict[str, int | None]  # cell -> published count, None where `[c]`
    total: int  # the group's total, known to the attacker


def compositions(total: int, parts: int):
    """Every way of writing `total` as `parts` non-negative integers."""
    if parts == 0:
        if total == 0:
            yield ()
        return
    for bars in itertools.combinations(range(total + parts - 1), parts - 1):
        prev, out = -1, []
        for b in (*bars, total + parts - 1):
            out.append(b - prev - 1)
            prev = b
        yield tuple(out)


def _minimal_pattern(values: dict[str, int], lo: int, hi: int, width: float) -> set[str]:
    """The earlier, deterministic procedure on one group (its public description, replayed)."""
    cells = list(values)
    hidden = {c for c in cells if lo <= values[c] <= hi}
    if not hidden:
        return set()
    total = sum(values.values())
    need = min(width, total) - sum(values[c] for c in hidden)
    if need <= 0 and len(hidden) >= 2:
        return hidden
    open_ = [c for c in cells if c not in hidden]
    nonzero = [c for c in open_ if values[c] > 0]
    zero = [c for c in open_ if values[c] == 0]
    best = None
    for k in range(0, min(len(nonzero), 4) + 1):
        for combo in itertools.combinations(nonzero, k):
            got = sum(values[c] for c in combo)
            if got < need:
                continue
            extra = [] if len(hidden) + k >= 2 else zero[:1]
            if len(hidden) + k + len(extra) < 2:
                continue
            cost = (k + len(extra), got, [open_.index(c) for c in combo])
            if best is None or cost < best[0]:
                best = (cost, [*combo, *extra])
        if best is not None:
            break
    return hidden | set(best[1]) if best else hidden | set(open_)


def consistent_ranges(
    versions: list[Version], unchanged: set[str], lo: int, hi: int, rule: str, width: float = 3
) -> dict[str, tuple[int, int]] | None:
    """Least and greatest count of each cell hidden in the last version, over every assignment of every
    version's hidden cells consistent with what the attacker holds; None when none is (the pattern betrays
    a procedure other than the one assumed)."""

    # Variables: a cell hidden in a version; a cell unchanged across versions is one variable throughout.
    def var(cell: str, v: int):
        return cell if cell in unchanged else (cell, v)

    fixed: dict = {}
    for v, version in enumerate(versions):
        for cell, shown in version.shown.items():
            if shown is not None:
                fixed[var(cell, v)] = shown
    variables = sorted(
        {var(c, v) for v, ver in enumerate(versions) for c, s in ver.shown.items() if s is None} - set(fixed),
        key=str,
    )
    last = len(versions) - 1
    targets = [c for c, s in versions[last].shown.items() if s is None]
    ranges: dict[str, list[int]] = {}
    for assignment in _assignments(versions, variables, fixed, var):
        values = {**fixed, **assignment}
        if all(
            _could_produce(versions, v, values, var, unchanged, lo, hi, rule, width) for v in range(last + 1)
        ):
            for c in targets:
                x = values[var(c, last)]
                r = ranges.setdefault(c, [x, x])
                r[0], r[1] = min(r[0], x), max(r[1], x)
    if not ranges:
        return None
    return {c: (r[0], r[1]) for c, r in ranges.items()}


def _assignments(versions, variables, fixed, var):
    """Assignments of `variables` meeting every version's total (version by version, compositions)."""

    def extend(v: int, partial: dict):
        if v == len(versions):
            yield dict(partial)
            return
        version = versions[v]
        cells = [var(c, v) for c in version.shown]
        known = sum(fixed.get(x, partial.get(x, 0)) for x in cells if x in fixed or x in partial)
        free = [x for x in dict.fromkeys(cells) if x not in fixed and x not in partial]
        rest = version.total - known
        if rest < 0:
            return
        for parts in compositions(rest, len(free)):
            partial.update(zip(free, parts, strict=True))
            yield from extend(v + 1, partial)
            for x in free:
                del partial[x]

    yield from extend(0, {})


def _could_produce(versions, v, values, var, unchanged, lo, hi, rule, width) -> bool:
    version = versions[v]
    counts = {c: values[var(c, v)] for c in version.shown}
    hidden = {c for c, s in version.shown.items() if s is None}
    if any(lo <= counts[c] <= hi for c in counts if c not in hidden):
        return False  # a primary would have been hidden
    if not hidden:
        return True
    if rule == "minimal":
        return _minimal_pattern(counts, lo, hi, width) == hidden
    # Kept from an earlier version: what it hid in the group, every cell with the value it still has, stays
    # hidden.
    kept: set[str] = set()
    for u in range(v):
        earlier = {c for c, s in versions[u].shown.items() if s is None}
        if earlier <= unchanged:
            kept |= earlier & hidden
    published_before = {
        c
        for c in version.shown
        if c in unchanged and any(versions[u].shown.get(c) is not None for u in range(v))
    }
    if not kept and not any(lo <= counts[c] <= hi for c in hidden):
        return False  # no primary, nothing kept: nothing would have been hidden
    drawable = hidden - kept - published_before
    shows_open = any(version.shown[c] is not None and c not in published_before for c in version.shown)
    if shows_open and not kept and not any(not lo <= counts[c] <= hi for c in drawable):
        return False  # the draw takes at least one open cell, and an open cell is never a primary
    return True


def one_version_ranges(shown: dict, total: int, lo: int, hi: int) -> tuple[int, int] | None:
    """`consistent_ranges` for one version of the drawn procedure, by dynamic programming over the hidden
    cells (all alike: each a possible primary or drawn complement), for groups too large to enumerate.
    The least and greatest count any one hidden cell can hold; None if no assignment fits."""
    k = sum(1 for s in shown.values() if s is None)
    rest = total - sum(s for s in shown.values() if s is not None)
    shows_open = any(s is not None for s in shown.values())
    if k == 0 or rest < 0:
        return None
    return _one_version(k, rest, shows_open, lo, hi)


@functools.cache
def _one_version(k: int, rest: int, shows_open: bool, lo: int, hi: int) -> tuple[int, int] | None:
    # The sums k - 1 cells can reach with (a primary among them, a count outside lo..hi among them).
    reach: dict[tuple[bool, bool], set[int]] = {(False, False): {0}}
    for _ in range(k - 1):
        nxt: dict[tuple[bool, bool], set[int]] = {}
        for (p, n), sums in reach.items():
            for x in range(rest + 1):
                flags = (p or lo <= x <= hi, n or not lo <= x <= hi)
                nxt.setdefault(flags, set()).update(s + x for s in sums if s + x <= rest)
        reach = nxt
    values = [
        a
        for a in range(rest + 1)
        for (p, n), sums in reach.items()
        if rest - a in sums and (p or lo <= a <= hi) and (not shows_open or n or not lo <= a <= hi)
    ]
    return (min(values), max(values)) if values else None


def required_width(counts: list[int], width: float = 3, lo: int = 1, hi: int = 2) -> float:
    """What the policy asks of a cell's range in a group whose cells not already public hold `counts`: its
    width, or all the group can hide where that is less, and no more than hiding every one of those cells
    gives under the rule, where that leaves each cell anywhere from 0 to `hi` (policy.yaml)."""
    whole = one_version_ranges({str(i): None for i in range(len(counts))}, sum(counts), lo, hi)
    if len(counts) < 2 or whole is None or whole[0] > 0 or whole[1] < hi:
        return min(width, sum(counts))  # hiding every cell would still tell too much: no allowance
    return min(width, sum(counts), whole[1] - whole[0])
