"""Who launched a run, as the sign-in proxy said: the one run tag the pipeline trusts for identity.

`metpipeline ui` (webserver.py) sets the tag on every run launched through it, from the proxy's header, and
removes any value a user typed. Nothing else sets it. The approval job compares it with the typed approver;
the launchers of a release run (its own, and those of the runs it follows or re-executes) are the people
four-eyes excludes from approving what it stages.
"""

from collections.abc import Mapping

SIGNED_IN_USER_TAG = "metpipeline/signed_in_user"
# The run a run was launched to follow (the back-fill a release completes): its launchers are this run's too.
FOLLOWS_RUN_TAG = "metpipeline/follows_run"
# Dagster's own links from a re-execution to the run it repeats.
_LINKS = (FOLLOWS_RUN_TAG, "dagster/parent_run_id", "dagster/root_run_id")
_MAX_LINKED_RUNS = 100


class LinkedRunMissing(LookupError):
    """A run names a run it follows that the Dagster instance no longer holds."""


def signed_in_user(tags: Mapping[str, str]) -> str | None:
    value = (tags.get(SIGNED_IN_USER_TAG) or "").strip()
    return value or None


def launchers_of_run(instance, run) -> tuple[str, ...]:
    """Everyone who launched this run or a run it follows or re-executes (the back-fill before a release,
    the original of a re-execution): all of them launched what the run stages. Raises LinkedRunMissing
    when a linked run is gone, so nobody can shed a launcher by deleting a run (fail closed)."""
    people: set[str] = set()
    seen: set[str] = set()
    queue = [run]
    while queue and len(seen) < _MAX_LINKED_RUNS:
        current = queue.pop()
        if current.run_id in seen:
            continue
        seen.add(current.run_id)
        person = signed_in_user(current.tags)
        if person:
            people.add(person)
        for tag in _LINKS:
            linked_id = current.tags.get(tag)
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
