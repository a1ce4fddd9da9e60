"""Every day, each dataset's public copy is read back from the bucket and compared with its recorded
publication (verify.py): an asset check on each published dataset, run by `verify_published_job` on the
schedule `verify_published_daily`. A difference fails the check and the run, naming each object, and tells
the owners on their channels."""

import dagster as dg

from metpipeline.bucket import StoreError, open_store
from metpipeline.catalogue import CATALOGUE
from metpipeline.notify import Notice, send
from metpipeline.publish.assets import published_key
from metpipeline.publish.verify import verify_all
from metpipeline.resources import BucketResource, GovernanceResource, StateResource

CHECK = "public_copy_matches_publication"


def report(problems: dict[str, list[str]]) -> str:
    found = [p for ps in problems.values() for p in ps]
    return f"{len(found)} difference(s) between the bucket and the recorded publications:\n" + "\n".join(
        f"- {p}" for p in found
    )


@dg.multi_asset_check(
    name="verify_published",
    specs=[
        dg.AssetCheckSpec(
            CHECK,
            asset=published_key(dataset),
            description="The bucket's latest.json and the version it names are as published: the pointer, "
            "every file's sha256, the data package's hashes, the cover sheet, nothing added.",
        )
        for dataset in CATALOGUE
    ],
)
def verify_published(
    context: dg.AssetCheckExecutionContext,
    state: StateResource,
    bucket: BucketResource,
    governance: GovernanceResource,
):
    store = open_store(bucket.validated_url(), bucket.endpoint_url or None)
    try:
        problems = verify_all(store, state.engine())
    except StoreError as exc:
        raise dg.Failure(description=f"The bucket could not be read back: {exc}") from None
    for dataset, found in problems.items():
        yield dg.AssetCheckResult(
            asset_key=published_key(dataset),
            check_name=CHECK,
            passed=not found,
            severity=dg.AssetCheckSeverity.ERROR,
            description="; ".join(found) if found else "as published",
            metadata={"differences": dg.MetadataValue.json(found)},
        )
    changed = [d for d, found in problems.items() if found]
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


verify_published_job = dg.define_asset_job(
    "verify_published_job",
    selection=dg.AssetSelection.checks(verify_published),
    description="Read every dataset's public version back from the bucket and compare it with what was "
    "published; tells the owners of any difference.",
    tags={"metpipeline/kind": "publish"},
    executor_def=dg.in_process_executor,
)

verify_published_schedule = dg.ScheduleDefinition(
    name="verify_published_daily",
    job=verify_published_job,
    cron_schedule="0 7 * * *",
    execution_timezone="Europe/London",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every day at 07:00 London: the public bucket read back and compared with the publications.",
)
