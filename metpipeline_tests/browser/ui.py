"""Steps in the Dagster 1.13 UI, driven with Playwright's sync API in Debian's headless Chromium.

The Launchpad of a job is `/locations/<location>/jobs/<job>/playground`; its run-config editor is a
CodeMirror 5 editor (`.CodeMirror`), filled here the way a person would: click, select all, paste.
"""

import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, Playwright, expect

from metpipeline_tests.browser.harness import DagsterUI, HarnessError, wait_until

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1600, "height": 1000}
TERMINAL_RUN_STATUSES = {"SUCCESS", "FAILURE", "CANCELED"}

RUN_QUERY = """
query Run($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { runId jobName status }
  }
}
"""


def launch_chromium(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)


def launchpad_url(ui: DagsterUI, job: str, location: str = "metpipeline") -> str:
    return f"{ui.url}/locations/{location}/jobs/{job}/playground"


def fill_launchpad(
    page: Page, ui: DagsterUI, job: str, run_config_yaml: str, timeout_ms: int = 30_000
) -> None:
    """Open the job's Launchpad and replace the editor's run config with `run_config_yaml`."""
    page.goto(launchpad_url(ui, job))
    editor = page.locator(".CodeMirror").first
    editor.wait_for(state="visible", timeout=timeout_ms)
    editor.click()
    page.keyboard.press("ControlOrMeta+A")
    # One paste-like insertion: typing key by key would trigger CodeMirror's auto-indent on every newline.
    page.keyboard.insert_text(run_config_yaml)
    typed = page.evaluate("document.querySelector('.CodeMirror').CodeMirror.getValue()")
    if typed.strip() != run_config_yaml.strip():
        raise AssertionError(f"the Launchpad editor holds {typed!r}, not the config typed into it")
    # The Launchpad validates the config against the job's schema as you type.
    expect(page.get_by_text("No errors", exact=True)).to_be_visible(timeout=timeout_ms)


def launch_run(page: Page, timeout_ms: int = 30_000) -> str:
    """Click "Launch Run"; return the new run's id from the run page the UI opens."""
    button = page.get_by_role("button", name="Launch Run")
    expect(button).to_be_enabled(timeout=timeout_ms)
    button.click()
    page.wait_for_url("**/runs/*", timeout=timeout_ms)
    return page.url.rstrip("/").rsplit("/", 1)[-1]


def launch_refused(page: Page, sentence: str, timeout_ms: int = 60_000) -> None:
    """Click "Launch Run" and expect the Launchpad to answer with `sentence` in its dialog (no run page)."""
    button = page.get_by_role("button", name="Launch Run")
    expect(button).to_be_enabled(timeout=timeout_ms)
    button.click()
    expect(page.get_by_role("dialog").get_by_text(sentence, exact=False).first).to_be_visible(
        timeout=timeout_ms
    )
    assert "/runs/" not in page.url, f"a run was created: {page.url}"


def run_status(ui: DagsterUI, run_id: str) -> dict[str, Any]:
    data = ui.graphql(RUN_QUERY, {"runId": run_id})["runOrError"]
    if data["__typename"] != "Run":
        raise HarnessError(f"run {run_id}: {data['__typename']}")
    return data


def wait_for_run(ui: DagsterUI, run_id: str, timeout: float = 120) -> str:
    """Wait (bounded) until the run reaches a terminal status; return it."""

    def terminal() -> str | None:
        ui.check_alive()
        status = run_status(ui, run_id)["status"]
        return status if status in TERMINAL_RUN_STATUSES else None

    return wait_until(terminal, timeout, interval=1, what=f"run {run_id} to finish")


def wait_for_run_page_status(page: Page, label: str = "Success", timeout_ms: int = 30_000) -> None:
    """Wait until the run page's status tag reads `label` (the UI polls; the page is not reloaded)."""
    expect(page.get_by_text(label, exact=True).first).to_be_visible(timeout=timeout_ms)
    # Let the run's event log and Gantt chart finish rendering before a screenshot is taken.
    time.sleep(1)


LAUNCH_RUN_MUTATION = """
mutation LaunchRun($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
    ... on PresetNotFoundError { message }
    ... on ConflictingExecutionParamsError { message }
    ... on NoModeProvidedError { message }
    ... on UnauthorizedError { message }
  }
}
"""


def launch_run_via_graphql(
    ui: DagsterUI,
    job: str,
    tags: dict[str, str],
    location: str = "metpipeline",
) -> str:
    """Launch a job through the webserver's GraphQL API (what the UI's Launchpad sends); return the run id."""
    selector: dict[str, Any] = {
        "repositoryLocationName": location,
        "repositoryName": "__repository__",
        "jobName": job,
    }
    params = {
        "selector": selector,
        "runConfigData": {},
        "mode": "default",
        "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
    }
    result = ui.graphql(LAUNCH_RUN_MUTATION, {"params": params})["launchRun"]
    if result["__typename"] != "LaunchRunSuccess":
        raise HarnessError(f"launching {job} answered {result['__typename']}: {result}")
    return result["run"]["runId"]
