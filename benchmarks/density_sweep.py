"""Disclosure control at every density: one month's release at several fractions of MPS volume.

For each `--scales` value this runs `run_benchmark.py --skip-backfill` on a DataMart seeded at that scale
for `--first-month` .. `--last-month` (seeded once, then reused), and reports the release's wall time and
the disclosure steps: `disclosed_datasets` (suppression) and the `disclosure_published_cells` step (the
threshold and differencing checks).
The defaults are the case that once stalled: 2024-01 .. 2024-02 (the first months of a series), releasing
2024-02.

    uv run python benchmarks/density_sweep.py                       # 0.05, 0.3 and 1.0
    uv run python benchmarks/density_sweep.py --scales 0.05 0.3     # a quicker look

Results: one JSON per run under benchmarks/results/ (from run_benchmark.py) and the table printed here.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
STEPS = ("disclosed_datasets", "disclosure_published_cells", "release_candidates")


def run(scale: float, first: str, last: str) -> dict:
    before = set(RESULTS.glob("benchmark-*.json")) if RESULTS.is_dir() else set()
    command = [
        sys.executable, str(HERE / "run_benchmark.py"),
        "--scale", str(scale), "--first-month", first, "--last-month", last, "--skip-backfill",
    ]  # fmt: skip
    print(f"[sweep] scale {scale}: {' '.join(command[1:])}", flush=True)
    subprocess.run(command, check=True)
    new = sorted(set(RESULTS.glob("benchmark-*.json")) - before)
    return json.loads(new[-1].read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[0.05, 0.3, 1.0])
    parser.add_argument("--first-month", default="2024-01")
    parser.add_argument("--last-month", default="2024-02")
    args = parser.parse_args(argv)
    rows = []
    for scale in args.scales:
        result = run(scale, args.first_month, args.last_month)
        release = result["phases"]["a_release"]
        steps = release.get("steps_s", {})
        rows.append(
            {
                "scale": scale,
                "rows": release.get("rows"),
                "release_s": release.get("wall_s"),
                **{step: steps.get(step) for step in STEPS},
                "peak_mib": release.get("peak_rss_mib"),
            }
        )
    print(f"\n[sweep] {time.strftime('%Y-%m-%d %H:%M')} {args.first_month} .. {args.last_month}")
    columns = ["scale", "crimes extracted", "release", "disclosed_datasets", "checks", "staging", "peak RSS"]
    print("| " + " | ".join(columns) + " |")
    print("|---" * len(columns) + "|")
    for r in rows:
        audit = r["disclosure_published_cells"]
        print(
            f"| {r['scale']} | {r['rows']:,} | {r['release_s']:.1f} s | {r['disclosed_datasets']:.1f} s | "
            f"{audit:.1f} s | {r['release_candidates']:.1f} s | {r['peak_mib']:,.0f} MiB |"
        )
    (RESULTS / f"density-sweep-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
