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
from metpipeline.disclosure.suppress import apply_policy, complements, release_from_frames
from metpipeline.disclosure.tables import PUBLISHED
from metpipeline.reference import category_sensitivity
from metpipeline.settings import POLICY_FILE

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


def test_golden_hand_computed_complements():
    """Worked by hand. Brent, RAPE, 2024-03, wards A..F = 1, 2, 0, 4, 6, 9 (the borough's 22 are known to
    the attacker). Primary: A (1) and B (2), hiding 3 >= the range of 3 with two cells: no complement needed.
    Drop B to 0: A alone (1) needs 2 more crimes hidden, fewest cells then fewest crimes: D (4), not E (6) or
    F (9), and not the zero C (it hides nothing)."""
    first = _ward_release({"A": [1], "B": [2], "C": [0], "D": [4], "E": [6], "F": [9]})
    outcome = apply_policy(first, POLICY, SENS)
    assert outcome.cells(first)["ward"] == {"primary": 2, "secondary": 0}
    second = _ward_release({"A": [1], "B": [0], "C": [0], "D": [4], "E": [6], "F": [9]})
    apply_policy(second, POLICY, SENS)
    status = second[("ward", "24m")].status[:, 0]
    assert [int(s != PUBLISHED) for s in status] == [1, 0, 0, 1, 0, 0]
    result = audit_release(second, POLICY)
    assert result.passed and {(iv.low, iv.high) for iv in result.intervals} == {(0.0, 5.0)}
    # A borough with 2 crimes in all: A (2) and a zero ward hide everything the borough figure says.
    small = _ward_release({"A": [2], "B": [0], "C": [0]})
    apply_policy(small, POLICY, SENS)
    assert [int(s != PUBLISHED) for s in small[("ward", "24m")].status[:, 0]] == [1, 1, 0]
    assert audit_release(small, POLICY).passed
    # A lone ward of its borough in the category: the row is withheld (its cell could never be hidden).
    lone = _ward_release({"A": [1]})
    lone_outcome = apply_policy(lone, POLICY, SENS)
    assert len(lone[("ward", "24m")].frame) == 0 and lone_outcome.lone_rows_withheld == {"ward": 1}


def test_complements_choose_fewest_cells_then_fewest_crimes():
    values = np.array([1, 0, 1, 1, 5, 2])
    suppressed = np.array([True, False, False, False, False, False])
    known = np.zeros(6, dtype=bool)
    assert complements(values, suppressed, known, 3) == [5]  # one cell of 2 beats two cells of 1
    known[5] = True  # published before with this value: hiding it hides nothing
    assert complements(values, suppressed, known, 3) == [4]  # then one cell of 5
    known[4] = True
    assert complements(values, suppressed, known, 3) == [2, 3]
    # A group of two whose other cell an earlier version published (0): no choice protects it.
    assert complements(np.array([1, 0]), np.array([True, False]), np.array([False, True]), 3) is None
