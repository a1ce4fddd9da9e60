"""The Arrow CSV writer of the publishable files gives pandas' bytes, whatever the text holds."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metpipeline.datasets.render import csv_rows, render_header, text_field

# Names as the published files carry them, and the characters that make a field need quotes.
text = st.text(alphabet=st.sampled_from([*"ab ,\"'\r\n-é[]c&.", "\u2019", "\u00a0"]), max_size=12)


@given(
    rows=st.lists(st.tuples(text, text, st.integers(min_value=0, max_value=10**9)), min_size=1, max_size=40)
)
@settings(max_examples=200, deadline=None)
def test_rows_are_pandas_bytes(rows: list[tuple[str, str, int]]) -> None:
    frame = pd.DataFrame(rows, columns=["Name, code", 'Area "x"', "202401"])
    expected = frame.to_csv(index=False, lineterminator="\n").encode("utf-8")
    got = render_header(frame.columns) + bytes(csv_rows([frame[c] for c in frame.columns]))
    assert got == expected


def test_arrow_backed_and_numpy_columns_agree() -> None:
    names = pd.Series(["Barnet", "Kensington, and Chelsea", 'The "Strand"'], dtype="str")
    counts = np.array([0, 12, 3], dtype=np.int64)
    got = bytes(csv_rows([names, names.to_numpy(dtype=object), counts]))
    assert (
        got == b'Barnet,Barnet,0\n"Kensington, and Chelsea","Kensington, and Chelsea",12\n'
        b'"The ""Strand""","The ""Strand""",3\n'
    )


def test_no_rows_and_missing_fields() -> None:
    assert bytes(csv_rows([pd.Series([], dtype="str"), np.array([], dtype=np.int64)])) == b""
    with pytest.raises(ValueError, match="missing"):
        text_field(pd.Series(["a", None], dtype="str"))
