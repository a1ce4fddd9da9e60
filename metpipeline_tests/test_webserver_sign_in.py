"""The sign-in middleware of `metpipeline ui`, driven as the ASGI server drives it: who may reach the
webserver, and that it holds the proxy's user for the request without touching the request."""

import asyncio
import json

import pytest

from metpipeline.commands.webserver import SignInMiddleware
from metpipeline.identity import SIGNED_IN_USER_TAG, current_user

LAUNCH = """mutation LaunchPipelineExecution($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) { __typename } }"""


class Recorder:
    """Stands in for the Dagster webserver: keeps what reached it."""

    def __init__(self):
        self.bodies: list[bytes] = []

    async def __call__(self, scope, receive, send):
        body = b""
        if scope["type"] == "http":
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            self.bodies.append(body)
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"{}"})
        else:
            self.bodies.append(json.dumps(await receive()).encode())


def call(app, body: dict | bytes, *, client="127.0.0.1", user="alice.owner", path="/graphql", query=b""):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    if user is not None:
        headers.append((b"x-forwarded-user", user.encode()))
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "query_string": query,
        "headers": headers,
        "client": (client, 50000),
    }
    sent = []

    async def receive():
        return {"type": "http.request", "body": raw, "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


@pytest.fixture
def server():
    inner = Recorder()
    return inner, SignInMiddleware(inner, "X-Forwarded-User", ["127.0.0.1", "::1"])


def launch(tags):
    return {
        "query": LAUNCH,
        "variables": {"executionParams": {"selector": {}, "executionMetadata": {"tags": tags}}},
    }


def test_a_request_reaches_the_webserver_untouched_with_its_user_known(server):
    """The middleware rewrites no request: it admits the proxy's requests and holds who is signed in for
    the request (the run storage seals runs with it: test_identity_through_the_webserver.py)."""
    inner, app = server
    seen = []

    async def recording(scope, receive, send):
        seen.append(current_user())
        await inner(scope, receive, send)

    app.app = recording
    body = launch([{"key": SIGNED_IN_USER_TAG, "value": "somebody.else"}])
    assert call(app, body)[0] == 200
    assert json.loads(inner.bodies[-1]) == body and seen == ["alice.owner"]
    assert current_user() is None  # only for the request


@pytest.mark.parametrize(
    "kwargs, status",
    [
        ({"client": "10.1.2.3"}, 403),  # straight to the webserver, around the proxy
        ({"user": None}, 401),  # through the proxy but nobody signed in
        ({"user": "  "}, 401),
    ],
)
def test_requests_not_from_the_proxy_or_without_a_user_are_refused(server, kwargs, status):
    inner, app = server
    assert call(app, launch([]), **kwargs)[0] == status
    assert inner.bodies == []


def test_reading_is_passed_through_untouched(server):
    inner, app = server
    body = {"query": "query Runs { runsOrError { __typename } }"}
    assert call(app, body)[0] == 200
    assert json.loads(inner.bodies[-1]) == body


def test_no_mutation_over_the_websocket(server):
    inner, app = server
    messages = [{"type": "websocket.receive", "text": json.dumps({"payload": {"query": LAUNCH}})}]

    async def receive():
        return messages.pop(0)

    async def send(message):
        pass

    scope = {
        "type": "websocket",
        "path": "/graphql",
        "headers": [(b"x-forwarded-user", b"alice.owner")],
        "client": ("127.0.0.1", 1),
    }
    asyncio.run(app(scope, receive, send))
    assert json.loads(inner.bodies[-1])["type"] == "websocket.disconnect"
