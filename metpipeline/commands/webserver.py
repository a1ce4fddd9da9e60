"""`metpipeline ui`: the Dagster webserver as production runs it, behind the sign-in proxy, and the owners'
decision page on the same host and port.

With METPIPELINE_IDENTITY_HEADER set (e.g. X-Forwarded-User), every request must come from one of
METPIPELINE_TRUSTED_PROXIES and carry that header; the signed-in user is held for the request (a context
variable), never written into or read from the request's own bytes. Who launched a run is then attested by
the server itself: every run this process stores (a launch, a re-execution, whatever shape of GraphQL
request made it) and every back-fill it stores gets an identity seal made here, at the run storage, the one
place all of them pass (governance/runseal.py), and any seal or identity tag a client typed is dropped.
A request without a signed-in user stores runs without a seal, which every job that acts on identity
refuses. Without the setting (the embedded default) runs are sealed as launched in the UI with nobody
signed in, and decisions are recorded as unauthenticated.
"""

import argparse
import asyncio
import json
import subprocess
import sys
import urllib.parse
from collections.abc import Iterable
from pathlib import Path

from metpipeline import settings
from metpipeline.commands.instance import create_storages
from metpipeline.governance import runseal
from metpipeline.identity import FOLLOWS_RUN_TAG, SIGNED_IN_USER_TAG, current_user
from metpipeline.identity import REQUEST_SIGNED_IN as _SIGNED_IN
from metpipeline.identity import REQUEST_USER as _USER

_CLIENT_TAGS = (runseal.SEAL_TAG, SIGNED_IN_USER_TAG, FOLLOWS_RUN_TAG)  # never taken from a client


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def install_seals(instance, key: bytes, proxy: bool) -> None:
    """Seal every run and back-fill this webserver stores with the request's signed-in user.

    Wraps the instance's run storage, which every path that creates a run in this process ends in: launches
    and re-executions (`create_run`, `create_reexecuted_run`) and back-fills (`add_backfill`, whose runs
    the daemon creates later with the back-fill's tags). With a proxy, a request without a signed-in user
    stores its run unsealed: jobs that act on identity refuse it (fail closed)."""
    storage = instance.run_storage
    add_run, add_backfill = storage.add_run, storage.add_backfill

    def who() -> tuple[bool, str | None]:
        if proxy and not _SIGNED_IN.get():
            return False, None
        return True, (_USER.get() if proxy else None)

    def sealed(tags, **seal) -> dict[str, str]:
        """The tags without any a client typed for identity, with the server's seal of the request's user."""
        out = {k: v for k, v in (tags or {}).items() if k not in _CLIENT_TAGS}
        ok, user = who()
        if ok:
            out[runseal.SEAL_TAG] = runseal.make(key, user=user, **seal)
            if user:
                out[SIGNED_IN_USER_TAG] = user
        return out

    def sealed_add_run(run):
        partition = run.tags.get(runseal.PARTITION_TAG)
        tags = sealed(run.tags, via="ui", job=run.job_name, partition=partition, run_config=run.run_config)
        return add_run(run.with_tags(tags))

    def sealed_add_backfill(backfill):
        tags = sealed(
            backfill.tags,
            via="backfill",
            job=None,
            partition=None,
            bind_config=False,
            backfill_id=backfill.backfill_id,
        )
        return add_backfill(backfill._replace(tags=tags))

    storage.add_run = sealed_add_run
    storage.add_backfill = sealed_add_backfill


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
        except Refused as refused:
            if scope["type"] == "websocket":
                return await send({"type": "websocket.close", "code": 1008})
            return await _deny(send, refused.status, str(refused))
        user_token, signed_token = _USER.set(user), _SIGNED_IN.set(True)
        try:
            if scope["type"] == "websocket":
                return await self.app(scope, _no_mutations(receive), send)
            return await self.app(scope, receive, send)
        finally:
            _USER.reset(user_token)
            _SIGNED_IN.reset(signed_token)

    def _user(self, scope) -> str:
        client = (scope.get("client") or ("",))[0]
        if client not in self.trusted:
            raise Refused(403, "this server is reached through the sign-in proxy only")
        users = [v.decode("latin-1").strip() for n, v in scope.get("headers", []) if n.lower() == self.header]
        if len(users) > 1:
            # A proxy that appends its header instead of replacing the client's would pass both.
            raise Refused(400, "the sign-in header arrived more than once: the proxy must replace it")
        if users and users[0]:
            return users[0]
        raise Refused(401, "no signed-in user: sign in through the proxy")


class SameSiteMutationsMiddleware:
    """A GraphQL mutation is accepted only as the Dagster UI sends one: a POST of JSON. A mutation in a link
    (GET, or a query string on a POST) or in a form a foreign page submits (any other content type) would
    run with the signed-in person's seal without their knowing (cross-site request forgery): refused."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].endswith("/graphql"):
            return await self.app(scope, receive, send)
        params = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if any(_is_mutation(q) for q in params.get("query", [])):
            return await _deny(send, 405, "a GraphQL mutation is accepted as a JSON POST only")
        if scope["method"] == "POST":
            kind = next((v for n, v in scope.get("headers", []) if n.lower() == b"content-type"), b"")
            if kind.split(b";")[0].strip().lower() != b"application/json":
                return await _deny(send, 415, "GraphQL requests are accepted as application/json only")
        return await self.app(scope, receive, send)


def _is_mutation(query: str) -> bool:
    """The document holds a mutation (parsed as GraphQL); a document that does not parse counts as one."""
    from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse

    try:
        document = parse(query)
    except GraphQLError:
        return True
    return any(
        isinstance(d, OperationDefinitionNode) and d.operation == OperationType.MUTATION
        for d in document.definitions
    )


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


_LAUNCH_FIELDS = ("launchPipelineExecution", "launchRun")


def _launches(body: bytes) -> list[tuple[str, dict]]:
    """Every launch in one GraphQL request, parsed as GraphQL (graphql-core): (the answer's key, the
    executionParams as values). The operation is the one `operationName` selects; variables are applied
    wherever the document uses them (defaults included), and sent as an object or as a JSON string."""
    from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse, value_from_ast_untyped
    from graphql.language import FieldNode

    try:
        payload = json.loads(body)
    except ValueError:
        return []
    found: list[tuple[str, dict]] = []
    for request in payload if isinstance(payload, list) else [payload]:
        if not isinstance(request, dict) or not isinstance(request.get("query"), str):
            continue
        try:
            document = parse(request["query"])
        except GraphQLError:
            continue  # Dagster answers a document it cannot parse with its own error
        variables = request.get("variables") or {}
        if isinstance(variables, str):
            try:
                variables = json.loads(variables)
            except ValueError:
                variables = {}
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        name = request.get("operationName")
        chosen = [o for o in operations if (o.name.value if o.name else None) == name] if name else operations
        for operation in chosen[:1] if len(chosen) == 1 else []:
            if operation.operation != OperationType.MUTATION:
                continue
            defaults = {
                d.variable.name.value: value_from_ast_untyped(d.default_value)
                for d in operation.variable_definitions or []
                if d.default_value is not None
            }
            values = {**defaults, **(variables if isinstance(variables, dict) else {})}
            for field in operation.selection_set.selections:
                if not isinstance(field, FieldNode) or field.name.value not in _LAUNCH_FIELDS:
                    continue
                for argument in field.arguments or []:
                    if argument.name.value == "executionParams":
                        params = value_from_ast_untyped(argument.value, values)
                        if isinstance(params, dict):
                            found.append(((field.alias or field.name).value, params))
    return found


def launch_refusal(body: bytes, signed_in_user: str | None = None) -> bytes | None:
    """The GraphQL answer that refuses a decision's launch, or None to let the request through.

    The refusal is answered the way Dagster answers a run config it cannot accept
    (`RunConfigValidationInvalid`), so the Launchpad shows the sentence in its own dialog and no run is
    created. This is courtesy, not protection: the run checks everything again, under its server-made
    seal, and a request this does not understand goes through to be checked there."""
    launches = _launches(body)
    if len(launches) != 1:
        return None
    key, params = launches[0]
    selector = params.get("selector") or {}
    job = selector.get("jobName") or selector.get("pipelineName") or ""
    from metpipeline.approval.launch_review import review

    sentence = review(job, params.get("runConfigData"), signed_in_user)
    if sentence is None:
        return None
    error = {
        "__typename": "RuntimeMismatchConfigError",
        "message": sentence,
        "path": [],
        "reason": "RUNTIME_TYPE_MISMATCH",
    }
    answer = {"__typename": "RunConfigValidationInvalid", "pipelineName": job, "errors": [error]}
    return json.dumps({"data": {key: answer}}).encode("utf-8")


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
        answer = await asyncio.to_thread(launch_refusal, body, current_user())
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

    from metpipeline.commands.instance import ensure_dagster_home, say

    ensure_dagster_home()
    header = (settings.IDENTITY_HEADER.value() or "").strip()
    # Before any request is served: the seal key (missing, short, readable by others: one line, exit 2).
    key = runseal.load_key(say)
    create_app = web.create_app_from_workspace_process_context

    def create_reviewed_app(workspace_process_context, *a, **kw):
        install_seals(workspace_process_context.instance, key, proxy=bool(header))
        from metpipeline.webui.decision_page import with_decision_page

        app = with_decision_page(
            LaunchReviewMiddleware(create_app(workspace_process_context, *a, **kw)), workspace_process_context
        )
        app = SameSiteMutationsMiddleware(app)
        # The sign-in proxy's user is known first, so the review, the page and the seals see who it is.
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
    if args.with_daemon:
        create_storages()  # before the daemon and the webserver both open a fresh instance
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
    from metpipeline.commands.release import say

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
