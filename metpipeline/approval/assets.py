"""The `release_candidates` asset: freeze each dataset's month into a candidate the data owner reviews,
show the owner the release report where they decide, and tell the owners that a decision is waiting."""

import hashlib
import json

import dagster as dg

from metpipeline.approval import candidates, checklist, release_notice, sealed
from metpipeline.approval.decision_job import SHORT, decision_link, launchpad_link, report_link
from metpipeline.bucket import INTERNAL_PREFIX, StoreError, open_store
from metpipeline.catalogue import CATALOGUE
from metpipeline.disclosure.policy import load_policy
from metpipeline.governance import ledger
from metpipeline.months.partitions import monthly_partitions
from metpipeline.notify import send
from metpipeline.resources import (
    BucketResource,
    GovernanceResource,
    PublicationResource,
    StateResource,
    WorkAreaResource,
)


def check_plain_words() -> dict[str, str]:
    """Every check's description (what it means), by check name: for the owner's report."""
    from metpipeline.disclosure.checks import CHECKS as DISCLOSURE_CHECKS
    from metpipeline.quality.checks import CHECKS as QUALITY_CHECKS

    return {
        spec.name: spec.description or ""
        for check in [*QUALITY_CHECKS, *DISCLOSURE_CHECKS]
        for spec in check.check_specs
    }


REPORT_LINK_SECONDS = 7 * 24 * 3600  # a week: the time an owner has to decide, reminders included


def report_html_link(bucket: BucketResource, month: str, html: bytes) -> str | None:
    """The HTML report at a link a browser can open, where the deployment has one: on S3, a presigned
    link to a copy outside the public prefix; a local bucket has none (the report is in the UI)."""
    store = open_store(bucket.validated_url(), bucket.endpoint_url or None)
    key = f"{INTERNAL_PREFIX}reports/{month}/{hashlib.sha256(html).hexdigest()}.html"
    if store.presigned_url(key, 1) is None:
        return None
    store.put_create_only(key, html)  # a StoreError here is one line; the caller says the report is in the UI
    return store.presigned_url(key, REPORT_LINK_SECONDS)


# What staging reads, declared: the report, the publishable files disclosure control wrote, and the extra
# tables of the datasets that have them (the airports' counts by location, for the 2026 borough layout).
CANDIDATE_INPUTS = [
    "release_report",
    "disclosed_datasets",
    *(s.asset_name for s in CATALOGUE.values() if s.airports_row),
]


@dg.asset(
    partitions_def=monthly_partitions,
    deps=CANDIDATE_INPUTS,
    group_name="release",
    description="One release candidate per dataset for the month: the publishable files, the report and a "
    "manifest, frozen under their content hash. The owners are notified and decide with the Launchpad job "
    "`decide_release` (link in the metadata).",
)
def release_candidates(
    context: dg.AssetExecutionContext,
    workarea: WorkAreaResource,
    state: StateResource,
    governance: GovernanceResource,
    bucket: BucketResource,
    publication: PublicationResource,
) -> dg.MaterializeResult:
    month = context.partition_key
    staged = candidates.stage_candidates(
        workarea.area,
        month,
        code_version=candidates.code_version(),
        policy=load_policy(governance.policy_file),
        publication=publication.settings(),
    )
    base = governance.ui_base_url
    engine = state.engine()
    # Who launched this run and every run it follows or re-executes (the back-fill before it), as the
    # sign-in proxy said (none for the schedule): none of them may approve what it stages (four eyes).
    launchers = sealed.launchers(context, state, governance)
    key = governance.ledger_key(context.log.info)
    rows = ["| dataset | candidate | checks |", "|---|---|---|"]
    metadata: dict[str, dg.RawMetadataValue] = {}
    # A month re-run with the same bytes asks nobody again: only new bytes are "ready for your decision".
    before = {c.dataset: ledger.current_candidate(engine, c.dataset, month) for c in staged}
    new = {c.dataset for c in staged if getattr(before[c.dataset], "content_hash", None) != c.content_hash}
    for c in staged:
        row = ledger.record_candidate(
            engine, key, c.dataset, month, c.content_hash, context.run_id, c.checks_passed, launchers
        )
        metadata[f"{c.dataset}_content_hash"] = dg.MetadataValue.text(c.content_hash)
        # The staging's place in the sealed chain, kept in Dagster's own event log too: publication checks
        # that the ledger's newest staging is not older than this (a newest row deleted leaves no gap).
        metadata[f"{c.dataset}_staging"] = dg.MetadataValue.int(int(row.seq or 0))
        rows.append(
            f"| {c.dataset} | `{c.content_hash[:SHORT]}` | {'passed' if c.checks_passed else 'FAILED'} |"
        )
        context.log.info(f"staged {c.dataset} {month} candidate {c.content_hash}")
    report = json.loads(staged[0].report_path.with_name("report.json").read_text(encoding="utf-8"))
    shown = {c.dataset: c.content_hash[:SHORT] for c in staged if c.checks_passed}
    link = decision_link(base, month)
    metadata["candidates"] = dg.MetadataValue.md("\n".join(rows))
    metadata["release_report"] = dg.MetadataValue.md(
        release_notice.report_markdown(report, check_plain_words())
    )
    metadata["decide"] = dg.MetadataValue.url(link)
    if shown:  # the engineers' way to the same decision (the owners use the page)
        metadata["decide_in_launchpad"] = dg.MetadataValue.url(
            launchpad_link(base, month, shown, checklist.load(governance.checklist_file).items)
        )
    try:
        html_link = report_html_link(bucket, month, staged[0].report_path.read_bytes())
    except StoreError as exc:
        # The candidates are staged either way; the owners read the report in the UI until the store is back.
        context.log.warning(f"the HTML report could not be stored for a link ({exc}); it is in the UI")
        html_link = None
    if html_link:
        metadata["report_html"] = dg.MetadataValue.url(html_link)
    if shown and not new & set(shown):
        metadata["notification"] = dg.MetadataValue.text(
            "not sent: the candidates are the bytes the owners were already asked to decide on"
        )
    elif shown:
        registry = governance.registry()
        notice = release_notice.staged_notice(
            month, shown, report, registry.recipients(shown), link, html_link or report_link(base, month)
        )
        outcome = send(notice, context.log)
        metadata["notification"] = dg.MetadataValue.json(outcome)
    return dg.MaterializeResult(metadata=metadata)
