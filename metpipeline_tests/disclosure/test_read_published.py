"""The release as published (`files.read_published`), which the threshold and differencing checks judge:
a dataset the policy suppresses in is read with each cell's status; any other dataset's file is compared
row for row with the keys of its counts (its counts never read), so a withheld row put back is still found,
and it is left out of the release the checks judge."""

import pandas as pd
import pytest

from metpipeline.disclosure.files import read_published
from metpipeline.disclosure.policy import load_policy
from metpipeline.disclosure.tables import PRIMARY, PUBLISHED, counts_name, csv_name
from metpipeline.reference import category_sensitivity
from metpipeline.settings import POLICY_FILE

POLICY = load_policy(POLICY_FILE.default())
LSOA_HEADER = "LSOA Code,LSOA Name,Borough,Major Category,Minor Category,202409,202410\n"
THEFT = "E01000001,Brent 001A,Brent,THEFT,SHOPLIFTING,3,5\n"
RAPE = "E01000001,Brent 001A,Brent,SEXUAL OFFENCES,RAPE,1,0\n"  # a high category: withheld from LSOA files
WARD = (
    "MajorText,MinorText,WardName,WardCode,LookUp_BoroughName,202409,202410\n"
    "SEXUAL OFFENCES,RAPE,Kilburn,E05013503,Brent,[c],4\n"
    "SEXUAL OFFENCES,RAPE,Queens Park,E05013510,Brent,[c],3\n"
)


def _release(tmp_path, lsoa_text: str):
    counts, publishable = tmp_path / "counts", tmp_path / "publishable"
    counts.mkdir()
    for slug, text in (("lsoa", LSOA_HEADER + RAPE + THEFT), ("ward", WARD.replace("[c]", "1"))):
        (publishable / slug).mkdir(parents=True)
        frame = pd.read_csv(pd.io.common.StringIO(text), dtype=str)
        for m in ("202409", "202410"):
            frame[m] = frame[m].astype("int64")
        frame.to_parquet(counts / counts_name(slug, "24m"), index=False)
    (publishable / "lsoa" / csv_name("lsoa", "24m")).write_text(lsoa_text, encoding="utf-8")
    (publishable / "ward" / csv_name("ward", "24m")).write_text(WARD, encoding="utf-8")
    return read_published(publishable, counts, POLICY, category_sensitivity())


def test_statuses_are_read_where_the_policy_suppresses_and_other_files_are_compared_by_row(tmp_path):
    release = _release(tmp_path, LSOA_HEADER + THEFT)
    assert release[("ward", "24m")].status.tolist() == [[PRIMARY, PUBLISHED], [PRIMARY, PUBLISHED]]
    assert release[("ward", "24m")].frame["202410"].tolist() == [4, 3]
    assert list(release) == [("ward", "24m")]  # the LSOA file matched its counts; nothing to judge in it


@pytest.mark.parametrize(
    "lsoa_text",
    [
        LSOA_HEADER + RAPE + THEFT,  # a withheld row put back
        LSOA_HEADER + THEFT.replace("Brent 001A", "Brent 001B"),  # a row the counts do not have
        LSOA_HEADER.replace(",202410", ",202411") + THEFT,  # another month
        LSOA_HEADER.replace("\n", ",202411\n") + THEFT.replace("\n", ",2\n"),  # a month more
    ],
)
def test_a_file_unlike_its_counts_is_refused_by_name(tmp_path, lsoa_text):
    with pytest.raises(ValueError, match="MPS LSOA Level Crime .most recent 24 months..csv: rows or month"):
        _release(tmp_path, lsoa_text)
