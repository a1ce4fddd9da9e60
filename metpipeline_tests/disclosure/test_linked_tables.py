"""The audit against brute force, and a hand-computed linked table.

Property tests (hypothesis): on random small linked tables, every suppressed cell's interval from the audit
equals the least and greatest value it takes over every non-negative integer table consistent with what is
published (enumerated). Both solvers are covered: the closed form of a single-equation group and the
linear programs of several linked equations (a table whose row and column totals are known).
"""

import itertools

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metpipeline.disclosure.audit import audit_block, audit_release
from metpipeline.disclosure.constraints import Block, Variable
from metpipeline.disclosure.policy import load_policy
from metpipeline.disclosure.suppress import apply_policy, release_from_frames
from metpipeline.disclosure.tables import PUBLISHED
from metpipeline.reference import category_sensitivity
from metpipeline.settings import POLICY_FILE
from metpipeline_tests.disclosure.synth import SECRET

POLICY = load_policy(POLICY_FILE.default())
SENS = category_sensitivity()
RAPE = ("SEXUAL OFFENCES", "RAPE")


def brute_force(values: list[int], equations: list[list[int]]) -> list[tuple[int, int]]:
    """Least and greatest value of each variable over every non-negative integer solution of the
    equations (each: the sum of its members equals the sum of their true values)."""
    totals = [sum(values[v] for v in eq) for eq in equations]
    cap = [
        min((totals[e] for e, eq in enumerate(equations) if v in eq), default=9) for v in range(len(values))
    ]
    lows, highs = [10**9] * len(values), [-1] * len(values)
    for candidate in itertools.product(*(range(c + 1) for c in cap)):
        if all(sum(candidate[v] for v in eq) == totals[e] for e, eq in enumerate(equations)):
            for v, x in enumerate(candidate):
                lows[v], highs[v] = min(lows[v], x), max(highs[v], x)
    return list(zip(lows, highs, strict=True))


def block_of(values: list[int], equations: list[list[int]]) -> Block:
    block = Block(
        "test", [Variable(value=v, audited=True, cell=("t", "w", i, 0)) for i, v in enumerate(values)], []
    )
    for eq in equations:
        block.add_equation(eq)
    return block


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=1, max_size=5))
def test_one_group_closed_form_equals_brute_force(values):
    equations = [list(range(len(values)))]
    got = sorted(audit_block(block_of(values, equations)), key=lambda iv: iv.cell[2])
    expected = brute_force(values, equations)
    assert [(iv.low, iv.high) for iv in got] == [(float(lo), float(hi)) for lo, hi in expected]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(2, 3).flatmap(
        lambda r: st.integers(2, 3).flatmap(
            lambda c: st.tuples(
                st.just((r, c)),
                st.lists(st.integers(0, 3), min_size=r * c, max_size=r * c),
                st.lists(st.booleans(), min_size=r * c, max_size=r * c),
            )
        )
    )
)
def test_linked_row_and_column_totals_by_linear_programs_equal_brute_force(data):
    """A small two-way table whose row and column totals the attacker knows (a ward's cells against their
    borough and their London category totals, say): the suppressed cells are the variables."""
    (rows, cols), values, hide = data
    hidden = [i for i in range(rows * cols) if hide[i]]
    if len(hidden) < 2:
        return
    var = {cell: k for k, cell in enumerate(hidden)}
    equations = [[var[r * cols + c] for c in range(cols) if r * cols + c in var] for r in range(rows)]
    equations += [[var[r * cols + c] for r in range(rows) if r * cols + c in var] for c in range(cols)]
    equations = [eq for eq in equations if eq]
    vals = [values[i] for i in hidden]
    block = block_of(vals, equations)
    got = sorted(audit_block(block), key=lambda iv: iv.cell[2])
    expected = brute_force(vals, equations)
    for iv, (lo, hi) in zip(got, expected, strict=True):
        assert abs(iv.low - lo) < 1e-6 and abs(iv.high - hi) < 1e-6, (vals, equations, iv, lo, hi)


def _ward_release(table: dict[str, list[int]], month="202403"):
    """One borough (Brent), one category (RAPE), one month: ward name -> count."""
    frame = pd.DataFrame(
        [(RAPE[0], RAPE[1], name, f"E0501{i:04d}", "Brent") for i, name in enumerate(table)],
        columns=["MajorText", "MinorText", "WardName", "WardCode", "LookUp_BoroughName"],
    )
    frame[month] = [v[0] for v in table.values()]
    return release_from_frames({("ward", "24m"): frame})


def _pattern(release, hidden: str) -> None:
    """Suppress the named wards (letters in table order) by hand."""
    t = release[("ward", "24m")]
    for i, name in enumerate(t.frame["WardName"]):
        t.status[i, 0] = PUBLISHED if name not in hidden else 1 if name in "AB" else 2


def test_golden_hand_worked_rule_aware_audit():
    """Worked by hand. Brent, RAPE, 2024-03, wards A..F = 1, 2, 0, 4, 6, 9 (the borough's 22 are known to
    the attacker, and the procedure: a primary among the hidden cells, and a drawn complement (0 or 3+)
    whenever a cell is left open).

    - A, B hidden (the earlier procedure's choice: the primaries hide 3, no complement needed). The
      attacker: 3 crimes in two cells, one a primary, one a drawn complement (0 or 3+), yet 3 = 0 + 3
      leaves no primary: no assignment fits, the pattern betrays that both are primaries. Exposed.
    - A, B, C: 3 crimes in three cells, a primary and a complement among them: each is 0, 1 or 2. Too
      narrow (2 < 3).
    - A, B, D: 7 crimes in three cells: each is anything from 0 to 6 (0 + 1 + 6). Passes."""
    table = {"A": [1], "B": [2], "C": [0], "D": [4], "E": [6], "F": [9]}
    release = _ward_release(table)
    _pattern(release, "AB")
    result = audit_release(release, POLICY)
    assert not result.passed and {iv.method for iv in result.intervals} == {"inconsistent"}
    release = _ward_release(table)
    _pattern(release, "ABC")
    result = audit_release(release, POLICY)
    assert not result.passed and {(iv.low, iv.high) for iv in result.intervals} == {(0.0, 2.0)}
    release = _ward_release(table)
    _pattern(release, "ABD")
    result = audit_release(release, POLICY)
    assert result.passed and {(iv.low, iv.high) for iv in result.intervals} == {(0.0, 6.0)}


def test_the_procedure_draws_under_its_secret_and_passes_its_audit():
    table = {"A": [1], "B": [2], "C": [0], "D": [4], "E": [6], "F": [9]}
    patterns = set()
    for i in range(12):
        release = _ward_release(table)
        apply_policy(release, POLICY, SENS, secret=f"secret {i}".encode())
        status = release[("ward", "24m")].status[:, 0]
        hidden = "".join(name for name, s in zip("ABCDEF", status, strict=True) if s != PUBLISHED)
        assert hidden.startswith("AB") and len(hidden) >= 3  # the primaries and at least one complement
        assert audit_release(release, POLICY).passed
        again = _ward_release(table)
        apply_policy(again, POLICY, SENS, secret=f"secret {i}".encode())
        assert (again[("ward", "24m")].status == release[("ward", "24m")].status).all()  # same secret, same
        patterns.add(hidden)
    assert len(patterns) >= 3, patterns  # the choice depends on the secret: no one can replay it
    # A borough with 2 crimes in all: A (2) and a zero ward hide everything the borough figure says.
    small = _ward_release({"A": [2], "B": [0], "C": [0]})
    apply_policy(small, POLICY, SENS, secret=SECRET)
    assert sum(int(s != PUBLISHED) for s in small[("ward", "24m")].status[:, 0]) >= 2
    assert audit_release(small, POLICY).passed
    # A lone ward of its borough in the category: the row is withheld (its cell could never be hidden).
    lone = _ward_release({"A": [1]})
    lone_outcome = apply_policy(lone, POLICY, SENS, secret=SECRET)
    assert len(lone[("ward", "24m")].frame) == 0 and lone_outcome.lone_rows_withheld == {"ward": 1}


def test_every_set_of_open_cells_is_a_possible_first_draw():
    """What the audit's model rests on (suppress.py): the first attempt can take any non-empty set of open
    cells, so the attacker cannot rule out any of them. Shown on five open cells over many secrets."""
    from metpipeline.disclosure.constraints import prepare
    from metpipeline.disclosure.suppress import draw

    release = _ward_release({n: [0] for n in "ABCDE"})
    t = release[("ward", "24m")]
    prepare(t)
    seen = set()
    open_rows = np.arange(5)
    for i in range(4000):
        seen.add(tuple(draw(f"k{i}".encode(), t, 0, open_rows, 0, group_size=5).tolist()))
    assert len(seen) == 2**5 - 1  # every non-empty subset
