"""Who launched a run: the links between runs, and the signed-in user's tag shown in the UI.

The tag `metpipeline/signed_in_user` is set by `metpipeline ui` for people to read; nothing trusts it. Who
launched a run is what its identity seal attests (governance/runseal.py). The launchers of a release run
(its own, and those of the runs it follows or re-executes) are the people four-eyes excludes from approving
what it stages.
"""

import contextvars

SIGNED_IN_USER_TAG = "metpipeline/signed_in_user"
# The run a run was launched to follow (the back-fill a release completes): its launchers are this run's too.
FOLLOWS_RUN_TAG = "metpipeline/follows_run"
# Dagster's own links from a re-execution to the run it repeats.
_LINKS = (FOLLOWS_RUN_TAG, "dagster/parent_run_id", "dagster/root_run_id")
_MAX_LINKED_RUNS = 100


# The signed-in user of the web request being served, and whether the sign-in proxy vouched for one: set
# by `metpipeline ui`'s middleware for the request (commands/webserver.py), read by the run seals and the
# page.
REQUEST_USER: contextvars.ContextVar[str | None] = contextvars.ContextVar("metpipeline_user", default=None)
REQUEST_SIGNED_IN: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "metpipeline_signed_in", default=False
)


def current_user() -> str | None:
    """The signed-in user of the request this code runs for (None: nobody, or no proxy)."""
    return REQUEST_USER.get()


class LinkedRunMissing(LookupError):
    """A run names a run it follows that the Dagster instance no longer holds."""


def launchers_of_run(instance, run, verify) -> tuple[str, ...]:
    """Everyone who launched this run or a run it follows or re-executes (the back-fill before a release,
    the original of a re-execution): all of them launched what the run stages. `verify(run)` gives who
    launched one run as its identity seal attests (and raises when it cannot). Raises LinkedRunMissing when
    a linked run is gone, so nobody can shed a launcher by deleting a run (fail closed)."""
    people: set[str] = set()
    seen: set[str] = set()
    queue = [run]
    while queue:
        if len(seen) >= _MAX_LINKED_RUNS:
            raise LinkedRunMissing(
                f"run {run.run_id} is linked to more than {_MAX_LINKED_RUNS} runs: who launched it cannot be "
                "known; launch the release afresh"
            )
        current = queue.pop()
        if current.run_id in seen:
            continue
        seen.add(current.run_id)
        sealed = verify(current)
        if sealed.user:
            people.add(sealed.user)
        for tag in _LINKS:
            linked_id = current.tags.get(tag)
            if tag == FOLLOWS_RUN_TAG and linked_id != sealed.follows:
                continue  # a run is followed only where the seal says so: a typed tag names nobody
            if not linked_id or linked_id in seen:
                continue
            linked = instance.get_run_by_id(linked_id)
            if linked is None:
                raise LinkedRunMissing(
                    f"run {current.run_id} follows run {linked_id} ({tag}), which this Dagster instance no "
                    "longer holds, so who launched it cannot be known; launch the release afresh"
                )
            queue.append(linked)
    return tuple(sorted(people))
