"""The Launchpad job a data owner runs to approve or reject a month's release candidate for one dataset."""

from enum import Enum

import dagster as dg
from pydantic import Field, field_validator

from metpipeline.approval import sealed
from metpipeline.approval.candidates import DATASETS
from metpipeline.governance import decide
from metpipeline.governance.registry import RegistryError
from metpipeline.months.partitions import monthly_partitions
from metpipeline.resources import GovernanceResource, StateResource
from metpipeline.settings import ConfigError

JOB = "record_approval"
OP = "record_decision_op"

# The Launchpad's default month: the last complete month, the one the monthly schedule releases. Computed
# from the calendar when the code location loads (no database access at import).
LATEST_MONTH = monthly_partitions.get_last_partition_key() or ""


class Verdict(Enum):
    approve = "approve"
    reject = "reject"


class ApprovalConfig(dg.Config):
    dataset: str = Field(description=f"Which dataset's candidate you are deciding on: {', '.join(DATASETS)}.")
    month: str = Field(
        default=LATEST_MONTH,
        description="Release month, YYYY-MM (release_candidates partition; default: last complete month).",
    )
    decision: Verdict = Field(default=Verdict.approve, description="approve publishes it; reject does not.")
    approver: str = Field(description="Your name as in the owners registry, e.g. first.last.")
    comment: str = Field(default="", description="Why; kept with the decision in the ledger.")
    # Required on purpose: the owner approves exactly the bytes they reviewed, named by the hash shown in
    # the release_candidates materialization. A default of "whatever is current" could approve a rebuild
    # the owner never saw.
    candidate_hash: str = Field(
        description="The content hash shown on the release_candidates materialization."
    )

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, value: str) -> str:
        # Any case: an owner types "Borough" as readily as "borough".
        if value.strip().lower() not in DATASETS:
            raise ValueError(f"dataset {value!r} is not one of {', '.join(DATASETS)}")
        return value.strip().lower()

    @field_validator("month")
    @classmethod
    def _month(cls, value: str) -> str:
        return decide.valid_month(value)


@dg.op(
    name=OP, description="Record the decision in the append-only ledger, or fail saying why it was refused."
)
def record_decision_op(
    context: dg.OpExecutionContext,
    config: ApprovalConfig,
    state: StateResource,
    governance: GovernanceResource,
) -> None:
    identity = sealed.decider(context, state, governance, "Decision not recorded")
    try:
        decision, status = decide.record_decision(
            state.engine(),
            governance.ledger_key(context.log.info),
            governance.registry(),
            config.dataset,
            config.month,
            config.decision.value,
            config.approver,
            config.comment,
            config.candidate_hash,
            identity=identity,
            run_id=context.run_id,
        )
    except (decide.DecisionRefused, RegistryError, ConfigError) as exc:
        raise dg.Failure(description=f"Decision not recorded: {exc}") from None
    progress = (
        f"{len(status.approvers)} of {status.required} required approvals"
        if decision.decision == "approve"
        else "rejected: it will not be published"
    )
    context.log.info(
        f"recorded: {decision.dataset} {decision.month} candidate {decision.content_hash}: "
        f"{decision.describe()} ({progress})"
    )
    context.add_output_metadata(
        {
            "decision_id": decision.id,
            "decision": decision.decision,
            "content_hash": decision.content_hash,
            "approver": decision.approver,
            "authentication": decision.authentication,
            "approvals": progress,
        }
    )


@dg.job(
    name=JOB,
    description="Data owner: approve or reject a month's release candidate. Approval triggers publication.",
    tags={"metpipeline/kind": "approval"},
    executor_def=dg.in_process_executor,  # one op: no need to re-import the code location for it
)
def record_approval():
    record_decision_op()
