"""Performance benchmark of the monthly release and the back-fill on a DataMart at MPS scale.

Measures, each phase in its own subprocess so that peak memory (ru_maxrss) belongs to that phase alone:

  seed      synthetic DataMart for --first-month .. --last-month (skipped when an existing one is reused)
  backfill  (d) `backfill_job` over every month --first-month .. --last-month in one run
            (with --skip-backfill: the months before --last-month only, untimed preparation for (a))
  release   (a) `monthly_release_job` for --last-month, every earlier month already extracted:
            extract → harmonise → datasets → checks → disclosure → report → staged candidates
  previous  the release of the month before, straight after the back-fill (untimed against targets): its
            historical tables are built from every month's cells, which the release of the month then extends
  sql       (b) bare `pd.read_sql` of the project's own sql/extract/*.sql for the same month (the floor)
  naive     (c) a script a user might write instead: SELECT * of the 24-month window (joins for CONNECT),
            group by to the borough file (MajorText, MinorText, BoroughName × 24 month columns)
  extract   (e) extraction of the month as the release's extract steps do it (each table's state, then
            `extract_cris` + `extract_connect`) on the DataMart, then on a copy with every secondary index
            dropped (SQLite only; the copy is made under --workdir and removed); the second of two passes,
            from the page cache; the month queries alone are timed too (detail)

Targets: (a) ≤ (c) / 2 with peak RSS ≤ 1 GiB; (d) ≤ 5 minutes with peak RSS ≤ 1 GiB; (e) unindexed ≤ 2 ×
indexed. Runs use a temporary DAGSTER_HOME and
work area under --workdir; the DataMart is kept under benchmarks/results/ and reused by the next run.

    uv run python benchmarks/run_benchmark.py                                  # full: 2010-04 .. last month
    uv run python benchmarks/run_benchmark.py --scale 0.05 --first-month 2024-01 --last-month 2024-06 \\
        --skip-backfill                                                        # smoke run, about a minute
"""

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"

TARGET_A_OVER_C = 0.5
TARGET_RSS_MIB = 1024.0
TARGET_BACKFILL_SECONDS = 300.0
TARGET_UNINDEXED_OVER_INDEXED = 2.0

# The naive script's SQL: what a user would type in a notebook. Written with the `dm.` schema like the
# project's files and passed through the same dialect translation, so it runs on SQLite and SQL Server.
NAIVE_CRIS_SQL = """
SELECT * FROM dm.cris_crime_report
WHERE recorded_at >= :window_start AND recorded_at < :window_end
"""
NAIVE_CONNECT_SQL = """
SELECT * FROM dm.connect_offence AS o
LEFT JOIN dm.connect_occurrence AS occ ON occ.occurrence_id = o.occurrence_id
LEFT JOIN dm.connect_location AS loc ON loc.location_id = occ.location_id
WHERE o.recorded_at_utc >= :window_start AND o.recorded_at_utc < :window_end
"""
CUTOVER = datetime(2024, 2, 28)


def say(message: str) -> None:
    print(f"[benchmark {time.strftime('%H:%M:%S')}] {message}", flush=True)


def last_complete_month() -> str:
    now = datetime.now(ZoneInfo("Europe/London"))
    year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def add_months(month: str, n: int) -> str:
    year, mon = map(int, month.split("-"))
    index = year * 12 + (mon - 1) + n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_arg(text: str) -> str:
    try:
        datetime.strptime(text, "%Y-%m")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a month: expected YYYY-MM") from None
    return text


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _tree_rss_mib(pid: int) -> float:
    """Resident set size of `pid` and all its descendants now (a back-fill's helper processes count too)."""
    total_kib, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text().splitlines()
            total_kib += next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration, ValueError):  # the process ended while it was read
            continue
    return total_kib / 1024


class TreeRssSampler:
    """The largest sum of the process tree's RSS, sampled every 0.1 s on a thread (a spike shorter than
    that between two samples can be missed; the process's own peak, from the kernel, cannot)."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, _tree_rss_mib(os.getpid()))

    def __enter__(self) -> "TreeRssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# --- phases (each runs in a child process; the environment is set by the parent before any import) ----


def phase_seed(spec: dict) -> dict:
    import inspect

    from metpipeline.datamart.seed import seed_datamart

    kwargs: dict = {"seed": spec["seed"], "progress": True}
    params = inspect.signature(seed_datamart).parameters
    if "scale" in params:
        kwargs["scale"] = spec["scale"]
    elif spec["scale"] != 1.0:
        raise SystemExit("this seeder has no `scale` parameter: run without --scale")
    t0 = time.perf_counter()
    seed_datamart(spec["url"], spec["first_month"], spec["last_month"], **kwargs)
    wall = time.perf_counter() - t0
    counts = table_counts(spec["url"])
    return {"wall_s": wall, "rows": counts["cris_crime_report"] + counts["connect_offence"], "tables": counts}


# Static per-table queries (table names are the contract's, never input), translated like the project's SQL.
COUNT_SQL = {
    "cris_crime_report": "SELECT COUNT(*) FROM dm.cris_crime_report",
    "connect_offence": "SELECT COUNT(*) FROM dm.connect_offence",
    "connect_occurrence": "SELECT COUNT(*) FROM dm.connect_occurrence",
    "connect_location": "SELECT COUNT(*) FROM dm.connect_location",
}


def table_counts(url: str) -> dict[str, int]:
    import sqlalchemy as sa

    from metpipeline.db import make_engine, translate_sql

    engine = make_engine(url)
    with engine.connect() as conn:
        return {
            table: int(conn.execute(sa.text(translate_sql(sql, engine.dialect.name))).scalar_one())
            for table, sql in COUNT_SQL.items()
        }


def extracted_rows(work_dir: str, months: list[str]) -> dict[str, int]:
    import pyarrow.parquet as pq

    out = {"cris": 0, "connect": 0, "harmonised": 0}
    root = Path(work_dir)
    for month in months:
        for kind, path in (
            ("cris", root / "extract" / "cris" / f"{month}.parquet"),
            ("connect", root / "extract" / "connect" / f"{month}.parquet"),
            ("harmonised", root / "harmonised" / f"{month}.parquet"),
        ):
            if path.exists():
                out[kind] += pq.ParquetFile(path).metadata.num_rows
    return out


def phase_backfill(spec: dict) -> dict:
    t0 = time.perf_counter()
    from metpipeline.commands import release as operate
    from metpipeline.runs.release_chain import RANGE_END_TAG, RANGE_START_TAG

    operate._defs()
    import_s = time.perf_counter() - t0
    start, end = spec["start"], spec["end"]
    t1 = time.perf_counter()
    result = operate._run("backfill_job", tags={RANGE_START_TAG: start, RANGE_END_TAG: end})
    wall = time.perf_counter() - t1
    months = months_between(start, end)
    rows = extracted_rows(spec["work_dir"], months)
    return {
        "wall_s": wall,
        "import_s": import_s,
        "rows": rows["cris"] + rows["connect"],
        "detail": rows | {"months": len(months)},
        "steps_s": step_durations(result.run_id),
        "run_id": result.run_id,
    }


def phase_release(spec: dict) -> dict:
    t0 = time.perf_counter()
    from metpipeline.commands import release as operate

    operate._defs()
    import_s = time.perf_counter() - t0
    month = spec["month"]
    t1 = time.perf_counter()
    result = operate._run("monthly_release_job", partition_key=month)
    wall = time.perf_counter() - t1
    rows = extracted_rows(spec["work_dir"], [month])
    step_s = step_durations(result.run_id)
    borough = our_borough_table(spec["work_dir"], month)
    return {
        "wall_s": wall,
        "import_s": import_s,
        "rows": rows["cris"] + rows["connect"],
        "detail": rows | {"borough_24m_rows": borough[0], "borough_24m_total": borough[1]},
        "steps_s": step_s,
        "run_id": result.run_id,
    }


def step_durations(run_id: str) -> dict[str, float]:
    """Seconds per step of a run, from the instance's step statistics, slowest first."""
    from metpipeline.commands import release as operate

    stats = operate._instance().get_run_step_stats(run_id)
    out = {s.step_key: round(s.end_time - s.start_time, 2) for s in stats if s.start_time and s.end_time}
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def our_borough_table(work_dir: str, month: str) -> tuple[int | None, int | None]:
    """Rows and total count of the pipeline's unsuppressed 24-month borough table for `month`."""
    import pandas as pd

    counts = Path(work_dir) / "releases" / month / "counts"
    files = sorted(counts.glob("borough__24m*.parquet")) if counts.is_dir() else []
    if not files:
        return None, None
    df = pd.read_parquet(files[0])
    month_cols = [c for c in df.columns if str(c).isdigit()]
    return len(df), int(df[month_cols].to_numpy().sum())


def months_between(start: str, end: str) -> list[str]:
    out, month = [], start
    while month <= end:
        out.append(month)
        month = add_months(month, 1)
    return out


def phase_sql(spec: dict) -> dict:
    import pandas as pd
    import sqlalchemy as sa

    from metpipeline.db import load_sql, make_engine
    from metpipeline.extract.queries import sql_window

    engine = make_engine(spec["url"])
    params = sql_window(spec["month"])
    rows = {}
    t0 = time.perf_counter()
    for system, sql_file in (
        ("cris", "extract/cris_offences.sql"),
        ("connect", "extract/connect_offences.sql"),
    ):
        stmt = load_sql(sql_file, engine.dialect.name).bindparams(
            *(sa.bindparam(name, type_=sa.DateTime()) for name in params)
        )
        with engine.connect() as conn:
            rows[system] = len(pd.read_sql(stmt, conn, params=params))
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "rows": rows["cris"] + rows["connect"], "detail": rows}


def phase_extract(spec: dict) -> dict:
    """(e) The month's extraction as a release's two extract steps do it, through the pipeline's own
    functions: each table's state (watermark, undated rows, latest recording time: one pass over the table),
    then the month's rows (SQL, checks of the contract's columns, text normalisation). Also timed apart: the
    month queries alone, as (e) measured them before the state told them which months hold no rows."""
    from metpipeline.db import make_engine
    from metpipeline.extract.queries import extract_connect, extract_cris, source_state

    engine = make_engine(spec["url"])

    def as_a_release_does() -> tuple[float, int, dict]:
        detail: dict = {}
        rows = 0
        t0 = time.perf_counter()
        for system, extract in (("CRIS", extract_cris), ("CONNECT", extract_connect)):
            s0 = time.perf_counter()
            state = source_state(engine, system)
            s1 = time.perf_counter()
            frame = extract(engine, spec["month"], checked=True, latest_recorded=state.latest_recorded)
            s2 = time.perf_counter()
            rows += len(frame)
            detail[system.lower()] = len(frame)
            detail[f"{system.lower()}_state_s"] = round(s1 - s0, 2)
            detail[f"{system.lower()}_month_s"] = round(s2 - s1, 2)
        return time.perf_counter() - t0, rows, detail

    # Twice: the first pass may read the tables from disk (the state is a scan of each whole table), which
    # measures the disk, not the queries; the second, from the page cache, is the one compared.
    cold_s, _, _ = as_a_release_does()
    wall, rows, detail = as_a_release_does()
    detail["first_pass_s"] = round(cold_s, 2)
    for system, extract in (("CRIS", extract_cris), ("CONNECT", extract_connect)):
        s0 = time.perf_counter()
        extract(engine, spec["month"], checked=True)
        detail[f"{system.lower()}_month_query_alone_s"] = round(time.perf_counter() - s0, 2)
    return {"wall_s": wall, "rows": rows, "detail": detail}


def unindexed_copy(db_path: Path, scratch: Path) -> tuple[Path, list[str]]:
    """A copy of the SQLite DataMart with every secondary index dropped (the contract promises none)."""
    import sqlite3

    copy = scratch / "datamart-unindexed.sqlite"
    shutil.copyfile(db_path, copy)
    with sqlite3.connect(copy) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")]  # fmt: skip
        for name in names:
            conn.execute(f'DROP INDEX "{name}"')  # names read from the copy's own catalogue
    return copy, names


def phase_naive(spec: dict) -> dict:
    import pandas as pd
    import sqlalchemy as sa

    from metpipeline.db import make_engine, translate_sql

    month = spec["month"]
    first = add_months(month, -23)
    window = {
        "window_start": datetime.strptime(first, "%Y-%m"),
        "window_end": datetime.strptime(add_months(month, 1), "%Y-%m"),
    }
    wide = {"window_start": datetime.strptime(add_months(first, -1), "%Y-%m"),
            "window_end": datetime.strptime(add_months(month, 2), "%Y-%m")}  # fmt: skip
    ref = REPO_ROOT / "metpipeline" / "reference"
    engine = make_engine(spec["url"])

    t0 = time.perf_counter()
    classes = pd.read_csv(ref / "offence_classification.csv", dtype=str)
    units = pd.read_csv(ref / "mps_units.csv", dtype=str)
    frames = []
    rows_read = {}
    with engine.connect() as conn:
        # The whole table for the window, every column: what a user without the pipeline would do.
        # The frames stay in this process's memory only; nothing read here is written or printed.
        for system, sql, params in (("cris", NAIVE_CRIS_SQL, window), ("connect", NAIVE_CONNECT_SQL, wide)):
            stmt = sa.text(translate_sql(sql, engine.dialect.name)).bindparams(
                *(sa.bindparam(name, type_=sa.DateTime()) for name in params)
            )
            df = pd.read_sql(stmt, conn, params=params)
            df = df.loc[:, ~df.columns.duplicated()]
            rows_read[system] = len(df)
            if system == "cris":
                when = pd.to_datetime(df["recorded_at"], format="ISO8601")
                df = df[(df["crime_status"] == "CRIME") & (when < CUTOVER)]
                when = when[df.index]
                code, prem = (
                    df["offence_code"],
                    df["premises_type"].map(
                        {"DWELLING": "HOME", "UNCONNECTED BUILDING": "UNCONNECTED BUILDING"}
                    ),
                )
                unit = df["recorded_ocu"].map(
                    dict(zip(units.cris_ocu_code, units.published_borough_name, strict=True))
                )
                code_col = "cris_offence_code"
            else:
                when = pd.to_datetime(df["recorded_at_utc"], format="ISO8601")
                when = when.dt.tz_localize("UTC").dt.tz_convert("Europe/London").dt.tz_localize(None)
                df = df[df["offence_status"] == "CONFIRMED"]
                when = when[df.index]
                code, prem = (
                    df["ho_offence_code"],
                    df["premises_type"].map(
                        {
                            "Residential - Home": "HOME",
                            "Residential - Unconnected Building": "UNCONNECTED BUILDING",
                        }
                    ),
                )
                unit = df["owning_unit_code"].map(
                    dict(zip(units.connect_unit_code, units.published_borough_name, strict=True))
                )
                code_col = "ho_code"
            frames.append(pd.DataFrame({
                "month": when.dt.strftime("%Y%m").to_numpy(),
                "code": code.to_numpy(),
                "prem": prem.fillna("HOME").to_numpy(),
                "BoroughName": unit.fillna("Unknown").to_numpy(),
                "code_col": code_col,
            }))  # fmt: skip
    crimes = pd.concat(frames, ignore_index=True)
    lookup = pd.concat(
        [
            classes[[col, "premises_type", "mps_major", "mps_minor"]].rename(columns={col: "code"}).assign(
                code_col=col)
            for col in ("cris_offence_code", "ho_code")
        ]
    )  # fmt: skip
    crimes = crimes.merge(lookup, on=["code_col", "code"], how="left")
    crimes = crimes[(crimes["premises_type"] == "ANY") | (crimes["premises_type"] == crimes["prem"])]
    months = [m.replace("-", "") for m in months_between(first, month)]
    crimes = crimes[crimes["month"].isin(months)]
    table = (
        crimes.groupby(["mps_major", "mps_minor", "BoroughName", "month"]).size()
        .unstack("month", fill_value=0).reindex(columns=months, fill_value=0)
        .reset_index().rename(columns={"mps_major": "MajorText", "mps_minor": "MinorText"})
    )  # fmt: skip
    out_path = Path(spec["out_dir"]) / f"naive_borough_{month}.csv"
    table.to_csv(out_path, index=False)
    wall = time.perf_counter() - t0
    return {
        "wall_s": wall,
        "rows": sum(rows_read.values()),
        "detail": rows_read
        | {"borough_24m_rows": len(table), "borough_24m_total": int(table[months].sum().sum())},
    }


PHASES = {"seed": phase_seed, "backfill": phase_backfill, "release": phase_release, "sql": phase_sql,
          "naive": phase_naive, "extract": phase_extract}  # fmt: skip


def child_main(phase: str, spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    with TreeRssSampler() as tree:
        result = PHASES[phase](spec)
    # The phase's peak: its own process's, or the sampled sum with the helpers it started, if larger.
    result["own_peak_rss_mib"] = round(peak_rss_mib(), 1)
    result["tree_peak_rss_mib"] = round(tree.peak, 1)
    result["peak_rss_mib"] = max(result["own_peak_rss_mib"], result["tree_peak_rss_mib"])
    Path(spec["result_path"]).write_text(json.dumps(result, indent=2, default=str))
    return 0


# --- the parent: environment, phases in order, summary ------------------------------------------------


def run_phase(phase: str, spec: dict, env: dict, scratch: Path, log) -> dict:
    spec = dict(spec, result_path=str(scratch / f"{phase}.result.json"))
    spec_path = scratch / f"{phase}.spec.json"
    spec_path.write_text(json.dumps(spec))
    say(f"phase {phase}: starting")
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child-phase",
            phase,
            "--child-spec",
            str(spec_path),
        ],
        env=env,
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    if proc.returncode != 0:
        raise SystemExit(f"phase {phase} failed (exit {proc.returncode}); see {log.name}")
    result = json.loads(Path(spec["result_path"]).read_text())
    result["process_s"] = round(time.perf_counter() - t0, 1)
    say(
        f"phase {phase}: {result['wall_s']:.1f} s, {result.get('rows', 0):,} rows, "
        f"peak RSS {result['peak_rss_mib']:,.0f} MiB"
    )
    return result


def resolve_datamart(args) -> tuple[str, Path | None]:
    """(SQLAlchemy URL, SQLite file or None). --url takes a URL or a path; default: a file per range/scale."""
    if args.url:
        if "://" in args.url:
            path = Path(args.url[len("sqlite:///") :]) if args.url.startswith("sqlite:///") else None
            return args.url, path
        path = Path(args.url).resolve()
        return f"sqlite:///{path}", path
    scale = f"{args.scale:g}".replace(".", "p")
    path = RESULTS_DIR / f"datamart_{args.first_month}_{args.last_month}_x{scale}_seed{args.seed}.sqlite"
    return f"sqlite:///{path}", path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark the monthly release and the back-fill against bare SQL and a naive script.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument(
        "--first-month", type=month_arg, default="2010-04", help="first seeded month (2010-04)"
    )
    parser.add_argument(
        "--last-month",
        type=month_arg,
        default=last_complete_month(),
        help="the release month and last seeded month (default: the last complete month)",
    )
    parser.add_argument(
        "--skip-backfill",
        action="store_true",
        help="do not time (d); months before the release month are still extracted first",
    )
    parser.add_argument("--url", help="existing DataMart: a SQLAlchemy URL or a SQLite file path "
                        "(a SQLite path that does not exist yet is seeded there)")  # fmt: skip
    parser.add_argument(
        "--workdir",
        type=Path,
        default=RESULTS_DIR,
        help="where the temporary DAGSTER_HOME and work area are made (default benchmarks/results)",
    )
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of MPS volumes to seed (1.0)")
    parser.add_argument("--seed", type=int, default=2010, help="random seed of the synthetic DataMart")
    parser.add_argument("--keep", action="store_true", help="keep the temporary DAGSTER_HOME and work area")
    parser.add_argument("--skip-unindexed", action="store_true", help="do not measure (e)")
    parser.add_argument("--child-phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--child-spec", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_phase:
        return child_main(args.child_phase, args.child_spec)
    if args.first_month >= args.last_month:
        parser.error("--first-month must be before --last-month")

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    args.workdir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    scratch = Path(tempfile.mkdtemp(prefix=f"run-{stamp}-", dir=args.workdir))
    log_path = RESULTS_DIR / f"benchmark-{stamp}.log"
    url, db_path = resolve_datamart(args)
    month = args.last_month
    env = dict(os.environ)
    env.update(
        METPIPELINE_FIRST_MONTH=args.first_month,  # read by metpipeline.months.partitions at import
        METPIPELINE_DATAMART_URL=url,
        METPIPELINE_VAR_DIR=str(scratch / "var"),
        METPIPELINE_WORK_DIR=str(scratch / "work"),
        METPIPELINE_STATE_URL=f"sqlite:///{scratch / 'state.sqlite'}",
        METPIPELINE_BUCKET_URL=str(scratch / "bucket"),
        DAGSTER_HOME=str(scratch / "dagster_home"),
        PYTHONUNBUFFERED="1",
    )
    (scratch / "dagster_home").mkdir()
    shutil.copyfile(REPO_ROOT / "dagster.yaml", scratch / "dagster_home" / "dagster.yaml")
    base = {"url": url, "work_dir": env["METPIPELINE_WORK_DIR"], "out_dir": str(scratch)}
    results: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {mem_gib():.0f} GiB RAM, "
        f"python {platform.python_version()}",
        "commit": git_state(),
        "bytecode_compiled": bytecode_compiled(),
        "first_month": args.first_month,
        "release_month": month,
        "scale": args.scale,
        "datamart": redacted(url),
        "phases": {},
    }
    say(f"log of the phases: {log_path}")
    if not results["bytecode_compiled"]:
        say("the environment has no bytecode cache: run `make setup` first, or imports are timed as compiles")
    try:
        with log_path.open("w") as log:
            seeded_marker = db_path.with_suffix(".seeded.json") if db_path else None
            if db_path and not (db_path.exists() and (seeded_marker.exists() or args.url)):
                if db_path.exists():
                    db_path.unlink()  # a seeding that did not finish
                spec = base | {"first_month": args.first_month, "last_month": month, "seed": args.seed,
                               "scale": args.scale}  # fmt: skip
                seeded = run_phase("seed", spec, env, scratch, log)
                seeded["size_mib"] = round(db_path.stat().st_size / 2**20, 1)
                seeded_marker.write_text(json.dumps(seeded, indent=2))
                results["phases"]["seed"] = seeded
            else:
                say(f"reusing the DataMart {redacted(url)}")
                if seeded_marker and seeded_marker.exists():
                    results["seed_reused"] = json.loads(seeded_marker.read_text())
            if db_path and db_path.exists():
                results["datamart_size_mib"] = round(db_path.stat().st_size / 2**20, 1)

            if args.skip_backfill:
                spec = base | {"start": args.first_month, "end": add_months(month, -1)}
                results["phases"]["prepare"] = run_phase("backfill", spec, env, scratch, log)
            else:
                spec = base | {"start": args.first_month, "end": month}
                results["phases"]["d_backfill"] = run_phase("backfill", spec, env, scratch, log)
            previous = base | {"month": add_months(month, -1)}
            results["phases"]["previous_release"] = run_phase("release", previous, env, scratch, log)
            results["phases"]["a_release"] = run_phase("release", base | {"month": month}, env, scratch, log)
            results["phases"]["b_sql"] = run_phase("sql", base | {"month": month}, env, scratch, log)
            results["phases"]["c_naive"] = run_phase("naive", base | {"month": month}, env, scratch, log)
            if db_path and not args.skip_unindexed:
                extract = base | {"month": month}
                results["phases"]["e_indexed"] = run_phase("extract", extract, env, scratch, log)
                say("copying the DataMart and dropping its secondary indexes")
                copy, dropped = unindexed_copy(db_path, scratch)
                results["unindexed_dropped"] = dropped
                spec = extract | {"url": f"sqlite:///{copy}"}
                results["phases"]["e_unindexed"] = run_phase("extract", spec, env, scratch, log)
                # The index drops went to the copy's write-ahead log: removed with it.
                for suffix in ("", "-wal", "-shm"):
                    copy.with_name(copy.name + suffix).unlink(missing_ok=True)

        summary = summarise(results)
        results["targets"] = summary
        out = RESULTS_DIR / f"benchmark-{stamp}.json"
        out.write_text(json.dumps(results, indent=2, default=str))
        print_report(results)
        say(f"results written to {out}")
    finally:
        if args.keep:
            say(f"kept DAGSTER_HOME and work area under {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


def git_state() -> str:
    """HEAD of the repository, and whether code under metpipeline/ or sql/ differs from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "metpipeline", "sql"], cwd=REPO_ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}{' (with uncommitted changes)' if dirty else ''}"


def bytecode_compiled() -> bool:
    """Whether the environment's packages were compiled to bytecode at install (`make setup`)."""
    import importlib.util

    spec = importlib.util.find_spec("great_expectations")
    origin = Path(spec.origin) if spec and spec.origin else None
    return bool(origin and any((origin.parent / "__pycache__").glob("__init__.*.pyc")))


def mem_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def redacted(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"


def summarise(results: dict) -> list[dict]:
    p = results["phases"]
    a, c = p["a_release"], p["c_naive"]["wall_s"]
    targets = [
        {
            "target": "a/c <= 0.5",
            "value": round(a["wall_s"] / c, 2),
            "pass": a["wall_s"] / c <= TARGET_A_OVER_C,
        },
        {
            "target": "a peak RSS <= 1024 MiB",
            "value": a["peak_rss_mib"],
            "pass": a["peak_rss_mib"] <= TARGET_RSS_MIB,
        },  # fmt: skip
    ]
    if "d_backfill" in p:
        d = p["d_backfill"]
        targets.append({"target": "d <= 300 s", "value": round(d["wall_s"], 1),
                        "pass": d["wall_s"] <= TARGET_BACKFILL_SECONDS})  # fmt: skip
        targets.append({"target": "d peak RSS <= 1024 MiB", "value": d["peak_rss_mib"],
                        "pass": d["peak_rss_mib"] <= TARGET_RSS_MIB})  # fmt: skip
    if "e_unindexed" in p:
        ratio = p["e_unindexed"]["wall_s"] / p["e_indexed"]["wall_s"]
        targets.append({"target": "e unindexed/indexed <= 2", "value": round(ratio, 2),
                        "pass": ratio <= TARGET_UNINDEXED_OVER_INDEXED})  # fmt: skip
    return targets


def print_report(results: dict) -> None:
    p = results["phases"]
    print()
    print(f"DataMart {results['datamart']}  scale {results['scale']:g}  months {results['first_month']} .. "
          f"{results['release_month']}  size {results.get('datamart_size_mib', '?')} MiB")  # fmt: skip
    print(f"commit {results['commit']}; {results['machine']}")
    print(f"{'phase':<12} {'wall s':>9} {'rows':>12} {'rows/s':>11} {'peak RSS MiB':>13}")
    for name, r in p.items():
        rate = r["rows"] / r["wall_s"] if r.get("wall_s") else 0
        print(
            f"{name:<12} {r['wall_s']:>9.1f} {r.get('rows', 0):>12,} {rate:>11,.0f} "
            f"{r['peak_rss_mib']:>13,.0f}"
        )
    rel = p["a_release"]
    print(f"(a) import of the code location before the run: {rel.get('import_s', 0):.1f} s (not in wall)")
    ours, naive = rel["detail"], p["c_naive"]["detail"]
    print(
        f"borough file, 24 months: pipeline {ours.get('borough_24m_rows')} rows / "
        f"{ours.get('borough_24m_total')} crimes; naive {naive['borough_24m_rows']} rows / "
        f"{naive['borough_24m_total']} crimes"
    )
    for name in ("d_backfill", "prepare", "previous_release", "a_release"):
        if name in p:
            slowest = list(p[name].get("steps_s", {}).items())[:6]
            print(f"{name} slowest steps: " + ", ".join(f"{k} {v:.1f} s" for k, v in slowest))
    for name in ("e_indexed", "e_unindexed"):
        if name in p:
            print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in p[name]["detail"].items()))
    for t in results["targets"]:
        print(f"{'PASS' if t['pass'] else 'MISS'}  {t['target']:<24} measured {t['value']}")


if __name__ == "__main__":
    sys.exit(main())
