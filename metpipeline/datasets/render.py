"""Files as published: deterministic UTF-8 CSV bytes with LF line endings and no index."""

import pandas as pd

from metpipeline.datasets.tidy import SUPPRESSED


def read_text(path) -> pd.DataFrame:
    """A published CSV exactly as written: every value as text (nothing parsed, no value read as missing).

    Multi-threaded pyarrow parser; the columns are pyarrow-backed strings, never Python object arrays.
    """
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8", engine="pyarrow")


def render_csv(df: pd.DataFrame) -> bytes:
    """A wide (or any) table as CSV bytes; integer cells as integers, `[c]` strings as written."""
    return df.to_csv(index=False, lineterminator="\n").encode("utf-8")


def render_tidy_csv(tidy: pd.DataFrame) -> bytes:
    """The tidy long form as CSV: `count` holds `[c]` where suppressed; the `suppressed` column is dropped."""
    out = tidy.drop(columns=["suppressed"]).copy()
    out["count"] = out["count"].astype("string").mask(tidy["suppressed"], SUPPRESSED)
    return render_csv(out)
