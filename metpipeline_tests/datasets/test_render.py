"""The Arrow CSV writer of the publishable files gives pandas' bytes, whatever the text holds; the gzip
made while writing gives the bytes of compressing the file afterwards, and vouches only for those bytes."""

import gzip
from pathlib import Path

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
    is_gzip_of,
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


def _made(tmp_path, blocks: list[bytes]) -> Path:
    made = GzipWhileWriting(tmp_path / "compressed" / "ward-tidy.csv.gz")
    for block in blocks:
        made.write(block)
    made.close()
    return made.target


def test_a_swapped_source_is_compressed_again_not_matched_with_the_old_gzip(tmp_path) -> None:
    blocks = _csv_blocks(2)
    gz = _made(tmp_path, blocks)
    source = tmp_path / "ward-tidy.csv"
    swapped = bytearray(b"".join(blocks))
    swapped[100:101] = b"9" if swapped[100:101] != b"9" else b"8"  # same size, one byte changed
    source.write_bytes(bytes(swapped))
    assert not is_gzip_of(gz, source)
    assert not copy_or_gzip(source, gz, tmp_path / "public.csv.gz")
    assert gzip.decompress((tmp_path / "public.csv.gz").read_bytes()) == bytes(swapped)
    source.write_bytes(b"".join(blocks)[:-1])  # one byte short
    assert not is_gzip_of(gz, source)


def test_a_gzip_carrying_anything_but_the_source_is_not_copied(tmp_path) -> None:
    """The same content in another frame is refused: a comment or file name in the header (text the
    scan of the decompressed rows never sees), a second member, bytes after the trailer, a cut stream."""
    blocks = _csv_blocks(3)
    source = tmp_path / "ward-tidy.csv"
    source.write_bytes(b"".join(blocks))
    good = _made(tmp_path, blocks).read_bytes()
    assert is_gzip_of(tmp_path / "compressed" / "ward-tidy.csv.gz", source)
    commented = bytearray(good[:10])
    commented[3] = 0x10  # FCOMMENT: a zero-terminated comment follows the header
    named = gzip.compress(source.read_bytes(), compresslevel=6, mtime=0)
    variants = {
        "comment": bytes(commented) + b"Jane Doe, 12 Acacia Avenue\x00" + good[10:],
        "other header": named[:4] + b"\x01\x00\x00\x00" + named[8:],  # a timestamp
        "second member": good + gzip.compress(b"", mtime=0),
        "trailing bytes": good + b"Jane Doe",
        "cut": good[:-20],
    }
    for label, data in variants.items():
        tampered = tmp_path / f"{label}.gz"
        tampered.write_bytes(data)
        assert not is_gzip_of(tampered, source), label
        assert not copy_or_gzip(source, tampered, tmp_path / "public.csv.gz"), label
        assert (tmp_path / "public.csv.gz").read_bytes() == good, label  # compressed again


def test_an_aborted_gzip_leaves_nothing(tmp_path) -> None:
    made = GzipWhileWriting(tmp_path / "borough-tidy.csv.gz")
    made.write(b"month,count\n")
    made.abort()
    assert list(tmp_path.iterdir()) == []
