"""The Arrow CSV writer of the publishable files gives pandas' bytes, whatever the text holds; the gzip
made while writing gives the bytes of compressing the file afterwards, and vouches only for those bytes."""

import gzip

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metpipeline.datasets.render import (
    GzipWhileWriting,
    copy_or_gzip,
    csv_rows,
    gzip_file,
    render_header,
    text_field,
)

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


def _csv_blocks(seed: int) -> list[bytes]:
    """Blocks of CSV text of uneven sizes (as the tidy writer hands them over), about 3 MB in all."""
    rng = np.random.default_rng(seed)
    blocks = []
    for size in rng.integers(1, 40_000, size=60):
        frame = pd.DataFrame(
            {"area": rng.choice(["Barnet", "Ham, Petersham"], size), "n": rng.poisson(3, size)}
        )
        blocks.append(bytes(csv_rows([frame["area"], frame["n"]])))
    return blocks


def test_gzip_while_writing_gives_the_bytes_of_gzip_file(tmp_path) -> None:
    blocks = _csv_blocks(1)
    source = tmp_path / "lsoa-tidy.csv"
    source.write_bytes(b"".join(blocks))
    gzip_file(source, tmp_path / "reference.csv.gz")
    made = GzipWhileWriting(tmp_path / "made" / "lsoa-tidy.csv.gz")
    for block in blocks:
        made.write(memoryview(block))
    made.close()
    got = (tmp_path / "made" / "lsoa-tidy.csv.gz").read_bytes()
    assert got == (tmp_path / "reference.csv.gz").read_bytes()
    assert gzip.decompress(got) == source.read_bytes()
    # Copied only while the source is exactly what was compressed.
    assert copy_or_gzip(source, made.target, tmp_path / "public.csv.gz")
    assert (tmp_path / "public.csv.gz").read_bytes() == got


def test_a_swapped_source_is_compressed_again_not_matched_with_the_old_gzip(tmp_path) -> None:
    source = tmp_path / "ward-tidy.csv"
    made = GzipWhileWriting(tmp_path / "ward-tidy.csv.gz")
    for block in _csv_blocks(2):
        made.write(block)
    made.close()
    source.write_bytes(b"".join(_csv_blocks(2)))
    swapped = bytearray(source.read_bytes())
    swapped[100:101] = b"9" if swapped[100:101] != b"9" else b"8"  # same size, one byte changed
    source.write_bytes(bytes(swapped))
    assert not copy_or_gzip(source, made.target, tmp_path / "public.csv.gz")
    assert gzip.decompress((tmp_path / "public.csv.gz").read_bytes()) == bytes(swapped)
    # No record (a gzip left from before the record existed, or a failed write): compressed again.
    (tmp_path / "ward-tidy.csv.gz.json").unlink()
    assert not copy_or_gzip(source, made.target, tmp_path / "public2.csv.gz")


def test_an_aborted_gzip_leaves_nothing(tmp_path) -> None:
    made = GzipWhileWriting(tmp_path / "borough-tidy.csv.gz")
    made.write(b"month,count\n")
    made.abort()
    assert list(tmp_path.iterdir()) == []
