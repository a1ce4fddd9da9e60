"""The data owner's decision page, served by `metpipeline ui` on the Dagster UI's own host, port and sign-in.

`/approvals` lists the months waiting for the signed-in person (datasets they own or deputise);
`/approvals/<YYYY-MM>` shows on one page the release report, what changed since the previous month per
dataset and category, each staged file and the cover sheet as it will be published, the checklist, a
comment box, Approve and Reject per dataset and "Approve all mine"; after a decision it says, in words,
what happens next. Server-rendered HTML (Starlette, Jinja2 with autoescaping), a CSRF token on every form
and a SameSite=Strict cookie, usable with the keyboard alone and without JavaScript.

Deciding launches a `decide_release` run through the webserver's own GraphQL, in this request: the run is
stored with the server's identity seal of the signed-in person (webserver.install_seals) and checks every
rule again under the sealed ledger. The page refuses plainly, before any run, what it can see is wrong.
"""

import hmac
import re
import secrets
import urllib.parse
from pathlib import Path
from typing import Any

import jinja2
import markupsafe

from metpipeline.governance import ledger
from metpipeline.identity import current_user
from metpipeline.webui import owner_view

PREFIX = "/approvals"
CSRF_COOKIE = "metpipeline_csrf"
_WORDS = dict(enumerate(("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"), 0))
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_IN_FLIGHT = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "MANAGED")

LAUNCH = """
mutation Decide($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""


# Every value people typed or the data holds is escaped (autoescape), whatever the template does.
_ENV = jinja2.Environment(
    autoescape=True, loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates")
)


def with_decision_page(app, workspace_process_context):
    """The Dagster webserver's ASGI app with the decision page in front of `/approvals`."""
    from starlette.applications import Starlette
    from starlette.routing import Route

    page = DecisionPage(workspace_process_context)
    routes = Starlette(
        routes=[
            Route(PREFIX, page.index, methods=["GET"]),
            Route(PREFIX + "/{month}", page.month, methods=["GET", "POST"]),
            Route(PREFIX + "/{month}/files/{dataset}/{name}", page.file, methods=["GET"]),
            Route(PREFIX + "/{month}/cover/{dataset}", page.cover, methods=["GET"]),
        ]
    )

    async def dispatch(scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == PREFIX or path.startswith(PREFIX + "/")):
            return await routes(scope, receive, send)
        return await app(scope, receive, send)

    return dispatch


class DecisionPage:
    def __init__(self, workspace_process_context):
        self.context = workspace_process_context

    # --- what every page needs -------------------------------------------------------------------------

    def _deployment(self):
        from metpipeline.resources import GovernanceResource, StateResource, WorkAreaResource

        governance = GovernanceResource()
        return (
            StateResource().engine(),
            governance.registry(),
            WorkAreaResource().area,
            bool(governance.identity_header),
        )

    @staticmethod
    def _person() -> str | None:
        return current_user()

    def _render(self, request, template: str, status: int = 200, **values: Any):
        from starlette.responses import HTMLResponse

        token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
        body = _ENV.get_template(f"{template}.html").render(
            prefix=PREFIX, person=self._person(), csrf=token, **values
        )
        response = HTMLResponse(body, status_code=status)
        response.headers["Content-Security-Policy"] = "default-src 'self'; style-src 'unsafe-inline'"
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", path=PREFIX)
        return response

    @staticmethod
    def _plain(text: str, status: int):
        from starlette.responses import PlainTextResponse

        return PlainTextResponse(text, status_code=status)

    # --- pages --------------------------------------------------------------------------------------------

    def _refused(self, registry, proxy: bool, dataset: str | None = None):
        """Pre-release figures are for the registered owners and deputies only (and, for a dataset's files,
        its own): anybody else signed in is told so, and sees nothing."""
        person = self._person()
        if not proxy:
            return None  # the embedded set-up has no sign-in: nobody can be told apart
        name = (person or "").strip().lower()
        allowed = registry.approvers(dataset) if dataset in registry.datasets else tuple(registry.people)
        if name in allowed:
            return None
        return self._plain(
            "The decision page shows figures before their publication: it is open to the data owners and "
            "deputies in the owners registry only"
            + (f" ({dataset}: {', '.join(allowed)})" if dataset else "")
            + ". Ask the Data Office to add you to the registry if you decide on releases.",
            403,
        )

    async def index(self, request):
        engine, registry, _, proxy = self._deployment()
        if refused := self._refused(registry, proxy):
            return refused
        months = owner_view.waiting(engine, registry, self._person())
        return self._render(request, "index", title="Releases waiting for your decision", months=months)

    async def month(self, request):
        month = request.path_params["month"]
        if not _MONTH.fullmatch(month):
            return self._plain(f"{month!r} is not a release month: the address ends in YYYY-MM", 404)
        if request.method == "POST":
            return await self._decide(request, month)
        return self._month_page(request, month, run_id=request.query_params.get("run"))

    def _month_page(self, request, month: str, refusal: str | None = None, run_id: str | None = None):
        engine, registry, area, proxy = self._deployment()
        if denied := self._refused(registry, proxy):
            return denied
        person = self._person()
        views = owner_view.month_view(engine, registry, area, month, person, self.context.instance)
        outcome, refresh = self._outcome(run_id, person) if run_id else (None, False)
        pending = [
            v.dataset for v in views if v.mine and not v.decided and v.checks_passed and not v.launched_by_me
        ]
        report = owner_view.report_body(area, month, views)
        return self._render(
            request,
            "month",
            title=f"Release for {month}: your decision",
            month=month,
            views=views,
            pending=pending,
            checklist=owner_view.checklist_items(),
            count_words=_WORDS.get(len(owner_view.checklist_items()), str(len(owner_view.checklist_items()))),
            report=markupsafe.Markup(report) if report else "The release report is not staged.",
            refusal=refusal,
            outcome=outcome,
            refresh=refresh,
            people=sorted(registry.people) if not proxy else [],
        )

    def _outcome(self, run_id: str, person: str | None) -> tuple[list[str] | None, bool]:
        """What became of the person's decision run, in words (and whether to look again shortly)."""
        import dagster as dg

        from metpipeline.identity import SIGNED_IN_USER_TAG

        run = self.context.instance.get_run_by_id(run_id)
        if run is None or run.tags.get(SIGNED_IN_USER_TAG) != person:
            return None, False  # not a run of this person's: nothing to say about it
        status = run.status.value
        if status in _IN_FLIGHT:
            return ["Recording your decision… this page refreshes by itself."], True
        if status == "SUCCESS":
            return [
                "Your decision is recorded in the ledger. What happens next is shown for each dataset."
            ], False
        failures = self.context.instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
        for record in failures:
            data = record.dagster_event.step_failure_data if record.dagster_event else None
            text = (data.user_failure_data.description if data and data.user_failure_data else None) or (
                data.error.message if data and data.error else None
            )
            if text:
                return [text.splitlines()[0]], False
        return ["Your decision was not recorded; open the decision again."], False

    async def _decide(self, request, month: str):
        # The form is URL-encoded (no file upload): parsed here, without a multipart parser.
        fields = urllib.parse.parse_qs(
            (await request.body()).decode("utf-8", "replace"), keep_blank_values=True
        )
        form = {name: values[-1] for name, values in fields.items()}
        cookie, sent = request.cookies.get(CSRF_COOKIE, ""), str(form.get("csrf", ""))
        if not cookie or not hmac.compare_digest(cookie, sent):
            return self._plain(
                "The form expired or did not come from this page: open the decision again.", 403
            )
        engine, registry, area, proxy = self._deployment()
        if denied := self._refused(registry, proxy):
            return denied
        person = self._person()
        views = {
            v.dataset: v
            for v in owner_view.month_view(engine, registry, area, month, person, movements=False)
        }
        action, _, target = str(form.get("action", "")).partition(":")
        approver = "" if proxy else str(form.get("approver", ""))
        who = person or approver
        mine = [
            d for d, v in views.items() if v.mine and (not proxy or who) and not v.decided and v.checks_passed
        ]
        if action not in ("approve", "reject"):
            return self._month_page(request, month, refusal="Choose Approve or Reject for a dataset.")
        if target == "mine":
            chosen = [d for d in mine if not views[d].launched_by_me]
            if not chosen:
                return self._month_page(request, month, refusal="Nothing of yours is waiting for a decision.")
        elif target not in views:
            return self._month_page(
                request,
                month,
                refusal=f"There is no {target!r} candidate for {month}; the datasets are {', '.join(views)}.",
            )
        else:
            chosen = [target]
        refusal = self._refusal(views, chosen, action, form, who, registry)
        if refusal:
            return self._month_page(request, month, refusal=refusal)
        items = owner_view.checklist_items()
        config = {
            "month": month,
            "candidates": {d: str(form.get(f"shown_{d}", "")) for d in chosen},
            "decisions": {d: action for d in chosen},
            # One confirmation of every statement, or each ticked on its own.
            "checklist": {
                k: form.get("check_all") == "yes" or form.get(f"check_{k}") == "yes" for k in items
            },
            "comment": str(form.get("comment", ""))[:2000],
            "approver": approver,
        }
        run_id, problem = await self._launch(month, config)
        if problem:
            return self._month_page(request, month, refusal=problem)
        from starlette.responses import RedirectResponse

        return RedirectResponse(f"{PREFIX}/{month}?run={run_id}", status_code=303)

    @staticmethod
    def _refusal(views, chosen, action, form, who, registry) -> str | None:
        """The plain sentence for what the page can see is wrong (the run checks everything again)."""
        for d in chosen:
            v = views[d]
            if not v.mine:
                owners = ", ".join(v.people)
                return f"{v.title} is not yours to decide: its owners and deputies are {owners}."
            if v.decided:
                return f"{v.title}: {v.state}; there is nothing left for you to decide."
            if not v.checks_passed:
                return f"{v.title} did not pass its checks and cannot be decided on."
            if v.launched_by_me:
                return (
                    f"You launched a run that staged {v.title.lower()}, so you cannot also approve it "
                    "(four eyes); another owner or deputy approves it."
                )
            if str(form.get(f"shown_{d}", "")) != v.short:
                return (
                    f"{v.title} was rebuilt since you opened this page: read the page again before deciding."
                )
        if action == "approve" and form.get("check_all") != "yes":
            missing = [s for k, s in owner_view.checklist_items().items() if form.get(f"check_{k}") != "yes"]
            if missing:
                return "Tick every checklist item before approving. Not ticked: " + " | ".join(missing)
        if not who:
            return "Choose the registered name you decide under."
        return None

    async def _launch(self, month: str, config: dict) -> tuple[str | None, str | None]:
        """Launch the decision run through the webserver's own GraphQL, within this request: the run is
        stored with the server's seal of the signed-in person."""
        from dagster_graphql.schema import create_schema

        from metpipeline.approval.decision_job import JOB, OP

        params = {
            "selector": {
                "repositoryLocationName": "metpipeline",
                "repositoryName": "__repository__",
                "jobName": JOB,
            },
            "runConfigData": {"ops": {OP: {"config": config}}},
            "executionMetadata": {"tags": [{"key": "dagster/partition", "value": month}]},
            "mode": "default",
        }
        result = await create_schema().execute_async(
            LAUNCH,
            variable_values={"executionParams": params},
            context_value=self.context.create_request_context(),
        )
        if result.errors:
            return None, f"The decision could not be launched ({result.errors[0].message}); try again."
        answer = (result.data or {}).get("launchPipelineExecution") or {}
        if answer.get("__typename") == "LaunchRunSuccess":
            return answer["run"]["runId"], None
        errors = answer.get("errors") or [{"message": answer.get("message", answer.get("__typename"))}]
        return None, str(errors[0].get("message", "")).splitlines()[0]

    # --- files ---------------------------------------------------------------------------------------------

    def _candidate(self, month: str, dataset: str):
        """The dataset's current candidate of the month (or None), the work area, and a refusal for anybody
        but its owners and deputies."""
        engine, registry, area, proxy = self._deployment()
        denied = self._refused(registry, proxy, dataset)
        if denied:
            return None, area, denied
        return ledger.current_candidate(engine, dataset, month), area, None

    async def file(self, request):
        from starlette.responses import FileResponse

        month, dataset, name = (request.path_params[k] for k in ("month", "dataset", "name"))
        view, area, denied = self._candidate(month, dataset)
        if denied:
            return denied
        path = owner_view.staged_file(area, month, dataset, view.content_hash, name) if view else None
        if path is None:
            return self._plain("No such staged file.", 404)
        return FileResponse(path, filename=path.name)

    async def cover(self, request):
        from starlette.responses import HTMLResponse

        month, dataset = request.path_params["month"], request.path_params["dataset"]
        view, area, denied = self._candidate(month, dataset)
        if denied:
            return denied
        if view is None:
            return self._plain("No such candidate.", 404)
        from metpipeline.bucket import open_store
        from metpipeline.publish.publisher import cover_preview
        from metpipeline.resources import BucketResource, PublicationResource

        bucket = BucketResource()
        store = open_store(bucket.validated_url(), bucket.endpoint_url or None)
        html = cover_preview(store, area, dataset, month, view.content_hash, PublicationResource().settings())
        return HTMLResponse(
            html, headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}
        )
