"""Suppression and differencing audit: properties on random tables, and a broken suppressor caught."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metpipeline.disclosure.audit import audit_release, threshold_breaches
from metpipeline.disclosure.policy import load_policy
from metpipeline.disclosure.suppress import apply_policy, primary, release_from_frames
from metpipeline.disclosure.tables import PUBLISHED
from metpipeline.reference import category_sensitivity
from metpipeline.settings import POLICY_FILE
from metpipeline_tests.disclosure.synth import SECRET

POLICY = load_policy(POLICY_FILE.default())
SENS = category_sensitivity()
HIGH = [c for c, s in SENS.items() if s == "high"]
STANDARD = [("THEFT", "SHOPLIFTING")]
WARD_KEYS = ["MajorText", "MinorText", "WardName", "WardCode", "LookUp_BoroughName"]


def _release(ward_counts: np.ndarray, ng: np.ndarray, cats, months):
    """ward_counts: (cats, wards, months); ng: (cats, months) not geocoded; one borough holds everything."""
    n_cat, n_ward, _ = ward_counts.shape
    rows = [(a, b, f"Ward {w}", f"E0500{w:04d}", "Brent") for a, b in cats for w in range(n_ward)]
    ward = pd.DataFrame(rows, columns=WARD_KEYS)
    borough = pd.DataFrame(
        [(a, b, "Brent") for a, b in cats], columns=["MajorText", "MinorText", "BoroughName"]
    )
    for j, m in enumerate(months):
        ward[m] = ward_counts[:, :, j].reshape(-1).astype("int64")
        borough[m] = (ward_counts[:, :, j].sum(axis=1) + ng[:, j]).astype("int64")
    return release_from_frames({("ward", "24m"): ward, ("borough", "24m"): borough})


tables = st.integers(1, 3).flatmap(
    lambda n_months: st.tuples(
        st.lists(st.integers(0, 9), min_size=2 * 6 * n_months, max_size=2 * 6 * n_months),
        st.lists(st.integers(0, 3), min_size=2 * n_months, max_size=2 * n_months),
        st.just(n_months),
    )
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables)
def test_suppression_protects_every_cell(data):
    counts, ng, n_months = data
    cats = [HIGH[0], STANDARD[0]]
    months = [f"2024{m + 1:02d}" for m in range(n_months)]
    release = _release(
        np.array(counts).reshape(2, 6, n_months), np.array(ng).reshape(2, n_months), cats, months
    )
    outcome = apply_policy(release, POLICY, SENS, secret=SECRET)
    ward = release[("ward", "24m")]
    vals = ward.values()
    high_rows = (ward.frame["MinorText"] == HIGH[0][1]).to_numpy()
    published = ward.status == PUBLISHED
    # No protected value (1-2 in a high category) is published.
    assert not ((vals >= 1) & (vals <= 2) & published & high_rows[:, None]).any()
    assert threshold_breaches(release, POLICY, SENS) == {"ward": 0}
    result = audit_release(release, POLICY)
    assert not outcome.unresolved  # nothing was published before: every group can be protected
    assert result.passed, result.summary()
    # Independently of the audit: the attacker knows each group's total (here one borough holds every
    # ward), so a group with suppressed cells needs two of them hiding min(3, the group total) crimes.
    for col in range(len(months)):
        for cat in cats:
            rows = (ward.frame["MinorText"] == cat[1]).to_numpy()
            hidden = rows & ~published[:, col]
            if hidden.any():
                assert hidden.sum() >= 2
                assert vals[hidden, col].sum() >= min(POLICY.min_interval_width, vals[rows, col].sum())


def test_primary_only_is_caught_by_the_audit():
    # One month, no crime left out of the ward file: the borough file's London total for RAPE equals the
    # ward total, so a single suppressed ward cell is the total minus the published cells.
    counts = np.array([[[1], [5], [7], [0]], [[9], [8], [7], [6]]])
    release = _release(counts, np.zeros((2, 1), dtype=int), [HIGH[0], STANDARD[0]], ["202403"])
    primary(release, POLICY, SENS)  # the broken suppressor: primary only
    result = audit_release(release, POLICY)
    assert not result.passed
    assert result.failing[0].width == 0 and result.failing[0].value == 1


def test_secondary_fixes_what_primary_leaves_open():
    counts = np.array([[[1], [5], [7], [0]], [[9], [8], [7], [6]]])
    release = _release(counts, np.zeros((2, 1), dtype=int), [HIGH[0], STANDARD[0]], ["202403"])
    outcome = apply_policy(release, POLICY, SENS, secret=SECRET)
    assert not outcome.unresolved
    assert outcome.cells(release)["ward"] == {"primary": 1, "secondary": 1}
    # The complement is the smallest non-zero count of the same category (5), not a zero.
    assert release[("ward", "24m")].status[1, 0] != PUBLISHED
    assert audit_release(release, POLICY).passed


def test_previous_version_publishing_a_complement_reopens_the_cell():
    counts = np.array([[[1], [5], [7], [0]], [[9], [8], [7], [6]]])
    release = _release(counts, np.zeros((2, 1), dtype=int), [HIGH[0], STANDARD[0]], ["202403"])
    apply_policy(release, POLICY, SENS, secret=SECRET)
    key = tuple(release[("ward", "24m")].frame.loc[1, WARD_KEYS].astype(str))
    known = {("ward", "202403", key): {5}}  # the previous version published the complement's value
    assert not audit_release(release, POLICY, known).passed
    # With that knowledge the suppressor picks another complement instead.
    release2 = _release(counts, np.zeros((2, 1), dtype=int), [HIGH[0], STANDARD[0]], ["202403"])
    apply_policy(release2, POLICY, SENS, known, secret=SECRET)
    assert audit_release(release2, POLICY, known).passed


def test_a_solver_call_that_reaches_its_time_limit_blocks_rather_than_passes():
    # Every audit integer program is time-limited (a termination request waits at most that long for the
    # solver); one that reaches the limit must fail the audit, never let a cell through unaudited.
    from metpipeline.disclosure.rule_aware import Rule, integer_program_range

    rule = Rule(1, 2, primary=True, other=True, other_members=frozenset({0, 1, 2}))
    equations, totals = [[0, 1, 2], [0, 1]], [7, 4]
    assert integer_program_range(3, equations, totals, [rule, None], {}, 2, 5.0) == (3.0, 3.0)  # 7 - 4
    with pytest.raises(RuntimeError, match="reached its 0 s limit"):
        integer_program_range(3, equations, totals, [rule, None], {}, 2, 0.0)
