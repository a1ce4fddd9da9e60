"""Which cells an earlier version published with the value they have now (`constraints.known_mask`): the
month's known cells are looked up by key; the answer is the row-by-row definition's."""

import numpy as np
import pandas as pd
import pytest

from metpipeline.disclosure.constraints import known_mask
from metpipeline.disclosure.tables import Table

KEYS = ["MajorText", "MinorText", "BoroughName"]


def _table(rows: list[tuple[str, str, str]], months: list[str], seed: int) -> Table:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rows, columns=KEYS)
    for m in months:
        frame[m] = rng.integers(0, 4, len(rows))
    return Table("borough", "24m", frame)


def _by_definition(t: Table, col: int, known: dict) -> np.ndarray:
    month = t.months[col]
    return np.array(
        [
            int(t.frame[month].iloc[r]) in known.get(("borough", month, tuple(t.frame[KEYS].iloc[r])), set())
            for r in range(len(t.frame))
        ]
    )


@pytest.mark.parametrize("duplicated_key", [False, True])
def test_known_cells_are_those_published_with_their_present_value(duplicated_key):
    rows = [("THEFT", "SHOPLIFTING", b) for b in ("Brent", "Camden", "Ealing", "Harrow", "Sutton")]
    if duplicated_key:  # a key on two rows: both are looked at
        rows.append(rows[1])
    months = ["202401", "202402", "202403"]
    t = _table(rows, months, seed=7)
    rng = np.random.default_rng(3)
    known: dict = {}
    for month in months:
        for r, key in enumerate(rows[:5]):
            now = int(t.frame[month].iloc[r])
            # Never published (r = 0), published with the value it has now (r = 1, 2) or with another.
            if r:
                known[("borough", month, key)] = (
                    {now, now + 5} if r in (1, 2) else {now + int(rng.integers(1, 4))}
                )
    known[("ward", "202401", rows[0])] = {0, 1, 2, 3}  # another dataset's cell with the same key: ignored
    for col in range(len(months)):
        expected = _by_definition(t, col, known)
        assert expected.any() and not expected.all()  # the case is not trivial
        assert known_mask(t, col, known).tolist() == expected.tolist()


def test_each_table_looks_up_the_knowledge_it_is_given():
    """No index outlives its table: knowledge grown since an earlier table was looked at is all seen."""
    rows = [("THEFT", "SHOPLIFTING", "Brent"), ("THEFT", "SHOPLIFTING", "Camden")]
    first, second = _table(rows, ["202401"], seed=1), _table(rows, ["202401"], seed=1)
    value = int(first.frame["202401"].iloc[1])
    known: dict = {("borough", "202401", rows[0]): {99}}
    assert known_mask(first, 0, known).tolist() == [False, False]
    known[("borough", "202401", rows[1])] = {value}
    assert known_mask(second, 0, known).tolist() == [False, True]


def test_rows_kept_equals_selecting_the_rows_and_leaves_the_callers_frame_alone():
    """Withholding rebuilds a table column by column (`rows_kept`, to hold the historical LSOA table
    once): the result is `frame.loc[keep]` with a fresh index, and a frame given to a `Table` is not
    changed, since the table works on its own frame object."""
    from metpipeline.disclosure.tables import Table, rows_kept
    from metpipeline.memory import RELEASE_EVERY_COLUMNS

    rng = np.random.default_rng(7)
    n, months = 50, [f"2020{m:02d}" for m in range(1, 13)] + [f"2021{m:02d}" for m in range(1, 13)]
    assert len(months) > RELEASE_EVERY_COLUMNS  # the pools are released part-way through
    frame = pd.DataFrame({"Borough": [f"B{i % 5}" for i in range(n)], "Ward": [f"W{i}" for i in range(n)]})
    frame = pd.concat([frame, pd.DataFrame(rng.integers(0, 9, (n, len(months))), columns=months)], axis=1)
    original = frame.copy()
    keep = rng.random(n) < 0.6
    t = Table("ward", "24m", frame)
    kept = rows_kept(t.frame, keep)
    pd.testing.assert_frame_equal(kept, original.loc[keep].reset_index(drop=True), check_exact=True)
    pd.testing.assert_frame_equal(frame, original)
    mixed = original[["Borough", months[0], "Ward"]]  # counts not after the keys: the plain way
    pd.testing.assert_frame_equal(rows_kept(mixed.copy(), keep), mixed.loc[keep].reset_index(drop=True))


@pytest.mark.parametrize(
    "first, second, types",
    [
        ([30, 100], [0, 100], (np.int8, np.int8)),
        ([3, 200], [-1, 0], (np.int16, np.int16)),
        ([3, 2**31 - 1], [0, 5], (np.int32, np.int32)),
        ([3, 2**31 - 1], [0, 2**31], (np.int32, np.int64)),  # one past the 32-bit range: 64 bits
    ],
)
def test_counts_are_read_narrow_only_where_they_fit(tmp_path, first, second, types):
    """The disclosure stage reads a table's counts in the narrowest integer type that holds them all (one
    type for the table), and keeps 64 bits for a column that does not fit 32; the values, and their sums,
    are the file's either way."""
    from metpipeline.disclosure.files import not_geocoded, read_counts
    from metpipeline.workarea import WorkArea

    frame = pd.DataFrame(
        {
            "Borough": ["Barnet", "Camden"],
            "Ward": ["W1", "W2"],
            "202401": np.array(first, dtype=np.int64),
            "202402": np.array(second, dtype=np.int64),
        }
    )
    WorkArea(tmp_path).write_parquet(tmp_path / "ward__24m.parquet", frame)
    t = read_counts(tmp_path)[("ward", "24m")]
    assert (t.frame["202401"].dtype, t.frame["202402"].dtype) == types
    assert t.values().tolist() == [list(r) for r in zip(first, second, strict=True)]
    assert int(t.frame["202401"].sum()) == sum(first)  # 130 overflows 8 bits: pandas sums in 64
    assert list(t.frame["Ward"]) == ["W1", "W2"]
    # A borough table of zeros: the crimes not geocoded are its total minus the ward file's, in 64 bits.
    borough = frame.drop(columns="Ward").assign(**{"202401": 0, "202402": 0})
    WorkArea(tmp_path).write_parquet(tmp_path / "borough__24m.parquet", borough)
    assert not_geocoded(read_counts(tmp_path))["ward"] == {"202401": -sum(first), "202402": -sum(second)}
