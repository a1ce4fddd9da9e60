"""`metpipeline ui`: the Dagster webserver as production runs it, behind the sign-in proxy.

With METPIPELINE_IDENTITY_HEADER set (e.g. X-Forwarded-User), every request must come from one of
METPIPELINE_TRUSTED_PROXIES and carry that header; every run launched through the webserver is tagged with
the signed-in user (`metpipeline/signed_in_user`), replacing whatever a user typed into the tags. That tag
is how the approval job knows who is deciding and how four-eyes knows who launched a release. Without the
setting (the embedded default) the webserver is served as `dagster-webserver` serves it and decisions are
recorded as unauthenticated.
"""

import argparse
import asyncio
import json
import re
import subprocess
import sys
import urllib.parse
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from metpipeline import settings
from metpipeline.identity import SIGNED_IN_USER_TAG

# GraphQL inputs that carry a run's tags, and the field that holds them: launches, re-executions, back-fills.
_TAG_FIELDS = {"executionMetadata": "tags", "reexecutionParams": "extraTags", "backfillParams": "tags"}


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def stamp_variables(value: Any, user: str) -> Any:
    """Put the signed-in user's tag on every tag list the mutation's variables carry, replacing any other."""
    if isinstance(value, list):
        return [stamp_variables(v, user) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: stamp_variables(v, user) for k, v in value.items()}
    for holder, field in _TAG_FIELDS.items():
        if isinstance(out.get(holder), dict):
            tags = [t for t in out[holder].get(field) or [] if t.get("key") != SIGNED_IN_USER_TAG]
            out[holder] = {**out[holder], field: [*tags, {"key": SIGNED_IN_USER_TAG, "value": user}]}
    return out


def stamp_graphql_body(body: bytes, user: str) -> bytes:
    """The request body with the user's tag on every run it launches. A tag written into the query text
    itself (not its variables) cannot be replaced, so such a request is refused.

    Every JSON body is decoded and stamped, whatever its query looks like: deciding from the raw bytes
    whether it is a mutation would miss one whose text starts after an escaped newline (`\nmutation`)."""
    try:
        payload = json.loads(body)
    except ValueError:
        if b"mutation" in body.lower():
            raise Refused(400, "a GraphQL mutation must be a JSON body") from None
        return body
    operations = payload if isinstance(payload, list) else [payload]
    for op in operations:
        if not isinstance(op, dict):
            raise Refused(400, "a GraphQL request must be a JSON object")
        if SIGNED_IN_USER_TAG in str(op.get("query", "")):
            raise Refused(403, f"the {SIGNED_IN_USER_TAG} tag is set by the sign-in proxy only")
        if op.get("variables"):
            op["variables"] = stamp_variables(op["variables"], user)
    return json.dumps(payload).encode("utf-8")


class SignInMiddleware:
    """ASGI middleware in front of the Dagster webserver (see the module docstring)."""

    def __init__(self, app, header: str, trusted_proxies: Iterable[str]):
        self.app = app
        self.header = header.lower().encode("latin-1")
        self.trusted = {p.strip() for p in trusted_proxies if p.strip()}

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        try:
            user = self._user(scope)
            if scope["type"] == "websocket":
                return await self.app(scope, _no_mutations(receive), send)
            if scope["path"].endswith("/graphql"):
                if b"mutation" in urllib.parse.unquote_to_bytes(scope.get("query_string", b"")).lower():
                    raise Refused(405, "mutations are accepted as POST only")
                if scope["method"] == "POST":
                    body = stamp_graphql_body(await _read_body(receive), user)
                    return await self.app(_with_length(scope, len(body)), _replay(body), send)
        except Refused as refused:
            if scope["type"] == "websocket":
                return await send({"type": "websocket.close", "code": 1008})
            return await _deny(send, refused.status, str(refused))
        return await self.app(scope, receive, send)

    def _user(self, scope) -> str:
        client = (scope.get("client") or ("",))[0]
        if client not in self.trusted:
            raise Refused(403, "this server is reached through the sign-in proxy only")
        for name, value in scope.get("headers", []):
            if name.lower() == self.header:
                user = value.decode("latin-1").strip()
                if user:
                    return user
        raise Refused(401, "no signed-in user: sign in through the proxy")


async def _read_body(receive) -> bytes:
    chunks, more = [], True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Refused(400, "client went away")
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


def _replay(body: bytes):
    sent = False

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


def _with_length(scope, length: int):
    headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
    return {**scope, "headers": [*headers, (b"content-length", str(length).encode())]}


def _no_mutations(receive):
    """Subscriptions only over the websocket: a mutation there would bypass the tagging above."""

    async def guarded():
        message = await receive()
        if message["type"] == "websocket.receive":
            data = message.get("bytes") or (message.get("text") or "").encode("utf-8")
            if b"mutation" in data.lower():  # any occurrence: escaped text would hide a word boundary
                return {"type": "websocket.disconnect", "code": 1008}
        return message

    return guarded


async def _deny(send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


_LAUNCH = re.compile(r"(?:(\w+)\s*:\s*)?\b(launchPipelineExecution|launchRun)\s*\(")


def launch_refusal(body: bytes) -> bytes | None:
    """The GraphQL answer that refuses a decision's launch, or None to let the request through.

    The refusal is answered the way Dagster answers a run config it cannot accept
    (`RunConfigValidationInvalid`), so the Launchpad shows the sentence in its own dialog and no run is
    created. Anything that is not one JSON launch of a decision job passes untouched: the run checks again."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    match = _LAUNCH.search(str(payload.get("query", "")))
    if match is None:
        return None
    params = (payload.get("variables") or {}).get("executionParams")
    if not isinstance(params, dict):
        return None
    selector = params.get("selector") or {}
    job = selector.get("jobName") or selector.get("pipelineName") or ""
    tags = {
        str(t.get("key")): str(t.get("value"))
        for t in (params.get("executionMetadata") or {}).get("tags") or []
        if isinstance(t, dict)
    }
    from metpipeline.approval.launch_review import review

    sentence = review(job, params.get("runConfigData"), tags)
    if sentence is None:
        return None
    error = {
        "__typename": "RuntimeMismatchConfigError",
        "message": sentence,
        "path": [],
        "reason": "RUNTIME_TYPE_MISMATCH",
    }
    answer = {"__typename": "RunConfigValidationInvalid", "pipelineName": job, "errors": [error]}
    return json.dumps({"data": {match.group(1) or match.group(2): answer}}).encode("utf-8")


class LaunchReviewMiddleware:
    """Answers the launch of a decision that would be refused on the Launchpad (approval/launch_review.py)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].endswith("/graphql"):
            return await self.app(scope, receive, send)
        try:
            body = await _read_body(receive)
        except Refused as refused:
            return await _deny(send, refused.status, str(refused))
        answer = await asyncio.to_thread(launch_refusal, body) if b"aunch" in body else None
        if answer is None:
            return await self.app(_with_length(scope, len(body)), _replay(body), send)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(answer)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer})


def trusted_proxies() -> list[str]:
    return [p.strip() for p in (settings.TRUSTED_PROXIES.value() or "").split(",") if p.strip()]


def cmd_ui(args: argparse.Namespace) -> int:
    import dagster_webserver.cli as web

    from metpipeline.instance import ensure_dagster_home, say

    ensure_dagster_home()
    header = (settings.IDENTITY_HEADER.value() or "").strip()
    create_app = web.create_app_from_workspace_process_context

    def create_reviewed_app(*a, **kw):
        # The sign-in proxy's tag is stamped first, so the review sees who is launching.
        app = LaunchReviewMiddleware(create_app(*a, **kw))
        return SignInMiddleware(app, header, trusted_proxies()) if header else app

    web.create_app_from_workspace_process_context = create_reviewed_app
    if header:
        serve = web.uvicorn.run

        def serve_without_forwarded_clients(app, **kw):
            # The proxy check must see the TCP peer, not an address a client wrote into X-Forwarded-For.
            return serve(app, proxy_headers=False, **kw)

        web.uvicorn.run = serve_without_forwarded_clients
        say(f"sign-in proxy: user from header {header}, accepted from {', '.join(trusted_proxies())} only")
    else:
        say(
            f"no sign-in proxy ({settings.IDENTITY_HEADER.name} is not set): decisions are recorded as "
            "unauthenticated"
        )
    argv = ["-h", args.host, "-p", str(args.port), "-w", args.workspace]
    daemon = _start_daemon(args.workspace) if args.with_daemon else None
    try:
        return web.cli.main(args=argv, prog_name="metpipeline ui", standalone_mode=False) or 0
    finally:
        if daemon is not None:
            daemon.terminate()
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                daemon.kill()


def _start_daemon(workspace: str) -> subprocess.Popen:
    """`dagster-daemon run` beside the webserver (schedules, sensors, the run queue), as `dagster dev`
    would start it, stopped when the webserver stops."""
    from metpipeline.operate import say

    daemon = Path(sys.executable).parent / "dagster-daemon"
    say(f"starting the Dagster daemon ({daemon.name} run -w {workspace})")
    return subprocess.Popen([str(daemon), "run", "-w", workspace])


def register(sub) -> None:
    p = sub.add_parser("ui", help="the Dagster webserver as production runs it (behind the sign-in proxy)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3000)
    p.add_argument("-w", "--workspace", default="workspace.yaml")
    p.add_argument(
        "--with-daemon",
        action="store_true",
        help="also run the Dagster daemon (schedules, sensors, run queue) until the webserver stops",
    )
    p.set_defaults(func=cmd_ui)
