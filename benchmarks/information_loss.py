"""The cost of disclosure control on one release's counts: cells suppressed, crimes hidden, rows withheld.

Runs the suppression of whichever metpipeline is importable on a release's counts files (first version:
nothing earlier known) and prints its information loss as JSON. To compare two procedures, run it with each
on the same counts, e.g. the current checkout against an earlier commit checked out beside it:

    uv run python benchmarks/information_loss.py var/work/releases/2024-02/counts
    git worktree add /tmp/earlier <commit>
    PYTHONPATH=/tmp/earlier uv run python benchmarks/information_loss.py var/work/releases/2024-02/counts

The drawn procedure's secret here is a fixed benchmark value (another secret draws other cells, at about
the same cost).
"""

import inspect
import json
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    import metpipeline
    from metpipeline.disclosure.audit import audit_release
    from metpipeline.disclosure.files import read_counts
    from metpipeline.disclosure.policy import load_policy
    from metpipeline.disclosure.suppress import apply_policy
    from metpipeline.reference import category_sensitivity

    policy_file = Path(metpipeline.__file__).parent / "disclosure" / "policy.yaml"
    policy = load_policy(policy_file)
    release = read_counts(Path(argv[0]))
    kwargs = {}
    if "secret" in inspect.signature(apply_policy).parameters:
        kwargs["secret"] = b"metpipeline benchmark: complement draw secret"
    started = time.perf_counter()
    outcome = apply_policy(release, policy, category_sensitivity(), **kwargs)
    suppress_s = time.perf_counter() - started
    started = time.perf_counter()
    audit = audit_release(release, policy).summary()
    loss = outcome.information_loss(release)
    print(
        json.dumps(
            {
                "code": str(Path(metpipeline.__file__).parent.parent),
                "policy_version": policy.version,
                "suppression_s": round(suppress_s, 1),
                "audit_s": round(time.perf_counter() - started, 1),
                "audit_passed": audit["cells_failing"] == 0,
                "by_dataset": {
                    slug: {k: v for k, v in d.items() if k != "by_category"} for slug, d in loss.items()
                },
                "by_category": {slug: d["by_category"] for slug, d in loss.items()},
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
