"""What earlier published versions tell an attacker: every count they showed in the cells that could ever be
suppressed (protected categories of the datasets the policy suppresses in); never a suppressed marker, and
nothing from files where no cell can be suppressed. Every version counts, not only the last one."""

import pandas as pd
import pytest

from metpipeline.disclosure.audit import audit_release
from metpipeline.disclosure.files import (
    hidden_from_previous,
    known_from_previous,
    previous_publishable,
    read_counts,
    read_published,
    record_published_cells,
    record_suppressed_cells,
)
from metpipeline.disclosure.policy import load_policy
from metpipeline.disclosure.render import write_publishable
from metpipeline.disclosure.suppress import apply_policy, release_from_frames
from metpipeline.disclosure.tables import counts_name, csv_name
from metpipeline.reference import category_sensitivity
from metpipeline.settings import POLICY_FILE
from metpipeline_tests.disclosure.attacker import Version, consistent_ranges, required_width
from metpipeline_tests.disclosure.synth import SECRET

SENSITIVITY = category_sensitivity()

WARD = (
    "MajorText,MinorText,WardName,WardCode,LookUp_BoroughName,202409,202410\n"
    "SEXUAL OFFENCES,RAPE,Kilburn,E05013503,Brent,[c],4\n"
    "THEFT,SHOPLIFTING,Kilburn,E05013503,Brent,17,0\n"
)
LSOA = (
    "LSOA Code,LSOA Name,Borough,Major Category,Minor Category,202409,202410\n"
    "E01000001,Brent 001A,Brent,THEFT,SHOPLIFTING,3,5\n"
)


def test_known_cells_come_from_suppressing_datasets_only(tmp_path):
    policy = load_policy(POLICY_FILE.default())
    (tmp_path / "ward").mkdir()
    (tmp_path / "lsoa").mkdir()
    (tmp_path / "ward" / csv_name("ward", "24m")).write_text(WARD, encoding="utf-8")
    (tmp_path / "lsoa" / csv_name("lsoa", "24m")).write_text(LSOA, encoding="utf-8")
    known = known_from_previous(tmp_path, policy)
    rape = ("SEXUAL OFFENCES", "RAPE", "Kilburn", "E05013503", "Brent")
    theft = ("THEFT", "SHOPLIFTING", "Kilburn", "E05013503", "Brent")
    assert known == {("ward", "202410", rape): {4}}  # THEFT is never suppressed: nothing to know
    assert theft not in {k[2] for k in known}
    assert known_from_previous(None, policy) == {}


def _version(root, month, ward_text):
    folder = root / month / "publishable"
    (folder / "ward").mkdir(parents=True)
    (folder / "ward" / csv_name("ward", "24m")).write_text(ward_text, encoding="utf-8")
    return folder


def test_a_value_any_earlier_version_published_stays_known(tmp_path):
    """v1 publishes a RAPE cell as 4 (a complement elsewhere left it open); v2 suppresses it. v3's attacker
    still holds v1's file: the cell is known to be 4 although the latest version before v3 hid it."""
    policy = load_policy(POLICY_FILE.default())
    header = "MajorText,MinorText,WardName,WardCode,LookUp_BoroughName,202410\n"
    row = "SEXUAL OFFENCES,RAPE,Kilburn,E05013503,Brent,"
    v1 = _version(tmp_path, "2024-10", header + row + "4\n")
    record_published_cells(v1, None, policy, SENSITIVITY)
    v2 = _version(tmp_path, "2024-11", header + row + "[c]\n")
    record_published_cells(v2, v1, policy, SENSITIVITY)
    known = known_from_previous(v2, policy)
    assert known[("ward", "202410", ("SEXUAL OFFENCES", "RAPE", "Kilburn", "E05013503", "Brent"))] == {4}
    # Without the carried record only v2's own file is read, and the cell would look unknown.
    (v2.parent / "published_cells.parquet").unlink()
    assert known_from_previous(v2, policy) == {}


# Version after version, as the disclosure asset does it: counts -> suppression with what earlier versions
# published and suppressed -> publishable files -> the records the next version reads -> the audit.

WARD_KEYS = ["MajorText", "MinorText", "WardName", "WardCode", "LookUp_BoroughName"]


def _ward_counts(values: dict[str, dict[str, int]]) -> pd.DataFrame:
    """ward name -> {YYYYMM: count}, all RAPE in Brent."""
    rows = [("SEXUAL OFFENCES", "RAPE", w, f"E0501{i:04d}", "Brent") for i, w in enumerate(values)]
    frame = pd.DataFrame(rows, columns=WARD_KEYS)
    for month in next(iter(values.values())):
        frame[month] = [v[month] for v in values.values()]
    return frame


def release_version(root, release_month: str, ward: pd.DataFrame, secret: bytes = SECRET):
    """One release of the ward file; returns (published frame, outcome, audit result)."""
    policy = load_policy(POLICY_FILE.default())
    base = root / release_month
    counts, publishable = base / "counts", base / "publishable"
    counts.mkdir(parents=True)
    ward.to_parquet(counts / counts_name("ward", "24m"), index=False)
    previous = previous_publishable(root, release_month)
    known, hidden = known_from_previous(previous, policy, SENSITIVITY), hidden_from_previous(previous)
    release = read_counts(counts)
    outcome = apply_policy(release, policy, SENSITIVITY, known, hidden, secret=secret)
    write_publishable(publishable, "ward", [release[("ward", "24m")]], policy.marker)
    record_published_cells(publishable, previous, policy, SENSITIVITY)
    record_suppressed_cells(release, release_month, publishable, previous)
    audited = audit_release(read_published(publishable, counts, policy, SENSITIVITY), policy, known, hidden)
    shown = pd.read_csv(publishable / "ward" / csv_name("ward", "24m"), dtype=str, keep_default_na=False)
    return shown.set_index("WardName"), outcome, audited


@pytest.mark.parametrize("secret", [SECRET, b"another deployment's secret", b"a third one"])
def test_an_earlier_versions_equation_cannot_be_solved_by_a_revision(tmp_path, secret):
    """v1 hides A (1) with drawn complements: their sum is public from then on. In v2 ward D is revised
    from 0 to 2 (now primary). What v1 hid together keeps its values and stays hidden (publishing one of
    them would solve v1's equation for the rest), and the attacker holding both versions, the group
    totals and the rule narrows no cell of v2 below the policy's range (brute force, attacker.py)."""
    march = dict(zip("ABCDE", (1, 5, 7, 0, 3), strict=True))
    v1, _, audit1 = release_version(
        tmp_path, "2024-03", _ward_counts({w: {"202403": v} for w, v in march.items()}), secret
    )
    hidden1 = {w for w in v1.index if v1.loc[w, "202403"] == "[c]"}
    assert "A" in hidden1 and len(hidden1) >= 2 and audit1.passed
    revised = {**march, "D": 2}
    v2, outcome, audit2 = release_version(
        tmp_path, "2024-04", _ward_counts({w: {"202403": v} for w, v in revised.items()}), secret
    )
    assert not outcome.unresolved and audit2.passed, audit2.summary()
    if "D" not in hidden1:  # all unchanged, hidden together: they stay hidden (or their rows withheld)
        assert all(w not in v2.index or v2.loc[w, "202403"] == "[c]" for w in hidden1)
    assert "D" not in v2.index or v2.loc["D", "202403"] == "[c]"
    versions = [
        Version({w: _count(v1.loc[w, "202403"]) for w in v1.index}, sum(march.values())),
        Version(
            {w: _count(v2.loc[w, "202403"]) for w in v2.index},
            sum(v for w, v in revised.items() if w in v2.index),
        ),
    ]
    unchanged = {w for w in march if march[w] == revised[w] and w in v2.index}
    ranges = consistent_ranges(versions, unchanged, 1, 2, rule="drawn")
    assert ranges is not None
    public = {w for w in unchanged if v1.loc[w, "202403"] != "[c]"}
    need = required_width([v for w, v in revised.items() if w in v2.index and w not in public])
    assert all(hi - lo >= need for lo, hi in ranges.values()), ranges


def _count(text: str) -> int | None:
    return None if text == "[c]" else int(text)


def test_a_cell_no_suppression_can_protect_has_its_row_withheld(tmp_path):
    """Two wards publish 0 and 0 for March; a crime recorded late puts 1 in A. With B = 0 public, the borough
    figure gives A exactly whatever is suppressed, so A's row is withheld (and the release is not blocked)."""
    first = {"A": {"202402": 3, "202403": 0}, "B": {"202402": 4, "202403": 0}}
    release_version(tmp_path, "2024-03", _ward_counts(first))
    later = {"A": {"202402": 3, "202403": 1}, "B": {"202402": 4, "202403": 0}}
    shown, outcome, audit = release_version(tmp_path, "2024-04", _ward_counts(later))
    assert "A" not in shown.index and outcome.rows_withheld == {"ward": 1}
    assert not outcome.unresolved and audit.passed, audit.summary()


def test_the_suppression_leaves_no_lookups_on_the_tables():
    """The suppression's per-table lookups (a 64-bit copy of the counts, the keys as tuples, a reference to
    the earlier versions' cells) are dropped once it is settled: they are not held while the files are
    written (57 MiB at full scale)."""
    policy = load_policy(POLICY_FILE.default())
    ward = _ward_counts({w: {"202403": v} for w, v in zip("ABCD", (1, 5, 7, 0), strict=True)})
    b = tuple(ward.loc[1, WARD_KEYS])
    known = {("ward", "202403", b): {5}}  # B published as 5 by an earlier version: a constant now
    release = release_from_frames({("ward", "24m"): ward})
    apply_policy(release, policy, SENSITIVITY, known, {}, secret=SECRET)
    t = release[("ward", "24m")]
    assert (t.status != 0).any()  # suppressed: the lookups were built
    assert set(vars(t)) <= {"slug", "window", "frame", "status", "_months", "_months_of"}, sorted(vars(t))
