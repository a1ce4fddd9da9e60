"""One system's month extracted into the work area: the unit of a back-fill's extraction that helper
processes share (months/shared_work.py). Nothing of Dagster here, so a helper imports only what the work
needs."""

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from metpipeline.db import make_engine
from metpipeline.extract.changes import record_watermark
from metpipeline.extract.queries import SourceState, extract_connect, extract_cris, sql_window
from metpipeline.workarea import WorkArea

EXTRACT = {"CRIS": extract_cris, "CONNECT": extract_connect}
STATUS_COLUMN = {"CRIS": "crime_status", "CONNECT": "offence_status"}

# The engine of each DataMart URL in this process: the run's own (`run_engine`), or in a helper process one
# made on its first month and kept for the others (it ends with the helper).
_ENGINES: dict[str, sa.Engine] = {}


def _engine(url: str) -> sa.Engine:
    if url not in _ENGINES:
        _ENGINES[url] = make_engine(url)
    return _ENGINES[url]


@contextmanager
def run_engine(url: str, engine: sa.Engine) -> Iterator[None]:
    """Within the block, this process's months are extracted with the run's own engine (its DataMart
    resource's). Not disposed here: an interrupted query's worker thread may still be closing its cursor."""
    _ENGINES[url] = engine
    try:
        yield
    finally:
        _ENGINES.pop(url, None)


def extract_month(month: str, url: str, root: str, system: str, state: SourceState) -> dict:
    """Extract `system`'s rows of `month`, write them with the state read before the extraction began
    (watermark, undated rows), and return the month's summary for the step's metadata."""
    df = EXTRACT[system](_engine(url), month, checked=True, latest_recorded=state.latest_recorded)
    area = WorkArea(root)
    area.write_parquet(area.extract_path(system, month), df)
    area.write_json(area.undated_path(system, month), {"undated_rows": state.undated})
    record_watermark(area, system, month, state.watermark)
    window = sql_window(month)
    return {
        "rows": int(len(df)),
        "by_status": {
            str(k): int(v) for k, v in df[STATUS_COLUMN[system]].value_counts().sort_index().items()
        },
        "sql_window": [window["window_start"].isoformat(), window["window_end"].isoformat()],
    }
