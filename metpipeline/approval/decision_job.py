"""`decide_release`: the data owner's month decision, with nothing to paste.

A partitioned Launchpad job whose config for a month is built when the owner opens it (the partition's
config, or the link in the notification): the current candidates' short hashes, a decision per dataset
(approve by default), the checklist, a comment. The owner reads, answers the checklist, launches. The
decision binds to exactly the hashes shown: a candidate rebuilt in between no longer starts with them, and
that dataset's decision is refused.
"""

import json
import urllib.parse
from dataclasses import dataclass, field

import dagster as dg
import sqlalchemy as sa
import yaml
from pydantic import Field

from metpipeline import settings
from metpipeline.approval import checklist as checklist_mod
from metpipeline.approval import sealed
from metpipeline.approval.candidates import DATASETS
from metpipeline.db import make_state_engine
from metpipeline.governance import decide, ledger
from metpipeline.governance.registry import RegistryError, normalise_name
from metpipeline.months.partitions import monthly_partitions
from metpipeline.resources import GovernanceResource, StateResource
from metpipeline.settings import ConfigError

JOB = "decide_release"
OP = "record_decisions_op"
SHORT = 16  # hex digits of a candidate hash shown to the owner: enough to bind, short enough to read


class DecisionConfig(dg.Config):
    month: str = Field(description="The release month (filled in).")
    candidates: dict[str, str] = Field(
        description="The candidates you are deciding on, by dataset: their short hashes (filled in)."
    )
    decisions: dict[str, str] = Field(
        description="approve or reject, for each dataset you own (delete a line to leave it undecided)."
    )
    checklist: dict[str, bool] = Field(description="Your answers to the pre-release checklist.")
    comment: str = Field(default="", description="Why; kept with the decision in the ledger.")
    approver: str = Field(
        default="",
        description="Your name in the owners registry (leave empty when you are signed in: your sign-in "
        "name is used).",
    )


def current_short_hashes(engine: sa.Engine, month: str) -> dict[str, str]:
    out = {}
    for dataset in DATASETS:
        current = ledger.current_candidate(engine, dataset, month)
        if current is not None and current.checks_passed:
            out[dataset] = current.content_hash[:SHORT]
    return out


def decision_config(month: str, candidates: dict[str, str], items: dict[str, str]) -> dict:
    """The decision job's run config for the month's candidates, every checklist item (`items`) unanswered."""
    return {
        "ops": {
            OP: {
                "config": {
                    "month": month,
                    "candidates": candidates,
                    "decisions": {d: "approve" for d in candidates},
                    "checklist": {key: False for key in items},
                    "comment": "",
                    "approver": "",
                }
            }
        }
    }


def decision_yaml(month: str, candidates: dict[str, str], items: dict[str, str]) -> str:
    """The config as the owner sees it, with the checklist's sentences as comments beside the answers."""
    text = yaml.safe_dump(decision_config(month, candidates, items), sort_keys=False)
    # Quoted, so that no YAML reader takes a hex hash (e.g. 1234e567…) or the month for a number.
    for dataset, short in candidates.items():
        text = text.replace(f"        {dataset}: {short}\n", f'        {dataset}: "{short}"\n', 1)
        text = text.replace(f"        {dataset}: '{short}'\n", f'        {dataset}: "{short}"\n', 1)
    text = text.replace(f"      month: {month}\n", f'      month: "{month}"\n', 1)
    # Each checklist item's sentence on the line above its answer, so the answer ends its line.
    for key, sentence in items.items():
        text = text.replace(f"        {key}: false\n", f"        # {sentence}\n        {key}: false\n", 1)
    text = text.replace(
        "      checklist:\n", "      # Answer each item with true before approving.\n      checklist:\n", 1
    )
    text = text.replace(
        "      decisions:\n",
        "      # approve or reject, for each dataset you own (others are skipped).\n      decisions:\n",
        1,
    )
    return text


def decision_link(base: str, month: str) -> str:
    """The owners' decision page for the month, served by `metpipeline ui` (webui/decision_page.py), under
    the UI's address as owners reach it (`base`: GovernanceResource.ui_base_url)."""
    return f"{base}/approvals/{urllib.parse.quote(month)}"


def launchpad_link(base: str, month: str, candidates: dict[str, str], items: dict[str, str]) -> str:
    """The Launchpad of `decide_release` for the month with its config filled in (engineers' path)."""
    query = urllib.parse.urlencode(
        {
            "config": decision_yaml(month, candidates, items),
            "tags[0][key]": "dagster/partition",
            "tags[0][value]": month,
        }
    )
    return f"{base}/locations/metpipeline/jobs/{JOB}/playground/setup?{query}"


def report_link(base: str, month: str) -> str:
    """The decision page, where the release report is shown in full."""
    return decision_link(base, month)


def _config_for_partition(partition_key: str) -> dict:
    # Built when the owner picks the month on the Launchpad: the candidates current at that moment. Dagster
    # calls it with no resources, so it reads the two settings it needs itself.
    url = settings.check_sqlalchemy_url(settings.STATE_URL.name, settings.STATE_URL.value() or "")
    engine = make_state_engine(url)
    try:
        items = checklist_mod.load(settings.CHECKLIST_FILE.value() or "").items
        return decision_config(partition_key, current_short_hashes(engine, partition_key), items)
    finally:
        engine.dispose()


def _did_you_mean(word: str, choices) -> str:
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


@dataclass
class Outcome:
    """What a decision does, dataset by dataset (`recorded` is what would be recorded, in a dry run)."""

    approver: str
    owners: dict[str, tuple[str, ...]] = field(default_factory=dict)  # who decides each dataset
    recorded: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def refusal(self) -> str | None:
        """One sentence for the owner, saying what to do, or None when everything decided on is recorded."""
        if not self.approver:
            return "Not recorded: write your registered name as `approver`."
        if self.refused:
            return "Not recorded — " + " | ".join(self.refused)
        if not self.recorded:
            owners = "; ".join(f"{d}: {', '.join(self.owners.get(d, ())) or 'nobody'}" for d in self.skipped)
            return (
                f"Nothing recorded: {self.approver} is not an owner or deputy of "
                f"{', '.join(self.skipped) or 'any dataset decided on'}"
                + (f" (who decides — {owners})" if owners else "")
            )
        return None


def evaluate(
    engine: sa.Engine,
    key: bytes,
    registry,
    items: checklist_mod.Checklist,
    config: DecisionConfig,
    identity: decide.Identity,
    *,
    run_id: str = "",
    dry_run: bool = False,
) -> Outcome:
    """Every check of the decision, dataset by dataset; records the ones that pass unless `dry_run`."""
    outcome = Outcome(
        normalise_name(config.approver or identity.signed_in_user or ""),
        owners={d: registry.approvers(d) for d in registry.datasets},
    )
    if not outcome.approver:
        return outcome
    shown_hashes = {k.strip().lower(): v.strip().lower() for k, v in config.candidates.items()}
    known = sorted(registry.datasets)
    if outcome.approver not in registry.people and not any(
        outcome.approver in registry.approvers(d) for d in known
    ):
        outcome.refused.append(
            f"{outcome.approver!r} is not a registered name{_did_you_mean(outcome.approver, registry.people)}"
        )
        return outcome
    for raw_dataset, raw_decision in sorted(config.decisions.items()):
        dataset, verdict = raw_dataset.strip().lower(), raw_decision.strip().lower()
        if dataset not in registry.datasets:
            outcome.refused.append(
                f"{dataset}: there is no such dataset{_did_you_mean(dataset, known)}; the datasets are "
                f"{', '.join(known)}"
            )
            continue
        if verdict not in decide.DECISIONS:
            outcome.refused.append(f"{dataset}: write approve or reject, not {raw_decision!r}")
            continue
        if outcome.approver not in registry.approvers(dataset):
            outcome.skipped.append(dataset)  # not this owner's dataset: nothing to decide
            continue
        shown = shown_hashes.get(dataset, "")
        current = ledger.current_candidate(engine, dataset, config.month)
        if current is None or not shown or not current.content_hash.startswith(shown):
            outcome.refused.append(
                f"{dataset}: the candidate was rebuilt after you opened this decision; open the decision "
                "again and review the new candidate"
            )
            continue
        if verdict == "approve" and items.unanswered(config.checklist):
            outcome.refused.append(
                f"{dataset}: answer every checklist item with true before approving "
                f"(unanswered: {', '.join(items.unanswered(config.checklist))})"
            )
            continue
        answers = json.dumps(
            {"version": items.version, "answers": {k: bool(config.checklist.get(k)) for k in items.items}},
            sort_keys=True,
        )
        args = (engine, key, registry, dataset, config.month, verdict, outcome.approver, config.comment)
        kwargs = {"identity": identity, "run_id": run_id, "checklist": answers}
        try:
            if dry_run:
                decide.check_decision(*args, current.content_hash, **kwargs)
                outcome.recorded.append(f"{dataset}: {verdict}")
                continue
            decision, status = decide.record_decision(*args, current.content_hash, **kwargs)
        except decide.DecisionRefused as exc:
            outcome.refused.append(f"{dataset}: {exc}")
            continue
        progress = (
            f"{len(status.approvers)} of {status.required} approvals" if verdict == "approve" else "rejected"
        )
        outcome.recorded.append(f"{dataset}: {decision.describe()} ({progress})")
    return outcome


@dg.op(name=OP, description="Record the owner's decision on each of the month's candidates they own.")
def record_decisions_op(
    context: dg.OpExecutionContext,
    config: DecisionConfig,
    state: StateResource,
    governance: GovernanceResource,
) -> None:
    # `metpipeline ui` makes the same checks when the owner presses Launch (approval/launch_review.py), so
    # a refusal normally never becomes a run; these re-checks catch a candidate rebuilt in between and
    # launches from elsewhere (GraphQL, CLI).
    identity = sealed.decider(context, state, governance, "Not recorded")
    try:
        registry = governance.registry()
        key = governance.ledger_key(context.log.info)
        items = checklist_mod.load(governance.checklist_file)
    except (RegistryError, ConfigError) as exc:
        raise dg.Failure(description=f"Not recorded: {exc}") from None
    outcome = evaluate(state.engine(), key, registry, items, config, identity, run_id=context.run_id)
    lines = [*(f"- recorded {r}" for r in outcome.recorded), *(f"- not yours: {s}" for s in outcome.skipped)]
    context.add_output_metadata({"decisions": dg.MetadataValue.md("\n".join(lines) or "none")})
    for line in outcome.recorded:
        context.log.info(f"recorded {line}")
    refusal = outcome.refusal()
    if refusal:
        context.log.error(refusal)
        raise dg.Failure(description=refusal)


@dg.job(
    name=JOB,
    description="Data owner: approve or reject the month's release candidates (opened from the notification, "
    "or pick the month here: its candidates are filled in).",
    config=dg.PartitionedConfig(
        partitions_def=monthly_partitions, run_config_for_partition_key_fn=_config_for_partition
    ),
    tags={"metpipeline/kind": "approval"},
    executor_def=dg.in_process_executor,  # one op: no need to re-import the code location for it
)
def decide_release():
    record_decisions_op()
