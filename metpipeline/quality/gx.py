"""One ephemeral Great Expectations context per process, and the adapter from a GX validation result to a
Dagster `AssetCheckResult` (dagster-ge does not support GX 1.x).

`great_expectations` is imported inside functions only: the import costs about five seconds, and most
processes that load the code location never validate anything.
"""

import threading
from typing import Any

import dagster as dg
import pandas as pd

_LOCK = threading.Lock()
_BATCH_DEFINITION: Any = None


def _batch_definition():
    global _BATCH_DEFINITION
    with _LOCK:
        if _BATCH_DEFINITION is None:
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig

            context = gx.get_context(mode="ephemeral")
            context.variables.progress_bars = ProgressBarsConfig(globally=False)  # no bars in Dagster logs
            asset = context.data_sources.add_pandas("metpipeline").add_dataframe_asset("frame")
            _BATCH_DEFINITION = asset.add_batch_definition_whole_dataframe("whole")
        return _BATCH_DEFINITION


def _columns_read(frame: pd.DataFrame, expectations: list) -> list[str] | None:
    """The frame's columns the expectations read, when each reads one column and nothing else (no row
    condition); None when any expectation looks at the table (column lists, row counts) or at more."""
    columns: list[str] = []
    for expectation in expectations:
        column = getattr(expectation, "column", None)
        if not isinstance(column, str) or getattr(expectation, "row_condition", None):
            return None
        columns.append(column)
    wanted = set(columns)
    # A column the frame lacks stays missing, so its expectation fails as it would on the whole frame.
    return [c for c in frame.columns if c in wanted]


def validate(frame: pd.DataFrame, suite_name: str, expectations: list) -> Any:
    """Validate `frame` against the expectations as one suite; returns the GX validation result.

    Column expectations get a frame of only the columns they read (same rows and index): GX fingerprints
    every batch by hashing the whole frame it is given, which costs more than the expectations."""
    import great_expectations as gx

    columns = _columns_read(frame, expectations)
    if columns is not None and len(columns) < len(frame.columns):
        frame = frame[columns]
    batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
    suite = gx.ExpectationSuite(name=suite_name, expectations=expectations)
    return batch.validate(suite, result_format="SUMMARY")


def _quote(v: Any) -> str:
    return f"'{v}'" if isinstance(v, str) else str(v)


def summarise(er: Any, redact_values: bool) -> dict:
    """One expectation's outcome as counts and a value summary; never rows, indexes or (redacted) values."""
    cfg = er.expectation_config
    res = dict(er.result or {})
    kwargs = {k: v for k, v in cfg.kwargs.items() if k in ("column", "column_list", "min_value", "max_value")}
    if "column_list" in kwargs:
        kwargs["column_list"] = f"{len(kwargs['column_list'])} columns"
    out: dict[str, Any] = {"expectation": cfg.type, **{k: str(v) for k, v in kwargs.items()}}
    out["success"] = bool(er.success)
    if "unexpected_count" in res:
        n = int(res["unexpected_count"] or 0)
        out.update(element_count=int(res.get("element_count") or 0), unexpected_count=n)
        if redact_values:
            out["summary"] = f"{n} unexpected values (values withheld: identifiers)"
        else:
            counts = res.get("partial_unexpected_counts") or []
            shown = ", ".join(f"{_quote(c['value'])} ({c['count']})" for c in counts[:10])
            out["summary"] = f"{n} unexpected values" + (f": {shown}" if n and shown else "")
    elif "observed_value" in res:
        observed = res["observed_value"]
        if "details" in res and isinstance(observed, list):  # column lists: names are not data
            mism = (res.get("details") or {}).get("mismatched") or []
            out["summary"] = f"{len(mism)} column positions differ: " + ", ".join(
                f"expected {m.get('Expected')!r} found {m.get('Found')!r}" for m in mism[:10]
            )
        else:
            out["summary"] = f"observed {observed}"
    if er.exception_info and er.exception_info.get("raised_exception"):
        out["summary"] = "expectation raised: " + str(er.exception_info.get("exception_message"))[:200]
    return out


def check_result(
    results: list[Any],
    *,
    rule: str,
    suite_version: str,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
    redact_values: bool = False,
    extra: dict | None = None,
) -> dg.AssetCheckResult:
    """Merge one rule's validation results (one per file validated) into one AssetCheckResult."""
    items = [summarise(er, redact_values) for r in results for er in r.results]
    passed = all(r.success for r in results)
    failing = [i for i in items if not i["success"]]
    unexpected = sum(i.get("unexpected_count", 0) for i in items)
    description = "; ".join(f"{i.get('column', '')} {i.get('summary', '')}".strip() for i in failing)
    metadata = {
        "rule": rule,
        "suite_version": suite_version,
        "unexpected_count": unexpected,
        "expectations_failed": len(failing),
        "expectations": dg.MetadataValue.json(items),
    }
    metadata.update(extra or {})
    return dg.AssetCheckResult(
        passed=passed, severity=severity, description=description[:1000] or "passed", metadata=metadata
    )
