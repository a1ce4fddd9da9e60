"""Who launched a run, through the real `metpipeline ui` behind the sign-in header: every shape of GraphQL
request that once slipped an identity tag past the middleware, sent by `eve` (in no registry) claiming to
be `demo.owner`; the decision page's form posted with and without its CSRF token. The runs the webserver
stores carry its seal of the signed-in person, whatever the request said, so no shape can forge a
decision; the page records nothing without its token.

A real webserver process on a loopback port (no daemon: launched runs stay queued, so each one's seal can
be read), its SQLite instance and state in a temporary folder."""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from metpipeline.governance import runseal
from metpipeline.identity import SIGNED_IN_USER_TAG
from metpipeline_tests.browser.harness import (
    REPO_ROOT,
    dagster_home,
    free_port,
    stop_process_group,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

HEADER = "X-Forwarded-User"
MONTH = "2024-03"
CLAIMED = "demo.owner"
ACK = {"month": MONTH, "total": 0, "approver": CLAIMED, "reason": "outage"}
SELECTOR = {
    "repositoryLocationName": "metpipeline",
    "repositoryName": "__repository__",
    "jobName": "acknowledge_volume",
}
TAG = {"key": SIGNED_IN_USER_TAG, "value": CLAIMED}


class Server:
    def __init__(self, url: str, env: dict, process, home: Path):
        self.url, self.env, self.process, self.home = url, env, process, home

    def post(self, body: bytes | dict, user: str | None = "eve", path: str = "/graphql", headers=None):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=raw,
            headers={
                "Content-Type": "application/json",
                **({HEADER: user} if user else {}),
                **(headers or {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("ui")
    var = root / "var"
    var.mkdir()
    home = dagster_home(root / "dagster_home")
    port = free_port()
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("METPIPELINE_")}
    env = {
        **inherited,
        "DAGSTER_HOME": str(home),
        "METPIPELINE_VAR_DIR": str(var),
        "METPIPELINE_STATE_URL": f"sqlite:///{var / 'state.sqlite'}",
        "METPIPELINE_WORK_DIR": str(var / "work"),
        "METPIPELINE_BUCKET_URL": str(var / "bucket"),
        "METPIPELINE_IDENTITY_HEADER": HEADER,
        "PYTHONUNBUFFERED": "1",
    }
    log = open(root / "ui.log", "wb")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [sys.executable, "-m", "metpipeline", "ui", "--host", "127.0.0.1", "--port", str(port),
         "-w", str(REPO_ROOT / "workspace.yaml")],
        cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    srv = Server(f"http://127.0.0.1:{port}", env, process, home)

    def loaded():
        status, body = srv.post(
            {"query": "{ workspaceOrError { ... on Workspace { locationEntries { loadStatus } } } }"}
        )
        return status == 200 and b'"LOADED"' in body

    try:
        wait_until(
            loaded, 240, interval=1, what=f"metpipeline ui to load its code location ({root / 'ui.log'})"
        )
        yield srv
    finally:
        stop_process_group(process)
        log.close()


def _params(tags=None) -> dict:
    return {
        "selector": SELECTOR,
        "runConfigData": {"ops": {"acknowledge_volume_op": {"config": ACK}}},
        "mode": "default",
        "executionMetadata": {"tags": tags or []},
    }


MUTATION = (
    "mutation Launch($executionParams: ExecutionParams!) { launchPipelineExecution(executionParams: "
    "$executionParams) { __typename ... on LaunchRunSuccess { run { runId } } } }"
)


def _inline(key: str) -> str:
    config = json.dumps(json.dumps(ACK))  # the config as a JSON string literal inside GraphQL
    return (
        "mutation { launchPipelineExecution(executionParams: {selector: {repositoryLocationName: "
        '"metpipeline", repositoryName: "__repository__", jobName: "acknowledge_volume"}, mode: "default", '
        f"runConfigData: {{ops: {{acknowledge_volume_op: {{config: {config}}}}}}}, "
        f'executionMetadata: {{tags: [{{key: "{key}", value: "{CLAIMED}"}}]}}}}) '
        "{ __typename ... on LaunchRunSuccess { run { runId } } } }"
    ).replace(f"config: {config}", "config: " + _graphql_object(ACK))


def _graphql_object(value) -> str:
    """A value written as a GraphQL literal (names bare, strings quoted)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_graphql_object(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_graphql_object(v) for v in value) + "]"
    return json.dumps(value)


SHAPES = {
    # The seven shapes that got `demo.owner` past the byte-rewriting middleware, and more.
    "tags in a variable with another name": {
        "query": MUTATION.replace("$executionParams", "$p"),
        "variables": {"p": _params([TAG])},
    },
    "inline literal, key written with a \\u escape": {"query": _inline("metpipeline\\u002fsigned_in_user")},
    "a variable's default value": {
        "query": MUTATION.replace(
            "$executionParams: ExecutionParams!",
            "$executionParams: ExecutionParams = "
            + _graphql_object({**_params(), "executionMetadata": {"tags": [TAG]}}).replace('"mode"', "mode"),
        ),
    },  # fmt: skip
    "\\u006dutation": b'{"query": "\\u006d'
    + MUTATION[1:].encode()
    + b'", "variables": '
    + json.dumps({"executionParams": _params([TAG])}).encode()
    + b"}",
    "a comment before mutation": {
        "query": "# first\n" + MUTATION,
        "variables": {"executionParams": _params([TAG])},
    },
    "operationName selecting a second operation": {
        "query": "query First { version } " + MUTATION,
        "operationName": "Launch",
        "variables": {"executionParams": _params([TAG])},
    },
    "variables sent as a JSON string": {
        "query": MUTATION,
        "variables": json.dumps({"executionParams": _params([TAG])}),
    },
    "an inline launch with no tag at all": {"query": _inline("team")},
    "a seal tag typed by the client": {
        "query": MUTATION,
        "variables": {"executionParams": _params([TAG, {"key": runseal.SEAL_TAG, "value": "forged.0000"}])},
    },
    "a batch of two launches": [
        {"query": MUTATION, "variables": {"executionParams": _params([TAG])}},
        {"query": MUTATION, "variables": {"executionParams": _params([TAG])}},
    ],
}


def _instance(server):
    """The webserver's own Dagster instance (its DAGSTER_HOME, which its dagster.yaml reads), from here."""
    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(server.home)
    try:
        return dg.DagsterInstance.get()
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = previous


def _runs(server) -> list:
    return list(_instance(server).get_runs(filters=dg.RunsFilter(job_name="acknowledge_volume")))


def _key(server) -> bytes:
    return (Path(server.env["METPIPELINE_VAR_DIR"]) / "identity.key").read_bytes().strip()


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_no_request_shape_makes_a_run_of_someone_else(server, shape):
    before = {r.run_id for r in _runs(server)}
    status, body = server.post(
        SHAPES[shape] if not isinstance(SHAPES[shape], list) else json.dumps(SHAPES[shape]).encode()
    )
    made = [r for r in _runs(server) if r.run_id not in before]
    for run in made:
        seal = runseal.read(_key(server), run.tags.get(runseal.SEAL_TAG))
        assert (seal["user"], seal["via"]) == ("eve", "ui"), (shape, seal)
        assert run.tags.get(SIGNED_IN_USER_TAG) == "eve", (shape, run.tags)
    # Each shape Dagster understands made one run, sealed as eve's; none made one of demo.owner's. (Dagster
    # answers a batch with an error of its own and makes no run.)
    expected = 0 if isinstance(SHAPES[shape], list) else 1
    assert len(made) == expected, (shape, status, body[:300])


def test_a_request_without_a_signed_in_user_stores_no_run(server):
    before = {r.run_id for r in _runs(server)}
    status, _ = server.post({"query": MUTATION, "variables": {"executionParams": _params([TAG])}}, user=None)
    assert status == 401
    assert {r.run_id for r in _runs(server)} == before


def test_the_decision_page_is_behind_the_sign_in_and_its_form_needs_its_token(server):
    request = urllib.request.Request(server.url + f"/approvals/{MONTH}")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 401
    # Figures before publication are for the registered owners and deputies only.
    request = urllib.request.Request(server.url + f"/approvals/{MONTH}", headers={HEADER: "eve"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60)
    assert refused.value.code == 403 and b"owners and deputies" in refused.value.read()
    request = urllib.request.Request(server.url + f"/approvals/{MONTH}", headers={HEADER: CLAIMED})
    with urllib.request.urlopen(request, timeout=60) as response:
        page = response.read().decode()
        cookie = response.headers["set-cookie"]
    assert f"signed in as <strong>{CLAIMED}</strong>" in page and "SameSite=strict" in cookie
    assert f"Nothing is staged for {MONTH}" in page  # no form: nothing staged on this server
    form = urllib.parse.urlencode({"action": "approve:mine", "csrf": "forged"}).encode()
    status, body = server.post(
        form, user=CLAIMED, path=f"/approvals/{MONTH}",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie.split(";")[0]},
    )  # fmt: skip
    assert status == 403 and b"did not come from this page" in body


REEXECUTE = (
    "mutation Again($p: ReexecutionParams!) { launchRunReexecution(reexecutionParams: $p) { __typename "
    "... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"
)
BACKFILL = (
    "mutation Fill($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) { __typename "
    "... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"
)


def test_a_re_execution_is_sealed_as_whoever_re_executes_it(server):
    status, body = server.post(
        {"query": MUTATION, "variables": {"executionParams": _params()}}, user="alice.owner"
    )
    parent = json.loads(body)["data"]["launchPipelineExecution"]["run"]["runId"]
    before = {r.run_id for r in _runs(server)}
    status, body = server.post(
        {"query": REEXECUTE, "variables": {"p": {"parentRunId": parent, "strategy": "ALL_STEPS",
                                                 "extraTags": [TAG]}}}
    )  # fmt: skip
    made = [r for r in _runs(server) if r.run_id not in before]
    assert len(made) == 1, body[:400]
    (again,) = made
    assert again.tags.get("dagster/parent_run_id") == parent
    seal = runseal.read(_key(server), again.tags[runseal.SEAL_TAG])
    assert (seal["user"], again.tags[SIGNED_IN_USER_TAG]) == ("eve", "eve")  # not the parent's alice


def test_a_back_fill_is_sealed_as_whoever_launches_it(server):
    params = {
        "assetSelection": [{"path": ["cris_extract"]}],
        "partitionNames": ["2024-01"],
        "tags": [TAG, {"key": runseal.SEAL_TAG, "value": "forged.0000"}],
    }
    status, body = server.post({"query": BACKFILL, "variables": {"p": params}})
    answer = json.loads(body)["data"]["launchPartitionBackfill"]
    assert answer["__typename"] == "LaunchBackfillSuccess", answer
    backfill = _instance(server).get_backfill(answer["backfillId"])
    seal = runseal.read(_key(server), backfill.tags[runseal.SEAL_TAG])
    assert (seal["user"], seal["via"], seal["backfill"]) == ("eve", "backfill", answer["backfillId"])
    assert backfill.tags[SIGNED_IN_USER_TAG] == "eve"

    # The back-fill's seal, copied onto runs made outside the webserver: once per month, never without one.
    @dg.op
    def nothing():
        return None

    @dg.job(name="acknowledge_volume")
    def copied():
        nothing()

    import sqlalchemy as sa

    instance = _instance(server)
    engine = sa.create_engine(server.env["METPIPELINE_STATE_URL"])
    base = {runseal.SEAL_TAG: backfill.tags[runseal.SEAL_TAG], "dagster/backfill": answer["backfillId"]}

    def verify(tags):
        run = instance.get_run_by_id(copied.execute_in_process(instance=instance, tags=tags).run_id)
        return runseal.verify(_key(server), engine, instance, run)

    with pytest.raises(runseal.SealRefused, match="used by its runs of months only"):
        verify(base)
    assert verify({**base, "dagster/partition": "2024-01"}).user == "eve"
    with pytest.raises(runseal.SealRefused, match="already used by run"):
        verify({**base, "dagster/partition": "2024-01"})


def test_a_mutation_from_a_link_or_a_foreign_form_is_refused(server):
    """Cross-site request forgery: a link (GET) or a form on another site (not JSON) would run with the
    signed-in person's seal. Only the UI's own JSON POST reaches Dagster."""
    import http.client

    before = {r.run_id for r in _runs(server)}
    link = server.url + "/graphql?" + urllib.parse.urlencode({"query": _inline("team")})
    request = urllib.request.Request(link, headers={HEADER: "alice.owner"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60)
    assert refused.value.code == 405
    body = json.dumps({"query": MUTATION, "variables": {"executionParams": _params()}}).encode()
    for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        status, _ = server.post(body, user="alice.owner", headers={"Content-Type": kind})
        assert status == 415, kind
    status, _ = server.post(
        b"", user="alice.owner", path="/graphql?" + urllib.parse.urlencode({"query": MUTATION})
    )
    assert status == 405
    # Reading over GET still works (the UI does it), and the sign-in header may come once only.
    request = urllib.request.Request(
        server.url + "/graphql?query=%7B%20version%20%7D", headers={HEADER: "eve"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    connection.putrequest("POST", "/graphql")
    connection.putheader(HEADER, "eve")
    connection.putheader(HEADER, "alice.owner")  # a proxy that appends instead of replacing
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body)
    assert connection.getresponse().status == 400
    assert {r.run_id for r in _runs(server)} == before
