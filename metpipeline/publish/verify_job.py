"""Every day, each dataset's public copy is read back from the bucket and compared with its recorded
publication (verify.py); a difference fails the run and tells the owners on their channels."""

import dagster as dg

from metpipeline.bucket import StoreError, open_store
from metpipeline.catalogue import CATALOGUE
from metpipeline.notify import Notice, send
from metpipeline.publish.verify import verify_all
from metpipeline.resources import BucketResource, GovernanceResource, StateResource


def report(problems: dict[str, list[str]]) -> str:
    found = [p for ps in problems.values() for p in ps]
    return f"{len(found)} difference(s) between the bucket and the recorded publications:\n" + "\n".join(
        f"- {p}" for p in found
    )


@dg.op(description="Read every dataset's published version back from the bucket and compare it.")
def verify_published_op(
    context: dg.OpExecutionContext,
    state: StateResource,
    bucket: BucketResource,
    governance: GovernanceResource,
) -> None:
    store = open_store(bucket.validated_url(), bucket.endpoint_url or None)
    try:
        problems = verify_all(store, state.engine())
    except StoreError as exc:
        raise dg.Failure(description=f"The bucket could not be read back: {exc}") from None
    context.add_output_metadata(
        {
            "datasets_checked": len(problems),
            "differences": dg.MetadataValue.json({d: ps for d, ps in problems.items() if ps}),
        }
    )
    changed = [d for d, ps in problems.items() if ps]
    if not changed:
        context.log.info(f"every published dataset ({', '.join(CATALOGUE)}) is as it was published")
        return
    text = report(problems)
    notice = Notice(
        f"MPS crime data: the public bucket differs from what was published ({', '.join(changed)})",
        text + "\nPublish the approved version again (publish_job) after finding who changed the bucket.",
        bucket.validated_url(),
        governance.registry().recipients(changed),
    )
    send(notice, context.log)
    raise dg.Failure(description=text)


@dg.job(
    name="verify_published_job",
    description="Read every dataset's public version back from the bucket and compare it with what was "
    "published; tells the owners of any difference.",
    tags={"metpipeline/kind": "publish"},
    executor_def=dg.in_process_executor,
)
def verify_published_job():
    verify_published_op()


verify_published_schedule = dg.ScheduleDefinition(
    name="verify_published_daily",
    job=verify_published_job,
    cron_schedule="0 7 * * *",
    execution_timezone="Europe/London",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every day at 07:00 London: the public bucket read back and compared with the publications.",
)
