"""The rule-aware audit against the brute-force attacker (attacker.py), and the minimality attack.

- One version (closed form): on random small groups and any pattern that hides every primary, each cell's
  range from the audit equals the least and greatest count the attacker finds consistent by enumerating
  every assignment, or both find the pattern impossible under the procedure.
- Two versions, a revision in between (integer programs): patterns made by the procedure itself under a
  random secret; the audit's range for each cell lies within the attacker's (the audit is never more
  lenient), and a release the audit passes leaves every cell at least the policy's width for the attacker.
- The minimality attack: the earlier deterministic procedure's patterns, replayed by the same attacker,
  give cells away; the drawn procedure's, on the same tables, give none.
"""

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metpipeline.disclosure.audit import audit_release
from metpipeline.disclosure.policy import load_policy
from metpipeline.disclosure.suppress import apply_policy, release_from_frames
from metpipeline.disclosure.tables import PUBLISHED, SECONDARY
from metpipeline.reference import category_sensitivity
from metpipeline.settings import POLICY_FILE
from metpipeline_tests.disclosure.attacker import (
    Version,
    _minimal_pattern,
    consistent_ranges,
    one_version_ranges,
    required_width,
)

POLICY = load_policy(POLICY_FILE.default())
SENS = category_sensitivity()
KEYS = ["MajorText", "MinorText", "WardName", "WardCode", "LookUp_BoroughName"]
MONTH = "202403"
NAMES = "ABCDEFGH"


def _release(values: list[int]):
    frame = pd.DataFrame(
        [("SEXUAL OFFENCES", "RAPE", NAMES[i], f"E0501{i:04d}", "Brent") for i in range(len(values))],
        columns=KEYS,
    )
    frame[MONTH] = values
    return release_from_frames({("ward", "24m"): frame})


def _key(i: int) -> tuple:
    return ("SEXUAL OFFENCES", "RAPE", NAMES[i], f"E0501{i:04d}", "Brent")


def _audit_ranges(result) -> dict[str, tuple[float, float, str]]:
    return {NAMES[iv.cell[2]]: (iv.low, iv.high, iv.method) for iv in result.intervals}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, 5), min_size=2, max_size=6), st.data())
def test_one_version_closed_form_equals_brute_force(values, data):
    primaries = [i for i, v in enumerate(values) if 1 <= v <= 2]
    others = [i for i in range(len(values)) if i not in primaries]
    extra = data.draw(st.lists(st.sampled_from(others), unique=True) if others else st.just([]))
    hidden = set(primaries) | set(extra)
    if not hidden:
        return
    release = _release(values)
    t = release[("ward", "24m")]
    for i in hidden:
        t.status[i, 0] = SECONDARY
    got = _audit_ranges(audit_release(release, POLICY))
    shown = {NAMES[i]: (None if i in hidden else v) for i, v in enumerate(values)}
    expected = consistent_ranges([Version(shown, sum(values))], set(), 1, 2, rule="drawn")
    if expected is None:
        assert {m for _, _, m in got.values()} == {"inconsistent"}, (values, hidden, got)
    else:
        assert {c: (lo, hi) for c, (lo, hi, _) in got.items()} == expected, (values, hidden, got)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.integers(0, 4), min_size=3, max_size=5),
    st.lists(st.integers(-2, 2), min_size=5, max_size=5),
    st.binary(min_size=4, max_size=8),
)
def test_two_versions_by_integer_programs_are_never_more_lenient_than_brute_force(values, change, secret):
    """v1 made by the procedure; v2 revises some counts and is made knowing v1 (what it published and
    hid); the attacker holds both."""
    first = _release(values)
    apply_policy(first, POLICY, SENS, secret=secret)
    t1 = first[("ward", "24m")]
    if len(t1.frame) != len(values):
        return  # a row withheld: keep to tables whose rows both versions show
    hidden1 = {i for i in range(len(values)) if t1.status[i, 0] != PUBLISHED}
    revised = [max(0, v + d) for v, d in zip(values, change, strict=False)]
    known = {("ward", MONTH, _key(i)): {values[i]} for i in range(len(values)) if i not in hidden1}
    hidden = {("ward", MONTH): {"2024-03": {_key(i): values[i] for i in hidden1}}}
    second = _release(revised)
    outcome = apply_policy(second, POLICY, SENS, known, hidden, secret=secret)
    t2 = second[("ward", "24m")]
    if len(t2.frame) != len(values) or not (t2.status != PUBLISHED).any():
        return
    result = audit_release(second, POLICY, known, hidden)
    got = _audit_ranges(result)
    v1 = Version({NAMES[i]: None if i in hidden1 else v for i, v in enumerate(values)}, sum(values))
    v2 = Version({NAMES[i]: None if t2.status[i, 0] else v for i, v in enumerate(revised)}, sum(revised))
    unchanged = {NAMES[i] for i in range(len(values)) if values[i] == revised[i]}
    expected = consistent_ranges([v1, v2], unchanged, 1, 2, rule="drawn")
    assert expected is not None, (values, revised, hidden1)  # the truth is always consistent
    for cell, (lo, hi, _method) in got.items():
        if cell in expected:
            assert expected[cell][0] <= lo <= hi <= expected[cell][1], (values, revised, cell, got, expected)
    if result.passed and not outcome.unresolved:
        # The policy's width, or all the group can hide: its cells not already public (published by v1
        # with the count they still have).
        public = {i for i in range(len(values)) if i not in hidden1 and NAMES[i] in unchanged}
        need = required_width([v for i, v in enumerate(revised) if i not in public])
        for cell, (lo, hi) in expected.items():
            assert NAMES.index(cell) in public or hi - lo >= need, (values, revised, cell, expected)


def _groups(seed: int, n: int = 400):
    """Ward groups of one borough and protected category, with counts like the MPS's (mostly 0-3)."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        size = int(rng.integers(3, 8))
        yield [int(x) for x in rng.poisson(rng.uniform(0.3, 2.5), size)]


def _attack(values: list[int], hidden: set[int], rule: str) -> tuple[int, int, int]:
    """(exactly recovered, narrowed below the policy, suppressed) for one group's pattern."""
    shown = {NAMES[i]: (None if i in hidden else v) for i, v in enumerate(values)}
    ranges = consistent_ranges([Version(shown, sum(values))], set(), 1, 2, rule=rule)
    assert ranges is not None
    need = required_width(values)
    exact = sum(1 for lo, hi in ranges.values() if lo == hi)
    narrow = sum(1 for lo, hi in ranges.values() if hi - lo < need)
    return exact, narrow, len(hidden)


def test_the_minimality_attack_breaks_the_earlier_procedure_and_not_the_drawn_one():
    before = [0, 0, 0]
    now = [0, 0, 0]
    for values in _groups(seed=7):
        if not any(1 <= v <= 2 for v in values):
            continue
        minimal = _minimal_pattern(dict(zip(NAMES, values, strict=False)), 1, 2, 3)
        if set(NAMES[: len(values)]) == minimal:
            continue  # everything hidden: the earlier procedure withheld such rows
        found = _attack(values, {NAMES.index(c) for c in minimal}, "minimal")
        before = [a + b for a, b in zip(before, found, strict=True)]
        release = _release(values)
        apply_policy(release, POLICY, SENS, secret=b"the deployment's secret")
        t = release[("ward", "24m")]
        if len(t.frame) != len(values):
            continue  # rows withheld (the whole group's cells could not be protected)
        hidden = {i for i in range(len(values)) if t.status[i, 0] != PUBLISHED}
        now = [a + b for a, b in zip(now, _attack(values, hidden, "drawn"), strict=True)]
    print(f"earlier procedure: {before[0]} exact, {before[1]} narrowed of {before[2]} suppressed cells")
    print(f"drawn procedure: {now[0]} exact, {now[1]} narrowed of {now[2]} suppressed cells")
    assert before[0] > 0 and before[1] > before[2] // 4  # the attack works on the minimal procedure
    assert now[2] > 0 and now[:2] == [0, 0]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=2, max_size=6), st.data())
def test_the_attackers_two_methods_agree(values, data):
    """attacker.one_version_ranges (for the full-size tables) against its enumeration."""
    hidden = set(data.draw(st.lists(st.integers(0, len(values) - 1), unique=True, min_size=1)))
    hidden |= {i for i, v in enumerate(values) if 1 <= v <= 2}
    shown = {NAMES[i]: (None if i in hidden else v) for i, v in enumerate(values)}
    enumerated = consistent_ranges([Version(shown, sum(values))], set(), 1, 2, rule="drawn")
    fast = one_version_ranges(shown, sum(values), 1, 2)
    if enumerated is None:
        assert fast is None
    else:
        assert {fast} == set(enumerated.values())


def test_an_unchanged_month_keeps_its_pattern_release_after_release():
    """What a version hid stays hidden, and the draw adds nothing when the counts did not change: the
    suppression of an old month does not grow with every monthly release."""
    secret = b"the deployment's secret"
    checked = 0
    for values in _groups(seed=11, n=150):
        first = _release(values)
        apply_policy(first, POLICY, SENS, secret=secret)
        t1 = first[("ward", "24m")]
        if len(t1.frame) != len(values) or not (t1.status != PUBLISHED).any():
            continue
        hidden1 = {i for i in range(len(values)) if t1.status[i, 0] != PUBLISHED}
        known = {("ward", MONTH, _key(i)): {values[i]} for i in range(len(values)) if i not in hidden1}
        hidden = {("ward", MONTH): {"2024-03": {_key(i): values[i] for i in hidden1}}}
        for _ in range(3):  # three later releases carrying the month
            again = _release(values)
            apply_policy(again, POLICY, SENS, known, hidden, secret=secret)
            assert (again[("ward", "24m")].status != PUBLISHED).tolist() == (t1.status != PUBLISHED).tolist()
            assert audit_release(again, POLICY, known, hidden).passed
        checked += 1
    assert checked > 50
