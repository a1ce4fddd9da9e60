"""What earlier published versions tell an attacker: every count they showed in the cells that could ever be
suppressed (protected categories of the datasets the policy suppresses in); never a suppressed marker, and
nothing from files where no cell can be suppressed. Every version counts, not only the last one."""

from metpipeline.disclosure.files import known_from_previous, record_published_cells
from metpipeline.disclosure.policy import load_policy
from metpipeline.disclosure.tables import csv_name
from metpipeline.reference import category_sensitivity
from metpipeline.settings import POLICY_FILE

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
