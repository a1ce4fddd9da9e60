"""Tests set the deployment the way production does: through the environment, never through run config."""

import os
from collections.abc import Iterator
from contextlib import contextmanager

from metpipeline import settings

_BY_SHORT_NAME = {s.name.removeprefix("METPIPELINE_"): s.name for s in settings.ALL_SETTINGS}


@contextmanager
def deployment(**values: object) -> Iterator[None]:
    """Set METPIPELINE_<NAME> for each keyword (e.g. STATE_URL=…, WORK_DIR=…); restore afterwards."""
    names = {}
    for short, value in values.items():
        if short not in _BY_SHORT_NAME:
            raise KeyError(f"no setting METPIPELINE_{short}; known: {', '.join(sorted(_BY_SHORT_NAME))}")
        names[_BY_SHORT_NAME[short]] = str(value)
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(names)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def sensor_resources(resources: dict) -> dict:
    """What the approval sensor uses: the state database, governance and the publication settings (a
    sensor writes no month)."""
    from metpipeline.resources import PublicationResource

    return {**{k: resources[k] for k in ("state", "governance")}, "publication": PublicationResource()}


def skip_message(result) -> str:
    """A sensor's skip reason, whether it returned a SkipReason or a SensorResult."""
    import dagster as dg

    reason = result if isinstance(result, dg.SkipReason) else getattr(result, "skip_reason", None)
    return (reason.skip_message or "") if reason else ""


def run_requests(result) -> list:
    return list(getattr(result, "run_requests", None) or [])


def checklist_items() -> dict[str, str]:
    """The deployment's checklist items, as the decision job's config lists them."""
    from metpipeline import settings
    from metpipeline.approval import checklist

    return checklist.load(settings.CHECKLIST_FILE.value() or "").items


def publication():
    """How the public files are written, as the deployment's environment says now (the resource's view)."""
    from metpipeline.resources import PublicationResource

    return PublicationResource().settings()


def deployment_policy():
    """The disclosure policy the deployment's environment names (the governance resource's)."""
    from metpipeline.disclosure.policy import load_policy
    from metpipeline.resources import GovernanceResource

    return load_policy(GovernanceResource().policy_file)
