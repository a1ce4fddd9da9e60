"""Who launched a run, as the sign-in proxy said: the one run tag the pipeline trusts for identity.

`metpipeline ui` (webserver.py) sets the tag on every run launched through it, from the proxy's header, and
removes any value a user typed. Nothing else sets it. The approval job compares it with the typed approver;
the release run's value is the launcher that four-eyes excludes from approving.
"""

from collections.abc import Mapping

SIGNED_IN_USER_TAG = "metpipeline/signed_in_user"


def signed_in_user(tags: Mapping[str, str]) -> str | None:
    value = (tags.get(SIGNED_IN_USER_TAG) or "").strip()
    return value or None
