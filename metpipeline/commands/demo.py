"""`make run`: the whole monthly cycle on the embedded default, in one command.

Seed the embedded DataMart if absent → release the latest complete month → record the approval as the
embedded demo owner → publish what the approval sensor would publish → print a summary. Only the
embedded owner registry names a demo owner; against any other registry the demo stops after staging and
says who must approve.
"""

from pathlib import Path

import dagster as dg

from metpipeline import settings

DEMO_APPROVER = "demo.owner"


def _embedded_registry() -> bool:
    default = settings.OWNERS_FILE.default()
    return Path(settings.OWNERS_FILE.value() or "").resolve() == Path(default or "").resolve()


def ensure_datamart(say) -> None:
    """Seed the embedded DataMart (default range) unless it already holds data."""
    from metpipeline.datamart.seed import DataMartNotEmpty, seed_datamart

    url = settings.DATAMART_URL.value() or ""
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    try:
        say("embedded DataMart: seeding 2022-01 to the last complete month unless it holds data (~1 min)")
        summary = seed_datamart(url, progress=True)
        print(summary.render(), flush=True)
    except DataMartNotEmpty:
        say(f"DataMart already seeded at {settings.redact_url(url)}: using it")


def approve_as_demo_owner(month: str, say) -> list[str]:
    from metpipeline.governance import decide, ledger
    from metpipeline.governance.registry import DATASETS
    from metpipeline.resources import default_resources

    resources = default_resources()
    engine = resources["state"].engine()
    registry = resources["governance"].registry()
    key = resources["governance"].ledger_key(say)
    approved = []
    for dataset in DATASETS:
        current = ledger.current_candidate(engine, dataset, month)
        if current is None:
            raise SystemExit(f"no candidate staged for {dataset} {month}")
        if ledger.decisions_for(engine, dataset, month, current.content_hash):
            say(f"{dataset} {month}: candidate {current.content_hash[:12]}… already decided")
            continue
        decide.record_decision(
            engine,
            key,
            registry,
            dataset,
            month,
            "approve",
            DEMO_APPROVER,
            "approved by the embedded demo owner (make run)",
            current.content_hash,
        )
        approved.append(dataset)
        say(f"{dataset} {month}: candidate {current.content_hash[:12]}… approved as {DEMO_APPROVER}")
    return approved


def publish_approved(say, run_job) -> None:
    """Evaluate the approval sensor once and execute the publish runs it requests, in this process."""
    from metpipeline.governance import ledger
    from metpipeline.publish.sensors import approval_sensor
    from metpipeline.resources import default_resources

    with _instance() as instance:
        resources = default_resources()
        state = resources["state"]
        # What the approval sensor asks for.
        wanted = {
            "state": state,
            "governance": resources["governance"],
            "publication": resources["publication"],
        }
        context = dg.build_sensor_context(instance=instance, resources=wanted)
        result = approval_sensor(context)
    # Evaluated from the start of the ledger, the sensor asks again for candidates published by an earlier
    # `make run`; publishing them again would change nothing, so those runs are not launched at all.
    engine = state.engine()
    requests = [
        r
        for r in getattr(result, "run_requests", None) or []
        if ledger.publication_for(engine, *_candidate_of(r)) is None
    ]
    if not requests:
        say("nothing new to publish (every approved candidate is already published)")
    for request in requests:
        say(f"publishing {request.tags.get('metpipeline/dataset')} {request.tags.get('metpipeline/month')}")
        run_job("publish_job", run_config=request.run_config, tags=dict(request.tags))


def _candidate_of(request: dg.RunRequest) -> tuple[str, str, str]:
    """(dataset, month, content hash) of a publish run request, from its run config."""
    config = next(iter(request.run_config["ops"].values()))["config"]
    return config["dataset"], config["month"], config["candidate_hash"]


def _instance():
    from metpipeline.commands.instance import ensure_dagster_home

    ensure_dagster_home()
    return dg.DagsterInstance.get()


def run_demo(say, release_month, run_job, month: str) -> int:
    from metpipeline.runs.release_summary import print_release_summary

    ensure_datamart(say)
    release_month(month)
    if not _embedded_registry():
        say(
            "the owner registry is not the embedded demo: candidates are staged and wait for a registered "
            f"data owner, who decides on the decision page (make ui, then /approvals/{month}), or with "
            "`metpipeline approve`"
        )
        print_release_summary(month)
        return 0
    approve_as_demo_owner(month, say)
    publish_approved(say, run_job)
    print_release_summary(month)
    return 0
