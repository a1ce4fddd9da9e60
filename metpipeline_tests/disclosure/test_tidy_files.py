"""The tidy files written from the suppressed tables (`disclosure.render.write_tidy`, built in Arrow) are
what pandas writes from the same cells (`datasets.tidy.to_tidy` and its CSV): the same bytes for any
marker and any key text, and the same rows in the Parquet file."""

import numpy as np
import pandas as pd
import pytest

from metpipeline.datasets.render import render_csv
from metpipeline.datasets.tidy import to_tidy
from metpipeline.disclosure.render import write_tidy
from metpipeline.disclosure.tables import PRIMARY, SECONDARY, Table

MONTHS = ["202401", "202402", "202403"]


def _ward_table() -> Table:
    frame = pd.DataFrame(
        {
            "MajorText": ["THEFT", "THEFT", "SEXUAL OFFENCES", "SEXUAL OFFENCES"],
            "MinorText": ["SHOPLIFTING", "OTHER, THEFT", 'RAPE "A"', "RAPE"],  # text a CSV must quote
            "WardName": ["St James's", "Kilburn", "Queens Park", "Kilburn"],
            "WardCode": ["E05013806", "E05013503", "E05013510", "E05013503"],
            "LookUp_BoroughName": ["Westminster", "Brent", "Brent", "Brent"],
        }
    )
    counts = np.array([[3, 0, 5], [0, 0, 0], [1, 2, 0], [4, 0, 2]])
    for j, m in enumerate(MONTHS):
        frame[m] = counts[:, j]
    status = np.zeros(counts.shape, dtype=np.int8)
    status[2, 0], status[3, 0], status[2, 1] = PRIMARY, SECONDARY, PRIMARY
    status[1, 2] = SECONDARY  # a suppressed zero: listed, as every suppressed cell is
    return Table("ward", "24m", frame, status)


def _pandas_files(t: Table, marker: str) -> tuple[bytes, pd.DataFrame]:
    wide = t.frame.astype({m: object for m in MONTHS})
    for j, m in enumerate(MONTHS):
        wide.loc[t.status[:, j] != 0, m] = "[c]"
    tidy = to_tidy(wide, "ward")
    out = tidy.drop(columns=["suppressed"]).copy()
    out["count"] = out["count"].astype("string").mask(tidy["suppressed"], marker)
    return render_csv(out), tidy


@pytest.mark.parametrize("marker", ["[c]", "c,x", 'q"', "x"])
def test_tidy_files_are_what_pandas_writes(tmp_path, marker):
    t = _ward_table()
    write_tidy(tmp_path / "ward-tidy.csv", tmp_path / "ward-tidy.parquet", "ward", [t], marker)
    expected_csv, expected = _pandas_files(t, marker)
    assert (tmp_path / "ward-tidy.csv").read_bytes() == expected_csv
    written = pd.read_parquet(tmp_path / "ward-tidy.parquet")
    assert written.astype(object).equals(expected.astype(object))
    assert written["suppressed"].sum() == 4 and written["count"].isna().sum() == 4


def test_key_columns_in_several_chunks_give_the_same_files(tmp_path):
    """A counts file of more than 131,072 rows is read with its key columns in several Arrow chunks (and a
    table nothing is withheld from keeps them so): the tidy files are the same bytes as from one chunk."""
    import pyarrow as pa

    t = _ward_table()
    keys = pa.Table.from_pandas(t.frame, preserve_index=False)
    chunked_frame = pa.concat_tables([keys.slice(0, 1), keys.slice(1, 2), keys.slice(3)]).to_pandas()
    assert pa.array(chunked_frame["WardName"]).num_chunks == 3  # what a large file's read gives
    chunked = Table("ward", "24m", chunked_frame, t.status.copy())
    for name, table in (("one", t), ("chunks", chunked)):
        (tmp_path / name).mkdir()
        write_tidy(tmp_path / name / "t.csv", tmp_path / name / "t.parquet", "ward", [table], "[c]")
    for file in ("t.csv", "t.parquet"):
        assert (tmp_path / "chunks" / file).read_bytes() == (tmp_path / "one" / file).read_bytes(), file
