"""The Launchpad job a data owner runs to acknowledge that an implausible month's total is real."""

import dagster as dg
from pydantic import Field, field_validator

from metpipeline.approval import sealed
from metpipeline.approval.jobs import LATEST_MONTH
from metpipeline.governance import acknowledge, decide
from metpipeline.governance.registry import RegistryError
from metpipeline.resources import GovernanceResource, StateResource
from metpipeline.settings import ConfigError


class AcknowledgeConfig(dg.Config):
    month: str = Field(default=LATEST_MONTH, description="The month the volume check blocked, YYYY-MM.")
    total: int = Field(description="The month's total as the blocked check reported it (month_total).")
    approver: str = Field(description="Your name as in the owners registry (borough owner or deputy).")
    reason: str = Field(description="Why this total is real (e.g. a system outage confirmed by the force).")

    @field_validator("month")
    @classmethod
    def _month(cls, value: str) -> str:
        return decide.valid_month(value)


@dg.op(
    name=acknowledge.OP, description="Record the acknowledgement, sealed, or fail saying why it was refused."
)
def acknowledge_volume_op(
    context: dg.OpExecutionContext,
    config: AcknowledgeConfig,
    state: StateResource,
    governance: GovernanceResource,
) -> None:
    identity = sealed.decider(context, state, governance, "Acknowledgement not recorded")
    try:
        ack = acknowledge.record(
            state.engine(),
            governance.ledger_key(context.log.info),
            governance.registry(),
            config.month,
            config.total,
            config.approver,
            config.reason,
            identity=identity,
            run_id=context.run_id,
        )
    except (decide.DecisionRefused, RegistryError, ConfigError) as exc:
        raise dg.Failure(description=f"Acknowledgement not recorded: {exc}") from None
    context.log.info(f"{config.month}: {ack.describe()}; release the month again to pass the volume check")


@dg.job(
    name=acknowledge.JOB,
    description="Data owner: confirm that a month blocked by month_volume_plausible really has that total.",
    tags={"metpipeline/kind": "approval"},
    executor_def=dg.in_process_executor,
)
def acknowledge_volume():
    acknowledge_volume_op()
