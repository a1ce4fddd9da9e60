"""What the previous published version tells an attacker: every count it showed, in the datasets the policy
suppresses in; never a suppressed marker, and nothing from files where no cell can be suppressed."""

from metpipeline.disclosure.files import known_from_previous
from metpipeline.disclosure.policy import load_policy
from metpipeline.disclosure.tables import csv_name
from metpipeline.settings import POLICY_FILE

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
    assert known == {
        ("ward", "202410", rape): 4,
        ("ward", "202409", theft): 17,
        ("ward", "202410", theft): 0,
    }
    assert known_from_previous(None, policy) == {}
