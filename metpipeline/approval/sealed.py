"""Who launched the run a job is running in, as its server-made identity seal attests (governance/runseal.py).

Every job that acts on identity asks here, and nowhere else: the decision jobs and the volume acknowledgement
(who decides), and the release's staging (who launched what is staged: four eyes). A run without a valid
seal does nothing of the kind (fail closed), whatever its tags say."""

import dagster as dg

from metpipeline.governance import decide, runseal
from metpipeline.identity import LinkedRunMissing, launchers_of_run
from metpipeline.resources import GovernanceResource, StateResource
from metpipeline.settings import ConfigError


def _verifier(context, state: StateResource, governance: GovernanceResource):
    key, engine = governance.identity_key(context.log.info), state.engine()
    return lambda run: runseal.verify(key, engine, context.instance, run)


def decider(context, state: StateResource, governance: GovernanceResource, refused: str) -> decide.Identity:
    """The person deciding in this run; a dg.Failure starting with `refused` when the run cannot say."""
    try:
        sealed = _verifier(context, state, governance)(context.run)
        return decide.identity_of_sealed(sealed, bool(governance.identity_header))
    except (runseal.SealRefused, decide.DecisionRefused, ConfigError) as exc:
        raise dg.Failure(description=f"{refused}: {exc}") from None


def launchers(context, state: StateResource, governance: GovernanceResource) -> tuple[str, ...]:
    """Everyone who launched this run or a run it follows or re-executes, each as its seal attests."""
    try:
        return launchers_of_run(context.instance, context.run, _verifier(context, state, governance))
    except (runseal.SealRefused, LinkedRunMissing, ConfigError) as exc:
        raise dg.Failure(description=f"Nothing staged: {exc}") from None
