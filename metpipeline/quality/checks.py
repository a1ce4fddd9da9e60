"""Quality rules as Dagster asset checks: one rule per check, constant names, blocking unless a warning.

Checks read the files their asset wrote from the work area; they run after the asset in the same
single-month run. The `*_result` functions are plain and are what the tests and the release report call.
"""

import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import cast

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq

from metpipeline.catalogue import CATALOGUE, WINDOWS, DatasetSpec, headline
from metpipeline.datasets.build import datastore_file_name as csv_name
from metpipeline.datasets.render import read_header
from metpipeline.months.arithmetic import ranges, yyyymm
from metpipeline.months.partitions import FIRST_MONTH, monthly_partitions
from metpipeline.quality import datasets, extracts, harmonised, plausibility, volume
from metpipeline.quality.gx import check_result, validate
from metpipeline.resources import GovernanceResource, StateResource, WorkAreaResource
from metpipeline.workarea import WorkArea


def partition_of(context: dg.AssetCheckExecutionContext) -> str:
    tag = context.run.tags.get("dagster/partition")
    if not tag:
        raise ValueError("quality checks run with a single monthly partition of their asset")
    return tag


def months_of(context: dg.AssetCheckExecutionContext) -> list[str]:
    """The run's months: its single partition, or every month of a back-fill's partition range."""
    tags = context.run.tags
    start = tags.get("dagster/asset_partition_range_start")
    end = tags.get("dagster/asset_partition_range_end")
    if start and end:
        return list(monthly_partitions.get_partition_keys_in_range(dg.PartitionKeyRange(start, end)))
    return [partition_of(context)]


def per_month(months: list[str], result_for: Callable[[str], dg.AssetCheckResult]) -> dg.AssetCheckResult:
    """One result for a run's months (Dagster gives a check one result per run): it fails if any month
    fails, and says which months failed and why, so one bad month in a back-fill is easy to find."""
    if len(months) == 1:
        return result_for(months[0])
    return _range_result(months, {m: result_for(m) for m in months})


def _range_result(months: list[str], results: dict[str, dg.AssetCheckResult]) -> dg.AssetCheckResult:
    failed = {m: results[m] for m in months if not results[m].passed}
    first = results[months[0]]
    rule = cast(str, first.metadata["rule"].value) if "rule" in first.metadata else ""  # text metadata
    # A defect that reads the same in several months (a table-wide one, such as undated rows, which belong
    # to no month) is said once, with the months it was found in.
    said: dict[str, list[str]] = {}
    for m, r in failed.items():
        said.setdefault(r.description or "failed", []).append(m)
    description = (
        "; ".join(f"{_months_said(ms, months)}: {text}" for text, ms in said.items())[:1000]
        if failed
        else f"passed for all {len(months)} months"
    )
    return dg.AssetCheckResult(
        passed=not failed,
        severity=first.severity,
        description=description,
        metadata={
            "rule": rule,
            "months_checked": len(months),
            "months_failed": dg.MetadataValue.json(sorted(failed)),
        },
    )


def _months_said(failed: list[str], checked: list[str]) -> str:
    """`2024-03`, `all 26 months`, or `3 months (2022-01..2022-02, 2024-03)`: consecutive months as spans."""
    if len(failed) == 1:
        return failed[0]
    if len(failed) == len(checked):
        return f"all {len(checked)} months"
    return f"{len(failed)} months ({ranges(failed)})"


# A back-fill validates up to this many rows of consecutive months as one frame. Most of a validation's cost
# is Great Expectations' own (building and serialising the suite and its metric graph), not the rows
# (benchmarks/RESULTS.md), and CONNECT's months before the cut-over are empty frames. Half a million rows (six
# CRIS months) keeps the frames' memory small.
GROUP_ROWS = 500_000


def per_month_grouped(
    months: list[str],
    read: Callable[[str], pd.DataFrame],
    result_of: Callable[[pd.DataFrame, str], dg.AssetCheckResult],
    *,
    month_free: bool,
) -> dg.AssetCheckResult:
    """`per_month` for a rule validated on each month's frame, with the same outcome, in fewer validations.

    Consecutive months whose frames have the same columns and types are validated as one frame. For a
    `month_free` rule this is exact: it judges each row on its own (not null, in a set), the same in every
    month, so the joined frame passes exactly when every month's part of it does. If it fails, each month is
    validated alone, so the result names exactly the months that fail and why, as month by month.
    A rule judged within one month (its expectations name the month, or keys are unique per month: the
    `MONTH_RULES` of its suite) joins a month that has rows only with months that have none, so its
    expectations judge that one month's rows, as they would alone.
    """
    if len(months) == 1:
        return result_of(read(months[0]), months[0])
    results: dict[str, dg.AssetCheckResult] = {}

    def validate_group(group: list[tuple[str, pd.DataFrame]]) -> None:
        if len(group) > 1:
            month = next((m for m, f in group if len(f)), group[0][0])
            joined = pd.concat([f for _, f in group], ignore_index=True)
            outcome = result_of(joined, month)
            if outcome.passed:
                results.update((m, outcome) for m, _ in group)
                return
        results.update((m, result_of(f, m)) for m, f in group)

    group: list[tuple[str, pd.DataFrame]] = []
    for month in months:
        frame = read(month)
        if group and not _joins(group, frame, month_free):
            validate_group(group)
            group = []
        group.append((month, frame))
    validate_group(group)
    return _range_result(months, results)


def _joins(group: list[tuple[str, pd.DataFrame]], frame: pd.DataFrame, month_free: bool) -> bool:
    """Whether `frame` may be validated together with the frames of `group`."""
    first = group[0][1]
    if list(frame.columns) != list(first.columns) or not frame.dtypes.equals(first.dtypes):
        return False  # a missing column or another type is judged on its own month's frame
    if sum(len(f) for _, f in group) + len(frame) > GROUP_ROWS:
        return False
    return month_free or not (len(frame) and any(len(f) for _, f in group))


def _run(pairs, rule: str, version: str, **kw) -> dg.AssetCheckResult:
    results = [validate(frame, f"{rule}@{version}", exps) for frame, exps in pairs]
    return check_result(results, rule=rule, suite_version=version, **kw)


# --- plain functions --------------------------------------------------------------------------------
def extract_result(system: str, rule: str, frame: pd.DataFrame, month: str) -> dg.AssetCheckResult:
    extra = {}
    if rule == "key_unique":
        keys = frame[extracts.KEYS[system]].dropna()
        extra["duplicate_keys"] = int(keys[keys.duplicated(keep=False)].nunique())
    pairs = extracts.RULES[rule](system, frame, month)
    redact = rule in extracts.REDACTED
    return _run(pairs, f"{system}_{rule}", extracts.SUITE_VERSION, redact_values=redact, extra=extra)


def harmonised_result(rule: str, frame: pd.DataFrame, month: str) -> dg.AssetCheckResult:
    return _run(harmonised.RULES[rule](frame, month), rule, harmonised.SUITE_VERSION)


def dataset_result(
    slug: "DatasetSpec | str",
    rule: str,
    files: dict[str, pd.DataFrame],
    month: str,
    ledger: dict | None = None,
    first_month: str = FIRST_MONTH,
    withheld: int = 0,
) -> dg.AssetCheckResult:
    dataset = datasets.as_spec(slug)
    name = f"{dataset.slug}_{rule}"
    if not files:
        return dg.AssetCheckResult(
            passed=False, description=f"no {dataset.slug} files for {month}", metadata={"rule": name}
        )
    if rule == "columns":
        pairs = datasets.column_schema(dataset, files, month, first_month)
    elif rule == "counts_valid":
        pairs = datasets.counts_valid(dataset, files, month, first_month)
    else:
        if ledger is None:
            return dg.AssetCheckResult(
                passed=False, description=f"no reconciliation ledger for {month}", metadata={"rule": name}
            )
        pairs = datasets.totals_reconcile(dataset, files, month, ledger, withheld)
    extra = {"expected_total": datasets.expected_total(dataset, ledger, withheld)} if ledger else {}
    return _run(pairs, name, datasets.SUITE_VERSION, extra=extra)


def volume_result(borough: pd.DataFrame, month: str) -> dg.AssetCheckResult:
    table = volume.comparison(borough, month)
    months = int(table["months_of_history"].iloc[0]) if len(table) else 0
    note = (
        f"compared with the trailing {months} months"
        if months >= volume.TRAILING
        else f"only {months} months of history: compared with what exists"
    )
    if months == 0:
        return dg.AssetCheckResult(
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            description=note,
            metadata={"history_note": note},
        )
    result = _run(
        volume.within_range(table.dropna(subset=["ratio"])),
        "volume_within_trailing_range",
        volume.SUITE_VERSION,
        severity=dg.AssetCheckSeverity.WARN,
        extra={
            "history_note": note,
            "months_of_history": months,
            "outside_range": dg.MetadataValue.json(volume.outside(table)),
        },
    )
    return result._replace(description=f"{note}; {len(volume.outside(table))} scopes outside +-25%")


# --- file readers -----------------------------------------------------------------------------------
# Columns already read from the last few month files, keyed by path, mtime and size: the checks of one
# asset in a run read each file once between them, and a rewritten file (new mtime) is never served stale.
_COLUMN_CACHE: OrderedDict[tuple[str, int, int], dict[str, pd.Series]] = OrderedDict()
_CACHE_FILES = 4
_CACHE_LOCK = threading.Lock()


def read_columns(path: Path, columns: list[str]) -> pd.DataFrame:
    """The named columns of a month's Parquet file (those it has; in file order), as `pd.read_parquet`
    reads them. A column the file lacks is left out, so the rule's expectation on it fails as before."""
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    with _CACHE_LOCK:
        cached = _COLUMN_CACHE.pop(key, None) or {}
        wanted = set(columns)
        present = [c for c in pq.read_schema(path).names if c in wanted]
        if not present:
            return pd.read_parquet(path, columns=[])
        missing = [c for c in present if c not in cached]
        if missing:
            cached.update((str(c), v) for c, v in pd.read_parquet(path, columns=missing).items())
        _COLUMN_CACHE[key] = cached
        while len(_COLUMN_CACHE) > _CACHE_FILES:
            _COLUMN_CACHE.popitem(last=False)
        return pd.DataFrame({c: cached[c] for c in present})


def read_dataset_files(area: WorkArea, slug: str, month: str) -> dict[str, pd.DataFrame]:
    out = {}
    for window in WINDOWS:
        path = area.counts_path(month, slug, window)
        if path.exists():
            out[window] = WorkArea.read_parquet(path)
    return out


def read_ledger(area: WorkArea, month: str) -> dict | None:
    path = area.reconciliation_path(month)
    return WorkArea.read_json(path) if path.exists() else None


# --- asset checks -----------------------------------------------------------------------------------
def _extract_check(system: str, rule: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=f"{system}_extract",
        name=f"{system}_{rule}",
        blocking=True,
        description=f"{system.upper()} extract: {DESCRIPTIONS[rule]}",
    )
    def _check(context: dg.AssetCheckExecutionContext, workarea: WorkAreaResource) -> dg.AssetCheckResult:
        area = workarea.area
        return per_month_grouped(
            months_of(context),
            lambda m: read_columns(area.extract_path(system, m), extracts.columns(system, rule)),
            lambda frame, m: extract_result(system, rule, frame, m),
            month_free=rule not in extracts.MONTH_RULES,
        )

    return _check


def _dated_check(system: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=f"{system}_extract",
        name=f"{system}_source_rows_dated",
        blocking=True,
        description=f"Every {system.upper()} source row has a recorded time (a row without one is counted in "
        "no month, so it would silently go missing).",
    )
    def _check(context: dg.AssetCheckExecutionContext, workarea: WorkAreaResource) -> dg.AssetCheckResult:
        area = workarea.area
        table, column = (
            ("cris_crime_report", "recorded_at")
            if system == "cris"
            else ("connect_offence", "recorded_at_utc")
        )

        def result(month: str) -> dg.AssetCheckResult:
            path = area.undated_path(system, month)
            n = int(area.read_json(path)["undated_rows"]) if path.exists() else 0
            return dg.AssetCheckResult(
                passed=n == 0,
                description=f"{n} rows of {table} (in no month) have no {column}"
                if n
                else f"every {table} row is dated",
                metadata={"rule": f"{system}_source_rows_dated", "undated_rows": n, "table": table},
            )

        return per_month(months_of(context), result)

    return _check


def _harmonised_check(rule: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset="harmonised_offences",
        name=f"harmonised_{rule}",
        blocking=True,
        description=f"Harmonised crimes: {DESCRIPTIONS[rule]}",
    )
    def _check(context: dg.AssetCheckExecutionContext, workarea: WorkAreaResource) -> dg.AssetCheckResult:
        area = workarea.area
        return per_month_grouped(
            months_of(context),
            lambda m: read_columns(area.harmonised_path(m), harmonised.COLUMNS[rule]),
            lambda frame, m: harmonised_result(rule, frame, m),
            month_free=rule not in harmonised.MONTH_RULES,
        )

    return _check


def _dataset_check(dataset: DatasetSpec, rule: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dataset.asset_name,
        name=f"{dataset.slug}_{rule}",
        blocking=True,
        description=f"{dataset.title}: {DESCRIPTIONS[rule]}",
    )
    def _check(context: dg.AssetCheckExecutionContext, workarea: WorkAreaResource) -> dg.AssetCheckResult:
        month, area = partition_of(context), workarea.area
        files = read_dataset_files(area, dataset.slug, month)
        return dataset_result(dataset, rule, files, month, read_ledger(area, month))

    return _check


def dataset_checks(dataset: DatasetSpec) -> list[dg.AssetChecksDefinition]:
    """The blocking checks of a catalogue table: one per quality rule its specification names."""
    return [_dataset_check(dataset, rule) for rule in dataset.quality_rules]


@dg.asset_check(asset=headline().asset_name, name="volume_within_trailing_range", blocking=False)
def volume_within_trailing_range(
    context: dg.AssetCheckExecutionContext, workarea: WorkAreaResource
) -> dg.AssetCheckResult:
    """Month total and each major category within +-25% of the trailing twelve months (a warning)."""
    month = partition_of(context)
    files = read_dataset_files(workarea.area, headline().slug, month)
    return volume_result(files.get("24m", pd.DataFrame()), month)


@dg.asset_check(asset=headline().asset_name, name="month_volume_plausible", blocking=True)
def month_volume_plausible(
    context: dg.AssetCheckExecutionContext,
    workarea: WorkAreaResource,
    state: StateResource,
    governance: GovernanceResource,
) -> dg.AssetCheckResult:
    """Blocks a month with no crime, or below METPIPELINE_MIN_VOLUME_RATIO of its trailing mean (a broken
    feed), unless a data owner acknowledged exactly that total (`acknowledge_volume`)."""
    from metpipeline.governance import acknowledge

    month = partition_of(context)
    files = read_dataset_files(workarea.area, headline().slug, month)
    found = plausibility.assess(files.get("24m", pd.DataFrame()), month, governance.min_volume_ratio)
    metadata: dict[str, dg.RawMetadataValue] = {
        "month_total": found.total,
        "trailing_mean": round(found.trailing_mean, 1) if found.trailing_mean is not None else None,
        "min_ratio": found.min_ratio,
    }
    if found.plausible:
        return dg.AssetCheckResult(passed=True, description=found.describe(), metadata=metadata)
    engine, key, registry = state.engine(), governance.ledger_key(context.log.info), governance.registry()
    ack = acknowledge.find(engine, key, registry, month, found.total)
    earlier = acknowledge.stale(engine, key, registry, month, found.total) if ack is None else []
    if ack is not None:
        metadata["acknowledged"] = ack.describe()
        return dg.AssetCheckResult(
            passed=True, description=f"{found.describe()}; {ack.describe()}", metadata=metadata
        )
    link = acknowledge.launchpad_link(governance.ui_base_url, month, found.total)
    metadata["acknowledge_in_launchpad"] = dg.MetadataValue.url(link)
    return dg.AssetCheckResult(
        passed=False,
        description=f"{found.describe()}. Check the DataMart feed for {month}; if the figure is real, a "
        f"data owner records it with the `acknowledge_volume` job (total {found.total}; its Launchpad with "
        f"{month} and the total filled in: {link}) and the month is released again"
        + (
            f" (an acknowledgement of this total by {', '.join(a.approver for a in earlier)} was made under "
            "an earlier owners registry or by someone it no longer lists, and no longer counts)"
            if earlier
            else ""
        ),
        metadata=metadata,
    )


def publishable_files(publishable: Path, slug: str, month: str) -> dict[str, pd.DataFrame]:
    """What the totals rule reads of a dataset's publishable files: the release month's column of the
    24-month file, as text (the historical file, 175 months of the LSOA table, is not read)."""
    path = publishable / slug / csv_name(slug, "24m")
    if not path.exists():
        return {}
    column = yyyymm(month)
    columns = [column] if column in read_header(path) else []
    return {"24m": pd.read_csv(path, dtype=str, keep_default_na=False, usecols=columns)}


@dg.asset_check(asset="disclosed_datasets", name="publishable_totals_reconcile", blocking=True)
def publishable_totals_reconcile(
    context: dg.AssetCheckExecutionContext, workarea: WorkAreaResource
) -> dg.AssetCheckResult:
    """Each publishable file the totals rule applies to and the policy left unsuppressed (published as
    counted, or rows withheld): its month total plus what was withheld reconciles with the ledger. A file
    with suppressed cells has no month total to check; its counts file was checked before disclosure."""
    month, area = partition_of(context), workarea.area
    ledger, publishable = read_ledger(area, month), area.publishable_dir(month)
    record = WorkArea.read_json(publishable / "disclosure.json")
    actions = record.get("actions", {})
    summed = [
        s
        for s in CATALOGUE.values()
        if "totals_reconcile" in s.quality_rules and actions.get(s.slug) != "suppress"
    ]
    withheld = {
        s.slug: int(record.get("withheld_totals", {}).get(s.slug, {}).get(month.replace("-", ""), 0))
        for s in summed
    }
    results = [
        dataset_result(
            s,
            "totals_reconcile",
            publishable_files(publishable, s.slug, month),
            month,
            ledger,
            withheld=withheld[s.slug],
        )
        for s in summed
    ]
    return dg.AssetCheckResult(
        passed=all(r.passed for r in results),
        description="; ".join(f"{r.metadata['rule'].value}: {r.description}" for r in results),
        metadata={
            **{f"withheld_{slug}": n for slug, n in withheld.items()},
            "rule": "publishable_totals_reconcile",
        },
    )


# What each rule means, in plain words: shown as the check's description in the UI and the report.
DESCRIPTIONS = {
    "key_unique": "every record's key appears once (a duplicate would be counted twice).",
    "key_not_null": "every record has a key.",
    "required_not_null": "the fields the counting rules need are filled in.",
    "status_vocabulary": "every record's status is one the counting rules know.",
    "premises_type_vocabulary": "every premises type is one the classification knows.",
    "flags_vocabulary": "hate-crime and domestic-abuse flags hold only their allowed values.",
    "recorded_in_extraction_window": "every record belongs to the month extracted.",
    "offence_code_known": "every offence code is in the Home Office / MPS classification.",
    "every_record_classified": "every counted crime has a major and minor category.",
    "month_is_partition": "every counted crime belongs to the month released.",
    "borough_is_published": "every crime's borough is one of the published boroughs (or Unknown).",
    "columns": "the file has exactly the published columns, in order.",
    "counts_valid": "every count is a whole number of at least zero (or the suppression marker); each "
    "distinct value is judged once.",
    "totals_reconcile": "the file's month total equals the crimes counted (less withheld categories).",
}

EXTRACT_RULES = tuple(extracts.RULES)
HARMONISED_RULES = tuple(harmonised.RULES)
DATASET_RULES = {slug: spec.quality_rules for slug, spec in CATALOGUE.items()}

CHECKS: list[dg.AssetChecksDefinition] = [
    *(_extract_check(s, r) for s in ("cris", "connect") for r in EXTRACT_RULES),
    *(_dated_check(s) for s in ("cris", "connect")),
    *(_harmonised_check(r) for r in HARMONISED_RULES),
    *(check for spec in CATALOGUE.values() for check in dataset_checks(spec)),
    volume_within_trailing_range,
    month_volume_plausible,
    publishable_totals_reconcile,
]
