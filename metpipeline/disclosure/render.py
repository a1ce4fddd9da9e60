"""Publishable files from a suppressed release (pure: returns bytes and frames, writes nothing)."""

import io

import pandas as pd

from metpipeline.disclosure.tables import KEY_COLUMNS, PUBLISHED, TIDY_COLUMNS, Table, csv_name


def wide_frame(t: Table, marker: str) -> pd.DataFrame:
    """The wide table as text, suppressed cells replaced by the marker."""
    out = t.frame[KEY_COLUMNS[t.slug]].astype(str).copy()
    for j, m in enumerate(t.months):
        col = t.frame[m].astype("int64").astype(str)
        out[m] = col.where(t.status[:, j] == PUBLISHED, marker)
    return out


def wide_csv(t: Table, marker: str) -> bytes:
    buf = io.StringIO()
    wide_frame(t, marker).to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue().encode("utf-8")


def tidy_frame(tables: list[Table]) -> pd.DataFrame:
    """Long form over both windows: month, geography codes and names, category, count, suppressed."""
    parts = []
    for t in tables:
        rename = TIDY_COLUMNS[t.slug]
        for j, m in enumerate(t.months):
            part = t.frame[list(rename)].rename(columns=rename)
            suppressed = t.status[:, j] != PUBLISHED
            part.insert(0, "month", f"{m[:4]}-{m[4:]}")
            # pandas-stubs have no pd.array overload for a Series with a nullable dtype; pandas accepts it.
            part["count"] = pd.array(t.frame[m].astype("int64"), dtype="Int64")  # type: ignore[call-overload]
            part.loc[suppressed, "count"] = pd.NA
            part["suppressed"] = suppressed
            parts.append(part)
    if not parts:
        slug = tables[0].slug if tables else "borough"
        return pd.DataFrame(columns=["month", *TIDY_COLUMNS[slug].values(), "count", "suppressed"])
    tidy = pd.concat(parts, ignore_index=True)
    return tidy.sort_values([c for c in tidy.columns if c not in ("count", "suppressed")], kind="stable")


def tidy_csv(tidy: pd.DataFrame, marker: str) -> bytes:
    out = tidy.drop(columns=["suppressed"]).copy()
    out["count"] = out["count"].astype("string").fillna(marker)
    buf = io.StringIO()
    out.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue().encode("utf-8")


def tidy_parquet(tidy: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    tidy.reset_index(drop=True).to_parquet(buf, index=False)
    return buf.getvalue()


def publishable_files(slug: str, tables: list[Table], marker: str) -> dict[str, bytes]:
    """File name -> content for one dataset's publishable folder."""
    files = {csv_name(t.slug, t.window): wide_csv(t, marker) for t in tables}
    tidy = tidy_frame(tables)
    files[f"{slug}-tidy.csv"] = tidy_csv(tidy, marker)
    files[f"{slug}-tidy.parquet"] = tidy_parquet(tidy)
    return files
