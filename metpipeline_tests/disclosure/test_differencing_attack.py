"""The differencing attack, tried as an attacker would on a release of a seeded DataMart at realistic
density (0.3 of MPS volume, 2024-01..2024-03, releasing 2024-02: the case that once stalled).

The attacker holds every published table and, worst case, every remainder (crimes not geocoded or located
outside the borough that recorded them), computed here from the pipeline's own true counts:

- borough minus wards: for each category, borough and month, the published borough figure minus the
  remainder is the sum of that borough's ward cells; minus the published ward cells, it is the sum of the
  suppressed ones;
- the LSOA analogue: the same with the LSOA file's cells within their borough;
- the flagged analogue: each flag's London total for the month minus the published borough cells.

A group with one suppressed cell gives that cell exactly; a group whose suppressed cells hide fewer crimes
than the policy's range (or than the whole group, when it holds fewer) narrows them below it. This module
computes both without the pipeline's audit code, and expects none.
"""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metpipeline.datamart.seed import seed_datamart
from metpipeline.datasets.build import datastore_file_name, key_columns
from metpipeline.disclosure.policy import load_policy
from metpipeline.settings import POLICY_FILE
from metpipeline_tests.disclosure.demo_release import release

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MONTH = "2024-02"
POLICY = load_policy(POLICY_FILE.default())
AIRPORTS = "London Heathrow and London City Airports"


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("attack")
    var = tmp / "var"
    var.mkdir()
    seed_datamart(f"sqlite:///{var / 'datamart.sqlite'}", "2024-01", "2024-03", scale=0.3, progress=False)
    return release(var, MONTH)


def _published(folder: Path, slug: str, window: str) -> pd.DataFrame:
    return pd.read_csv(
        folder / "publishable" / slug / datastore_file_name(slug, window), dtype=str, keep_default_na=False
    )


def _truth(folder: Path, slug: str, window: str) -> pd.DataFrame:
    frame = pd.read_parquet(folder / "counts" / f"{slug}__{window}.parquet")
    frame[key_columns(slug)] = frame[key_columns(slug)].astype(str)
    return frame


def attack(published: pd.DataFrame, truth: pd.DataFrame, group: list[str], known_totals: pd.DataFrame):
    """(cells recovered exactly, cells narrowed below the policy, suppressed cells) over every group.

    `known_totals`: the attacker's total of each group and month (index: group columns, columns: months)."""
    months = [c for c in published.columns if c.isdigit()]
    exact = narrow = suppressed = 0
    for key, rows in published.groupby(group, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        for m in months:
            cells = rows[m]
            hidden = cells == POLICY.marker
            if not hidden.any():
                continue
            suppressed += int(hidden.sum())
            total = int(known_totals.loc[key, m]) if key in known_totals.index else 0
            rest = total - int(pd.to_numeric(cells[~hidden]).sum())  # what the suppressed cells hold
            if hidden.sum() == 1:
                exact += 1  # the one suppressed cell is `rest`
            elif rest < min(POLICY.min_interval_width, total):
                narrow += int(hidden.sum())
    return exact, narrow, suppressed


def test_borough_minus_wards_recovers_nothing(released):
    for window in ("24m", "historical"):
        ward = _published(released, "ward", window)
        if ward.empty or not [c for c in ward.columns if c.isdigit()]:
            continue
        borough = _published(released, "borough", window)
        truth = _truth(released, "ward", window)
        months = [c for c in ward.columns if c.isdigit()]
        # The published borough figure of each category and borough, minus the remainder the attacker is
        # assumed to know (true borough count minus the true sum of the borough's ward cells).
        b = borough.set_index(["MajorText", "MinorText", "BoroughName"])[months].astype("int64")
        wards_true = truth.groupby(["MajorText", "MinorText", "LookUp_BoroughName"])[months].sum()
        wards_true.index = wards_true.index.set_names(b.index.names)
        remainder = b.sub(wards_true, fill_value=0)
        known = (b - remainder.reindex(b.index)).reindex(wards_true.index).fillna(wards_true)
        known.index = known.index.set_names(["MajorText", "MinorText", "LookUp_BoroughName"])
        exact, narrow, suppressed = attack(
            ward, truth, ["MajorText", "MinorText", "LookUp_BoroughName"], known
        )
        assert suppressed > 0, f"{window}: nothing suppressed: the attack proves nothing"
        assert (exact, narrow) == (0, 0), f"ward {window}: {exact} recovered exactly, {narrow} narrowed"


def test_the_lsoa_and_flagged_analogues_recover_nothing(released):
    lsoa = _published(released, "lsoa", "24m")
    truth = _truth(released, "lsoa", "24m")
    months = [c for c in lsoa.columns if c.isdigit()]
    known = truth.groupby(["Major Category", "Minor Category", "Borough"])[months].sum()
    exact, narrow, _ = attack(lsoa, truth, ["Major Category", "Minor Category", "Borough"], known)
    assert (exact, narrow) == (0, 0)

    flagged = _published(released, "flagged", "24m")
    truth = _truth(released, "flagged", "24m")
    known = truth.groupby(["FlagType", "FlagText"])[months].sum()  # each flag's London total
    exact, narrow, suppressed = attack(flagged, truth, ["FlagType", "FlagText"], known)
    assert suppressed > 0
    assert (exact, narrow) == (0, 0), f"flagged: {exact} recovered exactly, {narrow} narrowed"


def test_the_seed_places_a_realistic_share_of_crimes_outside_their_recording_borough(released):
    harmonised = pd.read_parquet(
        released.parent.parent / "harmonised" / f"{MONTH}.parquet",
        columns=["borough_name", "ward_borough_name"],
    )
    located = harmonised[harmonised["ward_borough_name"].notna() & (harmonised["borough_name"] != AIRPORTS)]
    located = located[located["borough_name"] != "Unknown"]
    share = float(np.mean(located["borough_name"].astype(str) != located["ward_borough_name"].astype(str)))
    print(f"crimes located outside their recording borough: {share:.1%} of {len(located):,} geocoded")
    assert 0.02 <= share <= 0.10  # the seed's 5%, by design (datamart/crimes.py OTHER_BOROUGH_RATE)


def test_the_attack_finds_what_primary_suppression_alone_leaves_open():
    """The attack can fail a release: one suppressed cell in a group is recovered exactly, and two that hide
    fewer crimes than the range are narrowed (the previous model's London-wide view missed both)."""
    published = pd.DataFrame(
        {
            "MajorText": ["SEXUAL OFFENCES"] * 5,
            "MinorText": ["RAPE"] * 5,
            "LookUp_BoroughName": ["Brent", "Brent", "Camden", "Camden", "Camden"],
            "202402": ["[c]", "4", "[c]", "[c]", "7"],
        }
    )
    known = pd.DataFrame(
        {"202402": [5, 9]},  # Camden: 9 - 7 = 2 crimes in its two suppressed cells
        index=pd.MultiIndex.from_tuples(
            [("SEXUAL OFFENCES", "RAPE", "Brent"), ("SEXUAL OFFENCES", "RAPE", "Camden")]
        ),
    )
    assert attack(published, published, ["MajorText", "MinorText", "LookUp_BoroughName"], known) == (1, 2, 3)


def test_the_rule_aware_attacker_recovers_nothing_and_breaks_the_earlier_procedure(released):
    """The attacker who knows the rule (attacker.py) on this release: nothing recovered or narrowed in the
    ward and flagged files. The same attacker, given the patterns the earlier deterministic procedure
    (fewest cells, then fewest crimes) makes on the same ward counts, replays it and recovers cells."""
    from metpipeline_tests.disclosure.attacker import (
        Version,
        _minimal_pattern,
        consistent_ranges,
        required_width,
    )
    from metpipeline_tests.disclosure.test_rule_aware_attack import _groups, attack

    for slug in ("ward", "flagged"):
        found = attack([released], slug)
        print(f"{slug}: {found}")
        assert found["suppressed"] > 0 and (found["exact"], found["narrowed"]) == (0, 0), found
    from metpipeline.reference import category_sensitivity

    high = {c for c, s in category_sensitivity().items() if s == "high"}
    exact = narrowed = suppressed = skipped = 0
    for (group, _month), (_shown, truth) in _groups(released, "ward").items():
        if tuple(group[:2]) not in high:
            continue  # only protected categories have primaries
        cells = list(truth)
        names = {c: str(i) for i, c in enumerate(cells)}
        values = {names[c]: truth[c] for c in cells}
        pattern = _minimal_pattern(values, 1, 2, POLICY.min_interval_width)
        if not pattern or pattern == set(values):
            continue  # nothing to hide, or every cell hidden (such rows were withheld)
        hidden_total = sum(values[n] for n in pattern)
        if math.comb(hidden_total + len(pattern) - 1, len(pattern) - 1) > 20_000:
            skipped += 1  # too many assignments to replay the procedure on each in a test
            continue
        shown = {n: (None if n in pattern else v) for n, v in values.items()}
        ranges = consistent_ranges([Version(shown, sum(values.values()))], set(), 1, 2, rule="minimal")
        assert ranges is not None
        need = required_width(list(values.values()), POLICY.min_interval_width)
        suppressed += len(pattern)
        exact += sum(1 for lo, hi in ranges.values() if lo == hi)
        narrowed += sum(1 for lo, hi in ranges.values() if hi - lo < need)
    print(
        f"earlier procedure on the same ward counts: {exact} exact, {narrowed} narrowed of {suppressed} "
        f"({skipped} groups too large to replay)"
    )
    assert suppressed > 0 and exact > 0 and narrowed > exact
