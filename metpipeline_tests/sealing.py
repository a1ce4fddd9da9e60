"""Identity seals for runs that tests launch in process, made as the server makes them (runseal.py).

In production `metpipeline ui` seals every run it stores and the schedule, sensors and command line seal
theirs; a test that runs a job in process seals it here, with the deployment's key, naming who it
pretends launched it."""

from metpipeline.governance import runseal

EPHEMERAL_JOB = "__ephemeral_asset_job__"  # the job `dg.materialize` runs


def sealed(
    job: str = EPHEMERAL_JOB,
    partition: str | None = None,
    run_config: dict | None = None,
    user: str | None = None,
    via: str = "ui",
    follows: str | None = None,
) -> dict[str, str]:
    """The seal tag for one run of `job` (for `partition`; bound to `run_config` when given)."""
    return runseal.seal_tags(
        runseal.load_key(lambda *_: None),
        user=user,
        via=via,
        job=job,
        partition=partition,
        run_config=run_config,
        bind_config=run_config is not None,
        follows=follows,
    )
