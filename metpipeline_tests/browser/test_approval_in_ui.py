"""End to end through the real Dagster UI: a data engineer releases the month; the release run e-mails the
data owners, who follow the link to the decision page `metpipeline ui` serves, read the report and the
changes there, confirm the checklist and approve; the approval sensor (run by the real daemon) publishes
exactly those bytes to the bucket and the page says so. One owner decides with the mouse (at most four
clicks, nothing typed, no YAML), the other with the keyboard alone (Tab, Space, Enter).

Real parts only: `dagster dev` (webserver + daemon) on a loopback port with a throw-away instance, the
golden DataMart in SQLite, Debian's headless Chromium driven by Playwright, a local-directory bucket.
Screenshots go to the test's tmp directory; with METPIPELINE_UPDATE_SCREENSHOTS=1 they are also copied to
docs/screenshots/ for the README.

Run: `uv run pytest -m browser -s` (prints the timings of each stage; about 2.5 minutes on two cores).
The month is released as the schedule releases it, through the daemon: a ranged back-fill run, then the
`release_after_backfill` sensor's release run. Only the approval is done by hand in the UI, as in production.
"""

import hashlib
import json
import os
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect, sync_playwright

from metpipeline.governance import ledger
from metpipeline.months.partitions import monthly_partitions
from metpipeline.runs.release_chain import RANGE_END_TAG, RANGE_START_TAG, RELEASE_MONTH_TAG, earlier_months
from metpipeline_tests.browser.harness import (
    IDENTITY_HEADER,
    REPO_ROOT,
    DagsterUI,
    dagster_dev,
    dagster_home,
    metpipeline_env,
    wait_until,
)
from metpipeline_tests.browser.ui import (
    CHROMIUM,
    VIEWPORT,
    fill_launchpad,
    launch_chromium,
    launch_refused,
    launch_run_via_graphql,
    wait_for_run,
    wait_for_run_page_status,
)
from metpipeline_tests.fixtures.mail import Mailbox, free_port
from metpipeline_tests.golden.datamart import EXPECTED_DIR, RELEASE_MONTH, build_golden_datamart

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(900)]

DATASET = "borough"
BUCKET_SLUG = "mps-borough-level-crime"
FILE_24M = "MPS Borough Level Crime (most recent 24 months).csv"
FILE_HISTORICAL = "MPS Borough Level Crime (Historical).csv"
APPROVER = "demo.owner"  # owns borough and flagged; decides with the mouse
DEPUTY = "demo.deputy"  # owns ward and lsoa here; decides with the keyboard alone
ENGINEER = "data.engineer"  # launches the release: in no registry, and not an approver (four eyes)
OWNERS = """
version: 1
people:
  demo.owner: {display_name: "Demo Data Owner (test)", email: demo.owner@example.invalid}
  demo.deputy: {display_name: "Demo Deputy (test)", email: demo.deputy@example.invalid}
datasets:
  borough: {owners: [demo.owner], deputies: [demo.deputy]}
  flagged: {owners: [demo.owner]}
  ward: {owners: [demo.deputy]}
  lsoa: {owners: [demo.deputy]}
"""
DOCS_SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"

RELEASE_TIMEOUT_S = 600
RUN_TIMEOUT_S = 120
PUBLISH_TIMEOUT_S = 120
SENSOR_TIMEOUT_S = 120


def approval_yaml(month: str, candidate_hash: str, approver: str = APPROVER) -> str:
    return (
        "ops:\n"
        "  record_decision_op:\n"
        "    config:\n"
        f"      dataset: {DATASET}\n"
        f'      month: "{month}"\n'
        "      decision: approve\n"
        f"      approver: {approver}\n"
        '      comment: "Reviewed the release report and the candidate files"\n'
        f'      candidate_hash: "{candidate_hash}"\n'
    )


@contextmanager
def evidence(page: Page, ui: DagsterUI, folder: Path, timings: dict[str, float]) -> Iterator[None]:
    """On any failure: save the page's screenshot and point at the Dagster log in the assertion message."""
    try:
        yield
    except Exception as exc:
        shot = folder / "failure.png"
        try:
            page.screenshot(path=str(shot), full_page=True)
        except Exception as shot_exc:  # the browser itself may be what failed
            shot = Path(f"<no screenshot: {shot_exc!r}>")
        raise AssertionError(
            f"{type(exc).__name__}: {exc}\n"
            f"screenshot: {shot}\npage: {page.url}\ndagster log: {ui.log_path}\ntimings so far: {timings}\n"
            f"--- dagster log tail ---\n{ui.log_tail(40)}"
        ) from exc


def release_month(ui: DagsterUI, month: str) -> str:
    """Release `month` the way the schedule does, through the webserver and the daemon: one back-fill run
    extracts every earlier month, and on its success the `release_after_backfill` sensor launches the
    month's `monthly_release_job`. Returns the release run's id once it has succeeded."""
    first = monthly_partitions.get_partition_keys()[0]
    previous = earlier_months(month)[-1]
    owner_headers, ui.headers = ui.headers, {IDENTITY_HEADER: ENGINEER}  # the engineer launches it
    try:
        backfill_id = launch_run_via_graphql(
            ui,
            "backfill_job",
            {RANGE_START_TAG: first, RANGE_END_TAG: previous, RELEASE_MONTH_TAG: month},
        )
    finally:
        ui.headers = owner_headers
    status = wait_for_run(ui, backfill_id, RELEASE_TIMEOUT_S)
    assert status == "SUCCESS", f"back-fill run {backfill_id} ({first}..{previous}) ended {status}"

    def release_run() -> dict | None:
        ui.check_alive()
        for run in ui.runs("monthly_release_job"):
            tags = {t["key"]: t["value"] for t in run["tags"]}
            if tags.get("dagster/partition") == month:
                return run
        return None

    run = wait_until(
        release_run, SENSOR_TIMEOUT_S, interval=1, what=f"the sensor to launch {month}'s release"
    )
    status = wait_for_run(ui, run["runId"], RELEASE_TIMEOUT_S)
    assert status == "SUCCESS", f"release run {run['runId']} for {month} ended {status}"
    return run["runId"]


def staged_candidate(state_url: str, work_dir: Path, month: str) -> tuple[str, dict]:
    """The current candidate's hash from the ledger, and its manifest from the work area."""
    engine = sa.create_engine(state_url)
    try:
        candidate = ledger.current_candidate(engine, DATASET, month)
    finally:
        engine.dispose()
    assert candidate is not None, f"no {DATASET} {month} candidate in the ledger at {state_url}"
    manifest_path = work_dir / "candidates" / month / DATASET / candidate.content_hash / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    assert manifest["content_hash"] == candidate.content_hash
    return candidate.content_hash, manifest


def wait_for_publication(bucket: Path, month: str, candidate_hash: str) -> dict:
    latest_path = bucket / "datasets" / BUCKET_SLUG / "latest.json"

    def published() -> dict | None:
        if not latest_path.is_file():
            return None
        latest = json.loads(latest_path.read_text(encoding="utf-8"))
        return latest if latest.get("latest", {}).get("content_hash") == candidate_hash else None

    return wait_until(
        published, PUBLISH_TIMEOUT_S, interval=1, what=f"{latest_path} to name {candidate_hash}"
    )


def decision_links(mailbox: Mailbox, month: str) -> tuple[str, str]:
    """The report link and the decision link of the notification the release run sent."""
    (recipients, mail), *_ = mailbox.messages
    assert "demo.owner@example.invalid" in recipients and month in mail["Subject"]
    body = mail.get_content()
    report = re.search(r"Read the release report: (\S+)", body).group(1)
    decide = re.search(r"Decide here: (\S+)", body).group(1)
    return report, decide


def assert_links_resolve(page: Page, what: str) -> None:
    """Every link of a page served from the local bucket resolves to a published file."""
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    local = [h for h in hrefs if h.startswith("file://")]
    assert local, f"{what}: no link to a published file"
    for href in local:
        target = Path(urllib.parse.unquote(href[len("file://") :]).split("#")[0])
        assert target.is_file(), f"{what} link {href} resolves to no published file"


def settle(page: Page, timeout_ms: int = 30_000) -> None:
    """Wait until the page's CSS transitions and animations have finished (a dialog fading in)."""
    page.wait_for_function("() => document.getAnimations().length === 0", timeout=timeout_ms)


def decision_link(mailbox: Mailbox, month: str, owner: str) -> str:
    """The decision page's link in the notification the release run sent to `owner`."""
    for recipients, mail in mailbox.messages:
        if f"{owner}@example.invalid" in recipients and month in mail["Subject"]:
            return re.search(r"Decide here: (\S+)", mail.get_content()).group(1)
    raise AssertionError(f"no notification to {owner} among {len(mailbox.messages)} message(s)")


def assert_accessible_form(page: Page) -> None:
    """What an accessibility checker would look at first, by hand (axe-core is not in the registries here):
    every form control has a label, every button a name, the page a language and one main landmark."""
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), textarea, select')]
              .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
              .map(e => e.name)"""
    )
    assert unlabelled == [], f"controls without a label: {unlabelled}"
    nameless = page.evaluate(
        "() => [...document.querySelectorAll('button')].filter(b => !b.innerText.trim()).length"
    )
    assert nameless == 0
    assert page.evaluate("() => document.documentElement.lang") == "en"
    assert page.locator("main").count() == 1


def tab_to(page: Page, accessible: str, limit: int = 60) -> int:
    """Press Tab until the focused element's label or text contains `accessible`; returns the presses."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => { const e = document.activeElement;
                       const label = e.labels && e.labels[0] ? e.labels[0].innerText : '';
                       return label + ' ' + (e.innerText || '') }"""
        )
        if accessible in focused:
            return presses
    raise AssertionError(f"{accessible!r} is not reachable with Tab (tried {limit} times)")


def test_owner_decides_from_the_notification_and_the_sensor_publishes(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (make system-deps installs Debian's chromium)")
    started = time.monotonic()
    timings: dict[str, float] = {}
    month = RELEASE_MONTH
    var = tmp_path / "var"
    port = free_port()
    env = metpipeline_env(var)
    owners = tmp_path / "owners.yaml"
    owners.write_text(OWNERS, encoding="utf-8")
    env["METPIPELINE_OWNERS_FILE"] = str(owners)
    build_golden_datamart(var / "datamart.sqlite")
    shots = tmp_path / "screenshots"
    shots.mkdir()
    bucket = Path(env["METPIPELINE_BUCKET_URL"])
    home = dagster_home(tmp_path / "dagster_home")
    clicks, typed_characters, keys_pressed = 0, 0, 0

    with Mailbox() as mailbox:
        env.update(
            METPIPELINE_SMTP_HOST="127.0.0.1",
            METPIPELINE_SMTP_PORT=str(mailbox.port),
            METPIPELINE_UI_BASE_URL=f"http://127.0.0.1:{port}",
        )
        with (
            # Production's entry point: `metpipeline ui` behind the sign-in proxy (whose header the browser
            # and the harness add, as the proxy would), with the daemon beside it.
            dagster_dev(
                REPO_ROOT / "workspace.yaml",
                home,
                tmp_path / "dagster.log",
                env=env,
                signed_in_as=APPROVER,
                port=port,
            ) as ui,
            sync_playwright() as playwright,
        ):
            timings["dagster_up"] = time.monotonic() - started
            browser = launch_chromium(playwright)
            page = browser.new_page(viewport=VIEWPORT, extra_http_headers=ui.headers)
            deputy = browser.new_page(viewport=VIEWPORT, extra_http_headers={IDENTITY_HEADER: DEPUTY})
            try:
                with evidence(page, ui, tmp_path, timings):
                    # 1. The engineer releases the month through the daemon, as the schedule would; the
                    #    release run e-mails the owners (a real SMTP server on loopback).
                    release_month(ui, month)
                    timings["released"] = time.monotonic() - started
                    candidate_hash, manifest = staged_candidate(
                        env["METPIPELINE_STATE_URL"], Path(env["METPIPELINE_WORK_DIR"]), month
                    )
                    assert not (bucket / "datasets" / BUCKET_SLUG).exists(), "published before any approval"
                    wait_until(lambda: len(mailbox.messages) >= 1, 60, what="the notification e-mail")
                    link = decision_link(mailbox, month, APPROVER)
                    assert link == f"{ui.url}/approvals/{month}", link

                    # Without the proxy's header the webserver answers nobody, the page included.
                    unsigned = DagsterUI(ui.url, ui.log_path, ui.process, ui.env)
                    with pytest.raises(urllib.error.HTTPError) as refused:
                        unsigned.graphql("query { version }")
                    assert refused.value.code == 401
                    with pytest.raises(urllib.error.HTTPError) as refused:
                        urllib.request.urlopen(link, timeout=30)
                    assert refused.value.code == 401

                    # The engineers' Launchpad path is still there, through the same rules: signed in as the
                    # owner, typing someone else's name is refused in one sentence, and no run is created.
                    fill_launchpad(
                        page,
                        ui,
                        "record_approval",
                        approval_yaml(month, candidate_hash, approver=DEPUTY),
                    )
                    launch_refused(page, "but typed approver 'demo.deputy'; an owner decides under their own")
                    assert not ui.runs("record_approval"), "a refused decision must not become a run"
                    dialog_text = page.get_by_role("dialog").inner_text()
                    assert "Stack Trace" not in dialog_text and candidate_hash[:12] not in dialog_text
                    settle(page)
                    page.screenshot(path=str(shots / "approval-refused-other-name.png"))
                    page.keyboard.press("Escape")

                    # 2. The owner opens the link from the e-mail: the report, the changes, the files and the
                    #    checklist on one page.
                    page.goto(link)
                    clicks += 1
                    expect(
                        page.get_by_role("heading", name=f"Release for {month}: your decision")
                    ).to_be_visible(timeout=60_000)
                    expect(page.get_by_role("heading", name="Release report")).to_be_visible()
                    expect(
                        page.get_by_text("largest movements against the month before").first
                    ).to_be_visible()
                    assert candidate_hash not in page.content(), "no hash is shown to the owner"
                    assert "METPIPELINE_" not in page.inner_text("body"), "no setting names for owners"
                    assert_accessible_form(page)
                    page.screenshot(path=str(shots / "owner-decision-page.png"))
                    # Each staged file and the cover sheet as it will be published, from the page's links.
                    staged = page.get_by_role("link", name=FILE_24M).first.get_attribute("href")
                    got = page.request.get(urllib.parse.urljoin(page.url, staged))
                    assert (
                        got.ok
                        and got.body()
                        == (
                            Path(env["METPIPELINE_WORK_DIR"])
                            / "candidates"
                            / month
                            / DATASET
                            / candidate_hash
                            / FILE_24M
                        ).read_bytes()
                    )
                    cover = page.request.get(f"{link}/cover/{DATASET}")
                    assert cover.ok and "version 1" in cover.text() and "Files" in cover.text()
                    other = browser.new_page(extra_http_headers={IDENTITY_HEADER: ENGINEER})
                    assert other.request.get(urllib.parse.urljoin(page.url, staged)).status == 403
                    other.close()

                    # A wrong action is a plain sentence, before any run: approving without the checklist.
                    page.get_by_role("button", name="Approve crime by borough").click()
                    expect(page.get_by_role("alert")).to_contain_text(
                        "Tick every checklist item before approving"
                    )
                    assert not ui.runs("decide_release"), "a refusal the page can see must not become a run"
                    page.screenshot(path=str(shots / "owner-decision-refused.png"))

                    # 3. With the mouse: confirm the checklist, approve everything of theirs.
                    page.get_by_label("I confirm all four statements above").check()
                    clicks += 1
                    page.get_by_role("button", name=re.compile("Approve all mine")).click()
                    clicks += 1
                    expect(page.get_by_role("status")).to_contain_text(
                        "Your decision is recorded", timeout=120_000
                    )
                    for title in ("Crime by borough", "Flagged crime"):
                        row = page.get_by_role("row").filter(has_text=title)
                        expect(row).to_contain_text(re.compile("being published now|published as version 1"))
                    page.screenshot(path=str(shots / "owner-decision-recorded.png"))
                    timings["approved"] = time.monotonic() - started

                    # 4. The deputy, with the keyboard alone (Tab, Space, Enter), approves theirs.
                    deputy.goto(decision_link(mailbox, month, DEPUTY))
                    keys_pressed += tab_to(deputy, "I confirm all four statements above")
                    deputy.keyboard.press("Space")
                    keys_pressed += 1
                    keys_pressed += tab_to(deputy, "Approve all mine")
                    deputy.keyboard.press("Enter")
                    keys_pressed += 1
                    expect(deputy.get_by_role("status")).to_contain_text(
                        "Your decision is recorded", timeout=120_000
                    )

                    # 5. The sensor sees the decisions and publish_job puts the candidates in the bucket;
                    #    the page says so.
                    latest = wait_for_publication(bucket, month, candidate_hash)
                    timings["published"] = time.monotonic() - started
                    publish_runs = [
                        r for r in ui.runs("publish_job")
                        if {t["key"]: t["value"] for t in r["tags"]}.get("metpipeline/dataset") == DATASET
                    ]  # fmt: skip
                    assert len(publish_runs) == 1, f"expected one publish run, got {publish_runs}"
                    publish_id = publish_runs[0]["runId"]
                    status = wait_for_run(ui, publish_id, RUN_TIMEOUT_S)
                    assert status == "SUCCESS", f"publish run {publish_id} ended {status}"
                    page.goto(link)
                    row = page.get_by_role("row").filter(has_text="Crime by borough")
                    expect(row).to_contain_text("published as version 1")
                    page.screenshot(path=str(shots / "owner-published.png"))
                    wait_until(
                        lambda: any("published (version 1)" in m["Subject"] for _, m in mailbox.messages),
                        60,
                        what="the published notification",
                    )
                    page.goto(f"{ui.url}/runs/{publish_id}")
                    wait_for_run_page_status(page, "Success")
                    page.screenshot(path=str(shots / "publish-run-success.png"))

                    # 5b. What is live, in the Catalog: the published dataset's month, its version, its
                    #     address and who approved it, as the publish run recorded them.
                    prefix = f"datasets/{BUCKET_SLUG}/{month}/v1/"
                    page.goto(f"{ui.url}/assets/published_{DATASET}?view=partitions&partition={month}")
                    expect(page.get_by_text("manifest_sha256").first).to_be_visible(timeout=60_000)
                    expect(page.get_by_text(prefix).first).to_be_visible(timeout=30_000)
                    expect(page.get_by_text("approved_by").first).to_be_visible()
                    expect(page.get_by_text(APPROVER).first).to_be_visible()
                    page.screenshot(path=str(shots / "catalog-published-partition.png"), full_page=True)

                    # 6. What the public opens: the landing page at the bucket root, and its links.
                    page.goto((bucket / "index.html").as_uri())
                    expect(page.get_by_text("MPS Borough Level Crime").first).to_be_visible(timeout=30_000)
                    page.screenshot(path=str(shots / "landing-page.png"))
                    assert_links_resolve(page, "landing page")
                    # ... and the cover sheet it links to: every file of the version, with size and sha256.
                    page.get_by_role("link", name="Cover sheet").first.click()
                    files_heading = page.get_by_role("heading", name="Files", exact=True)
                    expect(files_heading).to_be_visible(timeout=30_000)
                    assert page.url.endswith("/v1/cover-sheet.html"), page.url
                    page.screenshot(path=str(shots / "cover-sheet.png"), full_page=False)
                    assert_links_resolve(page, "cover sheet")
            finally:
                browser.close()

    assert ui.stopped_with == "SIGINT", f"dagster needed {ui.stopped_with} to stop; log {ui.log_path}"
    # The owner's whole decision: at most four clicks, nothing typed, no YAML; the deputy's by keyboard.
    print(
        f"owner's decision: {clicks} clicks, {typed_characters} characters typed; deputy: {keys_pressed} keys"
    )
    assert clicks <= 4 and typed_characters == 0

    # The ledger names each signed-in owner, authenticated by the proxy, with every checklist answer.
    engine = sa.create_engine(env["METPIPELINE_STATE_URL"])
    for dataset, person in (("borough", APPROVER), ("flagged", APPROVER), ("ward", DEPUTY), ("lsoa", DEPUTY)):
        current = ledger.current_candidate(engine, dataset, month)
        (decision,) = ledger.decisions_for(engine, dataset, month, current.content_hash)
        assert set(json.loads(decision.checklist)["answers"].values()) == {True}
        assert (decision.approver, decision.authentication, decision.signed_in_user) == (
            person,
            ledger.AUTHENTICATED,
            person,
        )
        assert set(ledger.launchers_of(engine, dataset, month, current.content_hash)) == {ENGINEER}

    # What the public sees: v1 of the approved candidate, byte for byte.
    entry = latest["latest"]
    assert (entry["version"], entry["month"]) == (1, month), latest
    version_dir = bucket / "datasets" / BUCKET_SLUG / month / "v1"
    assert entry["path"].rstrip("/").endswith(f"{BUCKET_SLUG}/{month}/v1")
    assert {FILE_24M, FILE_HISTORICAL} <= {p.name for p in version_dir.iterdir()}, sorted(
        version_dir.iterdir()
    )
    approved = {f["name"]: f["sha256"] for f in manifest["files"] if f["role"] == "data"}
    for name in (FILE_24M, FILE_HISTORICAL):
        published = hashlib.sha256((version_dir / name).read_bytes()).hexdigest()
        assert published == approved[name], f"{name} differs from the approved candidate"
    # The current (2026) layout of the Datastore's borough file.
    expected = EXPECTED_DIR / "borough__24m__datastore-2026.csv"
    expected_header = expected.read_text(encoding="utf-8").splitlines()[0]
    assert (version_dir / FILE_24M).read_text(encoding="utf-8").splitlines()[0] == expected_header

    timings["total"] = time.monotonic() - started
    rounded = {k: round(v, 1) for k, v in timings.items()}
    print(f"browser approval test timings (s from start): {json.dumps(rounded)}")
    if os.environ.get("METPIPELINE_UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for shot in sorted(shots.glob("*.png")):
            shutil.copyfile(shot, DOCS_SCREENSHOTS / shot.name)
