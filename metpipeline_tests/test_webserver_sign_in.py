"""The sign-in middleware of `metpipeline ui`, driven as the ASGI server drives it: who may reach the
webserver, and that the signed-in user's tag on every launched run is the proxy's, never the user's."""

import asyncio
import json

import pytest

from metpipeline.identity import SIGNED_IN_USER_TAG
from metpipeline.webserver import SignInMiddleware

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


def test_a_launch_carries_the_proxys_user_and_not_the_one_typed(server):
    inner, app = server
    typed = [{"key": SIGNED_IN_USER_TAG, "value": "somebody.else"}, {"key": "team", "value": "data"}]
    status, _ = call(app, launch(typed))
    assert status == 200
    tags = json.loads(inner.bodies[-1])["variables"]["executionParams"]["executionMetadata"]["tags"]
    assert {"key": SIGNED_IN_USER_TAG, "value": "alice.owner"} in tags
    assert {"key": "team", "value": "data"} in tags
    assert [t["value"] for t in tags if t["key"] == SIGNED_IN_USER_TAG] == ["alice.owner"]


def test_re_execution_and_back_fills_are_stamped_too(server):
    inner, app = server
    body = {
        "query": "mutation R($reexecutionParams: ReexecutionParams) "
        "{ launchRunReexecution(reexecutionParams: $reexecutionParams) { __typename } }",
        "variables": {"reexecutionParams": {"parentRunId": "x", "strategy": "ALL_STEPS"}},
    }
    assert call(app, body)[0] == 200
    extra = json.loads(inner.bodies[-1])["variables"]["reexecutionParams"]["extraTags"]
    assert extra == [{"key": SIGNED_IN_USER_TAG, "value": "alice.owner"}]
    body = {
        "query": "mutation B($backfillParams: LaunchBackfillParams!) { x }",
        "variables": {"backfillParams": {}},
    }
    assert call(app, body)[0] == 200
    assert json.loads(inner.bodies[-1])["variables"]["backfillParams"]["tags"][0]["value"] == "alice.owner"


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


def test_a_tag_written_into_the_query_text_is_refused(server):
    inner, app = server
    body = {"query": LAUNCH.replace("$executionParams)", f'{{tags: [{{key: "{SIGNED_IN_USER_TAG}"}}]}})')}
    assert call(app, body)[0] == 403
    assert call(app, b"mutation not json")[0] == 400
    assert call(app, b"", query=b"query=mutation%20x")[0] == 405
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


def test_a_mutation_after_an_escaped_newline_is_stamped_too(server):
    # JSON encodes the query's leading newline as `\n`, which hides the word boundary before "mutation":
    # the tag must be stamped (and a typed one replaced) however the text is laid out.
    inner, app = server
    body = launch([{"key": SIGNED_IN_USER_TAG, "value": "somebody.else"}])
    body["query"] = "\n" + body["query"]
    assert call(app, body)[0] == 200
    tags = json.loads(inner.bodies[-1])["variables"]["executionParams"]["executionMetadata"]["tags"]
    assert tags == [{"key": SIGNED_IN_USER_TAG, "value": "alice.owner"}]
    assert call(app, b"", query=b"query=%0Amutation%20x")[0] == 405
