"""Notifications from real `teambot run` processes to a webhook server on 127.0.0.1 and to a local program."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from tests.helpers import events, teambot, wait_for
from tests.runtimes.conftest import FAKE_AGENT

PAYLOAD_KEYS = {"event", "feature", "stage", "message", "status", "run_dir", "ts"}


def write_settings(project: Path, body: str) -> None:
    (project / "teambot.yaml").write_text(body, encoding="utf-8")


def notes(run_dir: Path) -> list[dict]:
    return [e for e in events(run_dir) if e["type"].startswith("notification_")]


def test_completed_run_posts_json_and_slack_payloads(small, hooks):
    """A completed run POSTs the JSON payload and the Slack {"text"} payload, each recorded as sent."""
    write_settings(small, f"notify:\n  - url: {hooks.url}/ok/json\n    events: [run_completed]\n"
                          f"  - url: {hooks.url}/ok/slack\n    format: slack\n")
    proc = teambot("run", "objective.md", cwd=small)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = small / ".agent-tracking" / "note"
    [body] = hooks.received["/ok/json"]
    assert set(body) == PAYLOAD_KEYS
    assert (body["event"], body["feature"], body["stage"], body["status"]) == ("run_completed", "note", None, "completed")
    assert body["run_dir"] == str(run_dir) and "'note' completed" in body["message"]
    assert abs(body["ts"] - time.time()) < 120
    [slack] = hooks.received["/ok/slack"]
    assert set(slack) == {"text"} and "'note' completed" in slack["text"]
    sent = [(e["details"]["target"], e["details"]["event"], e["details"]["attempts"], e["details"]["http_status"])
            for e in notes(run_dir)]
    port = hooks.url.rsplit(":", 1)[1]
    assert sorted(sent) == [(f"notify[0] http://127.0.0.1:{port}", "run_completed", 1, 200),
                            (f"notify[1] http://127.0.0.1:{port}", "run_completed", 1, 200)]


def test_failed_stage_and_run_are_notified_with_only_the_events_asked_for(small, hooks):
    """A failing stage sends stage_failed (naming the stage) and run_failed; run_completed is not asked for."""
    write_settings(small, f"notify:\n  - url: {hooks.url}/ok\n    events: [stage_failed, run_failed]\n")
    proc = teambot("run", "objective.md", cwd=small, env={"TEAMBOT_DEMO_FAIL": "SPEC"})
    assert proc.returncode == 1
    got = hooks.received["/ok"]
    assert [(b["event"], b["stage"], b["status"]) for b in got] == [("stage_failed", "SPEC", "failed"),
                                                                     ("run_failed", None, "failed")]
    assert "stage SPEC failed" in got[0]["message"] and "demo failure requested" in got[0]["message"]
    assert "SPEC: demo failure requested" in got[1]["message"]
    assert [e["details"]["event"] for e in notes(small / ".agent-tracking" / "note")] == ["stage_failed", "run_failed"]


def test_blocked_run_is_notified(small, hooks):
    """A review stage out of iterations blocks the run: run_blocked names the stage."""
    write_settings(small, f"notify:\n  - url: {hooks.url}/ok\n")
    proc = teambot("run", "objective.md", cwd=small, env={"TEAMBOT_DEMO_REJECT": "SPEC_REVIEW:5"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    [body] = hooks.received["/ok"]
    assert (body["event"], body["status"]) == ("run_blocked", "blocked")
    assert "needs a person" in body["message"] and "SPEC_REVIEW:" in body["message"]


def test_resume_notifies_too(small, hooks):
    """A run that failed notifies run_failed; its resume, which completes, notifies run_completed."""
    write_settings(small, f"notify:\n  - url: {hooks.url}/ok\n    events: [run_completed, run_failed]\n")
    assert teambot("run", "objective.md", cwd=small, env={"TEAMBOT_DEMO_FAIL": "SPEC"}).returncode == 1
    proc = teambot("resume", "note", cwd=small)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [b["event"] for b in hooks.received["/ok"]] == ["run_failed", "run_completed"]
    assert [e["type"] for e in notes(small / ".agent-tracking" / "note")] == ["notification_sent"] * 2


def test_500s_are_retried_with_backoff_and_a_dead_target_is_recorded(small, hooks):
    """500 twice then 200 is delivered in 3 attempts; an always-500 target fails after 3; the run still succeeds."""
    write_settings(small, f"notify:\n  - url: {hooks.url}/flaky\n  - url: {hooks.url}/down\n"
                          f"  - url: {hooks.url}/gone\n")
    proc = teambot("run", "objective.md", cwd=small)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(hooks.received["/flaky"]) == 3 and len(hooks.received["/down"]) == 3
    assert len(hooks.received["/gone"]) == 1  # a 404 is not retried
    by_target = {e["details"]["target"].split()[0]: e for e in notes(small / ".agent-tracking" / "note")}
    assert by_target["notify[0]"]["type"] == "notification_sent" and by_target["notify[0]"]["details"]["attempts"] == 3
    assert by_target["notify[0]"]["details"]["retried_after"] == ["HTTP 500", "HTTP 500"]
    down = by_target["notify[1]"]
    assert down["type"] == "notification_failed" and down["details"]["attempts"] == 3
    assert down["details"]["error"] == "HTTP 500" and down["details"]["http_status"] == 500
    assert by_target["notify[2]"]["details"]["error"] == "HTTP 404" and by_target["notify[2]"]["details"]["attempts"] == 1
    assert by_target["notify[2]"]["details"]["http_status"] == 404
    assert f"notification run_completed to notify[1] {hooks.url} failed: HTTP 500" in proc.stdout


def test_hanging_target_never_holds_the_run_beyond_the_flush_cap(small, hooks):
    """A target that never answers: the run ends within the 5 s flush cap and records the notification as not delivered."""
    write_settings(small, f"notify:\n  - url: {hooks.url}/hang\n    timeout: 60\n  - url: {hooks.url}/ok\n")
    start = time.monotonic()
    proc = teambot("run", "objective.md", cwd=small, timeout=60)
    took = time.monotonic() - start
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert took < 25, took  # 5 s cap plus start-up, generous for a loaded machine
    assert len(hooks.received["/hang"]) == 1 and len(hooks.received["/ok"]) == 1
    recorded = {e["details"]["target"].split()[0]: e for e in notes(small / ".agent-tracking" / "note")}
    assert recorded["notify[1]"]["type"] == "notification_sent"  # the other target is not held up
    assert recorded["notify[0]"]["type"] == "notification_failed"
    assert "not delivered within 5 s" in recorded["notify[0]"]["details"]["error"]


def test_target_hanging_mid_run_holds_later_notifications_not_the_run(small, hooks):
    """A stage_failed notification that hangs: the run still ends within the cap (--on-failure continue),
    and both it and the run_failed queued behind it are recorded as not delivered."""
    write_settings(small, f"notify:\n  - url: {hooks.url}/hang\n    timeout: 60\n    events: [stage_failed, run_failed]\n")
    start = time.monotonic()
    proc = teambot("run", "objective.md", "--on-failure", "continue", cwd=small, timeout=60,
                   env={"TEAMBOT_DEMO_FAIL": "SPEC_REVIEW"})
    took = time.monotonic() - start
    assert proc.returncode == 1 and took < 25, (took, proc.stdout + proc.stderr)
    assert [b["event"] for b in hooks.received["/hang"]] == ["stage_failed"]  # the second waits behind the first
    run_dir = small / ".agent-tracking" / "note"
    assert [e["stage"] for e in events(run_dir) if e["type"] == "stage_succeeded"] == ["SPEC"]
    failed = [(e["details"]["event"], e["details"]["error"]) for e in notes(run_dir)]
    assert failed == [("stage_failed", "not delivered within 5 s of the run's end"),
                      ("run_failed", "not delivered within 5 s of the run's end")]


def test_argv_target_gets_placeholders_and_the_json_payload_on_stdin(small):
    """An argv target runs without a shell: placeholders filled per argument, the JSON payload on its stdin."""
    out = small / "notified.jsonl"
    script = small / "record.py"
    script.write_text("import json, sys\nwith open(sys.argv[1], 'a') as fh:\n"
                      "    fh.write(json.dumps({'argv': sys.argv[2:], 'stdin': json.load(sys.stdin)}) + '\\n')\n",
                      encoding="utf-8")
    argv = [sys.executable, str(script), str(out), "{event}", "{feature}", "{stage}", "{status}", "{message}", "$HOME; echo"]
    write_settings(small, f"notify:\n  - argv: {json.dumps(argv)}\n    events: [stage_failed, run_failed]\n")
    proc = teambot("run", "objective.md", cwd=small, env={"TEAMBOT_DEMO_FAIL": "SPEC"})
    assert proc.returncode == 1
    first, second = (json.loads(line) for line in out.read_text().splitlines())
    assert first["argv"][:4] == ["stage_failed", "note", "SPEC", "failed"]
    assert first["argv"][4].startswith("teambot run 'note': stage SPEC failed") and first["argv"][5] == "$HOME; echo"
    assert second["argv"][:4] == ["run_failed", "note", "", "failed"]
    assert set(first["stdin"]) == PAYLOAD_KEYS and first["stdin"]["message"] == first["argv"][4]
    assert [e["details"]["target"] for e in notes(small / ".agent-tracking" / "note")] == ["notify[0] " + Path(sys.executable).name] * 2


def test_failing_program_is_retried_and_recorded(small):
    """A program that exits 1 is tried 1 + retries times; its stderr is in the recorded failure."""
    count = small / "count.txt"
    argv = [sys.executable, "-c", "import sys; open(sys.argv[1], 'a').write('x'); sys.exit('no display')", str(count)]
    write_settings(small, f"notify:\n  - argv: {json.dumps(argv)}\n    retries: 1\n    events: [run_completed]\n")
    proc = teambot("run", "objective.md", cwd=small)
    assert proc.returncode == 0
    assert count.read_text() == "xx"
    [failed] = notes(small / ".agent-tracking" / "note")
    assert failed["type"] == "notification_failed" and failed["details"]["attempts"] == 2
    assert failed["details"]["error"].endswith("exited with status 1: no display")


SECRET = "s3cr3t-Value-NEVER-written-0042"
HOOK_TOKEN = "T000/B000/XyZwebhookTOKEN123"


def test_secrets_reach_no_payload_event_or_output(small, hooks):
    """A secret_env_vars value printed by a failing agent, a URL held in url_env and a query token are never sent or written."""
    argv = [sys.executable, str(FAKE_AGENT), "--write-declared", "--stderr-env-at", "DB_PASS=0", "--fail-stage", "SPEC"]
    write_settings(small, "runtime: command\nsecret_env_vars: [DB_PASS]\n"
                          f"command:\n  argv: {json.dumps(argv)}\n"
                          "notify:\n  - url_env: HOOK_URL\n    format: slack\n"
                          f"  - url: {hooks.url}/ok/plain?token=query{HOOK_TOKEN}\n"
                          f"  - url: {hooks.url}/down/x?token=query{HOOK_TOKEN}\n    retries: 0\n")
    env = {"DB_PASS": SECRET, "HOOK_URL": f"{hooks.url}/ok/services/{HOOK_TOKEN}"}
    proc = teambot("run", "objective.md", cwd=small, env=env)
    assert proc.returncode == 1
    slack = hooks.received[f"/ok/services/{HOOK_TOKEN}"]
    plain = hooks.received["/ok/plain"]
    assert [b["event"] for b in plain] == ["stage_failed", "run_failed"] and len(slack) == 2
    assert "***" in plain[0]["message"]  # the agent's stderr was quoted, masked
    sent = json.dumps([slack, plain])
    assert SECRET not in sent
    run_dir = small / ".agent-tracking" / "note"
    recorded = notes(run_dir)
    assert {e["type"] for e in recorded} == {"notification_sent", "notification_failed"}
    assert any(e["details"]["target"].startswith("notify[0] $HOOK_URL http://127.0.0.1:") for e in recorded)
    written = proc.stdout + proc.stderr + "".join(p.read_text(errors="replace") for p in run_dir.rglob("*") if p.is_file())
    for secret in (SECRET, HOOK_TOKEN, "token="):
        assert secret not in written


def test_unset_url_variable_is_recorded_and_the_run_goes_on(small):
    """A url_env variable that is not set: each notification is recorded as failed, naming the variable; the run completes."""
    write_settings(small, "notify:\n  - url_env: NO_SUCH_HOOK_URL\n")
    proc = teambot("run", "objective.md", cwd=small)
    assert proc.returncode == 0
    [failed] = notes(small / ".agent-tracking" / "note")
    assert failed["details"]["error"] == "environment variable NO_SUCH_HOOK_URL is not set"
    assert failed["details"]["attempts"] == 0


def test_hung_program_is_killed_when_the_run_ends(small):
    """An argv target that never exits is killed (with its process group) at the end of the flush cap."""
    import psutil

    pid_file = small / "pid.txt"
    code = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(120)"
    argv = [sys.executable, "-c", code, str(pid_file)]
    write_settings(small, f"notify:\n  - argv: {json.dumps(argv)}\n    timeout: 100\n    events: [run_completed]\n")
    start = time.monotonic()
    proc = teambot("run", "objective.md", cwd=small, timeout=60)
    assert proc.returncode == 0 and time.monotonic() - start < 25
    pid = int(pid_file.read_text())

    def gone() -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    assert wait_for(gone, timeout=5), "the notification program outlived the run"
    [failed] = notes(small / ".agent-tracking" / "note")
    assert failed["details"]["error"] == "not delivered within 5 s of the run's end"


def test_a_run_waiting_for_an_approval_is_notified(small, hooks):
    """A stage with `approval: required`: the run ends waiting (exit 4) and run_waiting names the stage."""
    (small / "stages.yaml").write_text((small / "stages.yaml").read_text().replace(
        "SPEC: {work_agent: ba, artifacts: [feature_spec.md]}",
        "SPEC: {work_agent: ba, artifacts: [feature_spec.md], approval: required}"), encoding="utf-8")
    write_settings(small, f"notify:\n  - url: {hooks.url}/ok\n    events: [run_waiting]\n")
    proc = teambot("run", "objective.md", cwd=small)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    [body] = hooks.received["/ok"]
    assert (body["event"], body["status"]) == ("run_waiting", "waiting")
    assert "SPEC" in body["message"] and "decision" in body["message"]


def test_a_budget_that_stops_a_stage_is_notified(tmp_path, hooks):
    """A run budget reached (a fake claude reporting its cost): budget_exceeded names the stage whose call spent
    it (checked right after that call) and the limit."""
    from tests.runtimes.test_cli_usage import install_clis

    (tmp_path / "stages.yaml").write_text("stages:\n  SPEC: {work_agent: ba, artifacts: [spec.md]}\n"
                                          "  PLAN: {work_agent: pm, artifacts: [plan.md]}\nstage_order: [SPEC, PLAN]\n")
    (tmp_path / "objective.md").write_text("---\nfeature: money\n---\n# Money\n")
    write_settings(tmp_path, "runtime: command\ncommand:\n  preset: claude\nbudget:\n  max_cost: 0.04\n"
                             f"notify:\n  - url: {hooks.url}/ok\n    events: [budget_exceeded]\n")
    proc = teambot("run", "objective.md", cwd=tmp_path, env=install_clis(tmp_path) | {"FAKE_CLI_COST": "0.05"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    [body] = hooks.received["/ok"]
    assert (body["event"], body["stage"], body["status"]) == ("budget_exceeded", "SPEC", "blocked")
    assert "run budget" in body["message"] and "max_cost" in body["message"]
