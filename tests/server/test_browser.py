"""The dashboard in a real headless Chromium (Debian's `chromium`, driven by Playwright; never `playwright install`).

Screenshots of the run page land in each test's tmp_path. Without /usr/bin/chromium these tests
fail, loudly: .ci/run installs it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.helpers import events, status_json
from tests.server.conftest import GATE, GATE_OBJECTIVE, OBJECTIVE, TOKEN, Server

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
WAIT = 60_000  # ms: the machine is shared and slow


@pytest.fixture
def browser() -> Iterator:
    """Debian's chromium through Playwright; a missing browser fails the test (never a silent skip)."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium; .ci/run does)")
    from playwright.sync_api import sync_playwright  # here: a missing package fails only these tests

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _open(browser, server: Server, hash_: str = ""):
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    page.set_default_timeout(WAIT)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto(f"{server.url}/?token={TOKEN}")  # the first visit: sets the cookie, drops the token from the URL
    assert page.url == f"{server.url}/"
    if hash_:
        page.goto(f"{server.url}/{hash_}")
    page.evaluate("window.__sameDocument = true")  # gone if the page ever reloads
    return page, problems


def _still_same_document(page) -> bool:
    return page.evaluate("window.__sameDocument === true")


def _node(page, stage: str, status: str) -> str:
    return f'#dag .node[data-stage="{stage}"][data-status="{status}"]'


def test_the_dashboard_follows_a_run_started_from_it(served, browser, tmp_path: Path) -> None:
    """Start a run from the form; PLAN turns running then succeeded without a reload; A and B run side by side on the
    timeline; the LINT log and an artifact open."""
    server = served({"TEAMBOT_DEMO_DELAY_PLAN": "3", "TEAMBOT_DEMO_DELAY_A": "4", "TEAMBOT_DEMO_DELAY_B": "4"})
    page, problems = _open(browser, server)
    page.fill("textarea[name=objective]", OBJECTIVE)
    page.fill("input[name=feature]", "login")
    page.click("#btn-start")
    page.wait_for_selector(_node(page, "PLAN", "running"))
    page.wait_for_selector('#stages tr[data-stage="PLAN"] .badge[data-status="running"]')
    page.wait_for_selector(_node(page, "PLAN", "succeeded"))
    page.wait_for_selector(_node(page, "A", "running"))
    page.wait_for_selector(_node(page, "B", "running"))
    page.screenshot(path=str(tmp_path / "run-page-running.png"), full_page=True)
    page.wait_for_selector('#run-status[data-status="completed"]')
    assert _still_same_document(page)
    a = page.locator('#timeline .bar[data-stage="A"]').bounding_box()
    b = page.locator('#timeline .bar[data-stage="B"]').bounding_box()
    assert a["y"] != b["y"]  # two lanes: builder-1 and builder-2
    assert a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]  # overlapping in time: side by side
    assert page.locator('#timeline .lane[data-agent="builder-1"] .bar[data-stage="A"]').count() == 1
    page.click('#dag .node[data-stage="LINT"]')
    page.click('#tabs button[data-tab="log"]')
    expect(page.locator("#log")).to_contain_text("lint: all clean", timeout=WAIT)
    page.click('#artifact-list button[data-path="plan.md"]')
    page.wait_for_selector("#artifact-view h1")
    assert "PLAN" in page.inner_text("#artifact-view")
    page.click('#tabs button[data-tab="output"]')
    page.wait_for_selector("#output h1")
    assert page.is_disabled("#btn-cancel") and page.is_disabled("#btn-resume")
    page.screenshot(path=str(tmp_path / "run-page-completed.png"), full_page=True)
    assert problems == []
    assert status_json(server.project, "login")["status"] == "completed"


def test_cancel_from_the_dashboard(served, browser, tmp_path: Path) -> None:
    """Clicking Cancel while A runs leaves the run interrupted; the page shows it and enables Resume."""
    server = served({"TEAMBOT_DEMO_DELAY_A": "60"})
    with server.client() as client:
        assert client.post("/api/runs", json={"objective": OBJECTIVE, "feature": "login"}).status_code == 201
    page, problems = _open(browser, server, "#/run/login")
    page.wait_for_selector(_node(page, "A", "running"))
    assert page.is_enabled("#btn-cancel") and page.is_disabled("#btn-resume")
    assert page.is_disabled('#stages tr[data-stage="PLAN"] button[data-action="rerun"]')  # refused while it runs
    page.click("#btn-cancel")
    page.wait_for_selector('#run-status[data-status="interrupted"]')
    page.wait_for_selector(_node(page, "A", "interrupted"))
    expect(page.locator("#btn-resume")).to_be_enabled(timeout=WAIT)
    assert page.is_disabled("#btn-cancel")
    assert page.is_enabled('#stages tr[data-stage="PLAN"] button[data-action="rerun"]')
    assert page.is_disabled('#stages tr[data-stage="PLAN"] button[data-action="unblock"]')  # not blocked
    page.screenshot(path=str(tmp_path / "run-page-interrupted.png"), full_page=True)
    assert status_json(server.project, "login")["status"] == "interrupted"
    assert problems == []


def test_the_dashboard_reconnects_after_a_server_restart(served, browser, tmp_path: Path) -> None:
    """The server stops mid-run and starts again: the run goes on unaffected, the page reconnects by itself and
    lists every event once."""
    env = {"TEAMBOT_DEMO_DELAY_A": "12", "TEAMBOT_DEMO_DELAY_B": "12"}
    server = served(env)
    with server.client() as client:
        assert client.post("/api/runs", json={"objective": OBJECTIVE, "feature": "login"}).status_code == 201
    page, problems = _open(browser, server, "#/run/login")
    page.wait_for_selector(_node(page, "A", "running"))
    page.wait_for_selector('#conn[data-state="live"]')
    server.stop()
    page.wait_for_selector('#conn[data-state="reconnecting"]')
    time.sleep(1)
    assert status_json(server.project, "login")["status"] == "running"  # the run outlived its server
    again = served(env, port=server.port)
    page.wait_for_selector('#conn[data-state="live"]')
    page.wait_for_selector('#run-status[data-status="completed"]', timeout=90_000)
    assert _still_same_document(page)
    report = status_json(again.project, "login")
    assert report["status"] == "completed" and [s["attempts"] for s in report["stages"]] == [1, 1, 1, 1, 1]
    ids = page.eval_on_selector_all("#events li", "items => items.map((li) => Number(li.dataset.id))")
    assert sorted(ids) == sorted(set(ids))  # nothing twice
    expect(page.locator("#events li")).to_have_count(len(events(again.workspace / "login")), timeout=WAIT)
    page.screenshot(path=str(tmp_path / "run-page-after-restart.png"), full_page=True)
    assert problems == []


def test_review_iterations_and_acceptance_results(served, browser, tmp_path: Path) -> None:
    """A run of the default workflow (started from a terminal) shows SPEC_REVIEW's rejected then approved iterations
    with the feedback, and the acceptance test result."""
    import shutil

    from tests.helpers import DEFAULT_STAGES, EXAMPLE_OBJECTIVE, git_commit_all, teambot

    server = served()
    shutil.copyfile(DEFAULT_STAGES, server.project / "stages.yaml")
    shutil.copyfile(EXAMPLE_OBJECTIVE, server.project / "objective.md")
    git_commit_all(server.project)  # the default workflow's task stage needs a git repository
    proc = teambot("run", "objective.md", "-q", "--feature", "full", cwd=server.project,
                   env={"TEAMBOT_DEMO_REJECT": "SPEC_REVIEW:1"}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    page, problems = _open(browser, server, "#/run/full")
    page.wait_for_selector('#run-status[data-status="completed"]')
    page.click('#dag .node[data-stage="SPEC_REVIEW"]')
    page.click('#tabs button[data-tab="iterations"]')
    page.wait_for_selector('.iterations li[data-number="2"]')
    texts = page.locator(".iterations > li > strong").all_inner_texts()
    assert texts == ["Iteration 1: changes_requested", "Iteration 2: approved"]
    assert page.locator('.iterations li[data-number="1"] summary', has_text="feedback").count() == 1
    expect(page.locator("#acceptance")).to_contain_text("ACCEPTANCE_TEST iteration 1: passed")
    research = page.locator('#timeline .bar[data-stage="RESEARCH"]').bounding_box()
    strategy = page.locator('#timeline .bar[data-stage="TEST_STRATEGY"]').bounding_box()
    assert research["y"] != strategy["y"]
    page.screenshot(path=str(tmp_path / "run-page-iterations.png"), full_page=True)
    assert problems == []


def test_approve_a_waiting_stage_from_the_dashboard(served, browser, tmp_path: Path) -> None:
    """A run ends waiting for SPEC's approval (exit 4); the page shows it waiting since when, with its output to read;
    Reject without a comment is refused in the page; Approve resumes the run: SPEC turns succeeded, the run completes."""
    import getpass

    from tests.helpers import committed_stage, teambot

    server = served()
    (server.project / "stages.yaml").write_text(GATE, encoding="utf-8")
    (server.project / "objective.md").write_text(GATE_OBJECTIVE, encoding="utf-8")
    proc = teambot("run", "objective.md", "-q", cwd=server.project, env={"TEAMBOT_DEMO_DELAY": "0"})
    assert proc.returncode == 4, proc.stdout + proc.stderr
    page, problems = _open(browser, server, "#/run/gate")
    page.wait_for_selector('#run-status[data-status="waiting"]')
    page.wait_for_selector(_node(page, "SPEC", "awaiting_approval"))
    expect(page.locator("#run-notes li.waiting")).to_contain_text("SPEC waits for an approval since")
    page.click('#stages tr[data-stage="SPEC"] button[data-action="decide"]')
    expect(page.locator("#decision-head")).to_contain_text("Waits for your approval since")
    page.click('#decision-files button[data-path="outputs/SPEC.md"]')
    page.wait_for_selector("#decision-view h1")
    page.click("#btn-reject")  # no comment: refused before anything is sent
    expect(page.locator("#decision-msg")).to_contain_text("a rejection needs a comment")
    page.fill("#decision-comment", "ship it")
    page.screenshot(path=str(tmp_path / "run-page-waiting.png"), full_page=True)
    page.click("#btn-approve")
    page.wait_for_selector(_node(page, "SPEC", "succeeded"))
    page.wait_for_selector('#run-status[data-status="completed"]')
    expect(page.locator("#decision-history li")).to_contain_text(f"approve by {getpass.getuser()}@http")
    page.screenshot(path=str(tmp_path / "run-page-approved.png"), full_page=True)
    [decision] = committed_stage(server.workspace / "gate", "SPEC").decisions
    assert (decision.action, decision.comment) == ("approve", "ship it")
    assert problems == []
