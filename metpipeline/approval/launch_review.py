"""An owner's decision, checked when Launch is pressed, before any run exists.

A decision that would be refused (a candidate rebuilt since the decision was opened, a checklist item not
answered, a dataset the owner does not own, a misspelt name, someone else's name) is answered on the
Launchpad itself with one sentence that says what to do: no failed run, no stack trace. `metpipeline ui`
calls `review` for every launch of the two decision jobs (commands/webserver.py). The checks are the
decision jobs'
own (`decide.record_decision(dry_run=True)`), so the Launchpad and the run cannot disagree; the run checks
again when it records, because a candidate can still be rebuilt between the two.
"""

from typing import Any

import yaml
from pydantic import ValidationError

from metpipeline import settings
from metpipeline.approval import checklist as checklist_mod
from metpipeline.approval import decision_job, jobs
from metpipeline.governance import decide
from metpipeline.governance.registry import RegistryError
from metpipeline.resources import GovernanceResource, StateResource
from metpipeline.settings import ConfigError

# job -> the op whose config is the decision
REVIEWED = {decision_job.JOB: decision_job.OP, jobs.JOB: jobs.OP}


def parse(model, config: dict):
    """The Launchpad's values as the job's config model, or ValueError with one sentence an owner can act
    on (pydantic's own report is a paragraph with a link)."""
    missing = [n for n, f in model.model_fields.items() if f.is_required() and config.get(n) is None]
    if missing:
        raise ValueError(f"`{missing[0]}` is missing: fill it in and launch again")
    try:
        return model(**config)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error.get("loc", ()))
        message = str(error.get("msg", "")).removeprefix("Value error, ")
        raise ValueError(f"{field}: {message}" if field and field not in message else message) from None


def op_config(job: str, run_config: Any) -> dict | None:
    """The decision's config out of the Launchpad's run config (YAML text or a mapping), or None."""
    if isinstance(run_config, str):
        try:
            run_config = yaml.safe_load(run_config)
        except yaml.YAMLError:
            return None  # Dagster's own parser answers with the line and column
    if not isinstance(run_config, dict):
        return None
    ops = run_config.get("ops")
    found = ops.get(REVIEWED[job]) if isinstance(ops, dict) else None
    config = found.get("config") if isinstance(found, dict) else None
    return config if isinstance(config, dict) else None


def review(job: str, run_config: Any, signed_in_user: str | None) -> str | None:
    """The sentence that refuses this launch, or None to let it go ahead (also for anything that is not a
    decision, or whose config Dagster's own validation will answer). `signed_in_user`: the sign-in proxy's
    user for this request (the run itself will carry the server's seal of the same person)."""
    if job not in REVIEWED:
        return None
    config = op_config(job, run_config)
    if config is None:
        return None
    governance, state = GovernanceResource(), StateResource()
    proxy = bool(governance.identity_header)
    identity = decide.Identity(signed_in_user if proxy else None, proxy)
    try:
        registry = governance.registry()
        key = governance.ledger_key(lambda *_: None)
        items = checklist_mod.load(settings.CHECKLIST_FILE.value() or "")
        engine = state.engine()
    except (RegistryError, ConfigError) as exc:
        return f"Not recorded: {exc}"
    try:
        return _refusal(job, config, engine, key, registry, items, identity)
    finally:
        engine.dispose()


def _refusal(job, config, engine, key, registry, items, identity) -> str | None:
    if job == decision_job.JOB:
        try:
            decision = parse(decision_job.DecisionConfig, config)
        except ValueError as exc:
            return f"Not recorded: {exc}"
        return decision_job.evaluate(engine, key, registry, items, decision, identity, dry_run=True).refusal()
    try:
        approval = parse(jobs.ApprovalConfig, config)
        decide.check_decision(
            engine,
            key,
            registry,
            approval.dataset,
            approval.month,
            approval.decision.value,
            approval.approver,
            approval.comment,
            approval.candidate_hash,
            identity=identity,
        )
    except (ValueError, decide.DecisionRefused) as exc:
        return f"Decision not recorded: {exc}"
    return None
