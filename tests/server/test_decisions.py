"""Deciding on waiting stages over HTTP (approve / reject / review) through a real `teambot serve`, with real
`teambot run` / `resume` processes: the same inbox and rules as the CLI, the HTTP status codes of the other writes."""

from __future__ import annotations

import getpass
from collections import Counter
from pathlib import Path

from tests.helpers import committed_stage, events, started, teambot
from tests.server.conftest import GATE, Server
from tests.server.conftest import GATE_OBJECTIVE as OBJECTIVE

REVIEW = """\
stages:
  SPEC: {work_agent: ba, artifacts: [feature_spec.md]}
  SPEC_REVIEW: {work_agent: ba, review_agent: human, is_review_stage: true, artifacts: [spec_review.md], max_iterations: 3}
stage_order: [SPEC, SPEC_REVIEW]
"""
WHO = f"{getpass.getuser()}@http"


def _project(server: Server, stages: str) -> Path:
    (server.project / "stages.yaml").write_text(stages, encoding="utf-8")
    (server.project / "objective.md").write_text(OBJECTIVE, encoding="utf-8")
    return server.workspace / "gate"


def _waiting_run(server: Server, stages: str) -> Path:
    """`teambot run` in the project ends waiting for a person: exit 4."""
    run_dir = _project(server, stages)
    proc = teambot("run", "objective.md", "-q", cwd=server.project, env={"TEAMBOT_DEMO_DELAY": "0"})
    assert proc.returncode == 4, proc.stdout + proc.stderr
    return run_dir


def _stage(report: dict, name: str) -> dict:
    return next(s for s in report["stages"] if s["name"] == name)


def test_approve_over_http_then_resume_completes(served) -> None:
    """A gated run waits (exit 4); the API shows it waiting with what to read; bad decisions get 401/404/409/422/413;
    POST approve records `<user>@http` in the inbox and `teambot resume` completes without rerunning SPEC."""
    server = served()
    run_dir = _waiting_run(server, GATE)
    with server.client() as client:
        assert client.get("/api/runs").json()[0]["status"] == "waiting"
        report = client.get("/api/runs/gate").json()
        spec = _stage(report, "SPEC")
        assert report["status"] == "waiting" and report["waiting"] == ["SPEC"]
        assert spec["status"] == "awaiting_approval" and spec["waiting_since"]
        view = client.get("/api/runs/gate/stages/SPEC/decision").json()
        assert view["accepts"] == ["approve", "reject"] and view["waiting_since"] == spec["waiting_since"]
        assert {(f["path"], f["kind"]) for f in view["files"]} == {("outputs/SPEC.md", "output"), ("artifacts/spec.md", "artifact")}
        assert view["pending"] is None and view["decide"].startswith("teambot approve SPEC gate")
        for f in view["files"]:
            assert client.get(f"/api/runs/gate/files/{f['path']}").text == (run_dir / f["path"]).read_text()
        assert "<h1>" in client.get("/api/runs/gate/files/outputs/SPEC.md", params={"format": "html"}).json()["html"]
        (run_dir / "artifacts" / "state-link.md").symlink_to(run_dir / "state.json")  # inside the run, outside artifacts/
        for hidden in ("state.json", "owner.json", "..%2F..%2Fstages.yaml", "outputs/..%2Fstate.json", "inbox/SPEC.json",
                       "artifacts/state-link.md", "outputs", "%2Fetc%2Fpasswd"):
            assert client.get(f"/api/runs/gate/files/{hidden}").status_code == 404, hidden
        assert client.get("/api/runs/gate/stages/BUILD/decision").json()["accepts"] == []

        with server.client(token=None) as anon:
            assert anon.post("/api/runs/gate/stages/SPEC/approve").status_code == 401
        refusals = [
            ("SPEC/reject", {}, 422, "comment"),
            ("SPEC/reject", {"comment": "   "}, 422, "comment is empty"),
            ("SPEC/reject", {"comment": "x" * ((1 << 18) + 1)}, 422, "comment"),
            ("SPEC/approve", {"comment": "ok", "by": "mallory"}, 422, "by"),
            ("BUILD/approve", {}, 409, "stage BUILD is pending, not awaiting_approval"),
            ("SPEC/review", {"approve": True}, 409, "it waits for an approval"),
            ("NOPE/approve", {}, 404, "no stage named 'NOPE'"),
        ]
        for path, body, code, words in refusals:
            res = client.post(f"/api/runs/gate/stages/{path}", json=body)
            assert res.status_code == code, (path, body, res.text)
            answer = res.json()
            assert words in f"{answer['error']} {answer['hint']} {answer['problems']}", (path, answer)
        assert client.post("/api/runs/nope/stages/SPEC/approve").status_code == 404
        big = client.post("/api/runs/gate/stages/SPEC/reject", content=b"x" * (3 << 20), headers={"Content-Type": "application/json"})
        assert big.status_code == 413
        assert not (run_dir / "inbox" / "SPEC.json").exists()  # nothing refused reached the inbox

        res = client.post("/api/runs/gate/stages/SPEC/approve", json={"comment": "looks right"})
        assert res.status_code == 200, res.text
        decided = res.json()
        assert (decided["action"], decided["by"], decided["comment"], decided["live"]) == ("approve", WHO, "looks right", False)
        assert decided["resumed"] is None and decided["next"] == "next: teambot resume gate"
        view = client.get("/api/runs/gate/stages/SPEC/decision").json()
        assert view["pending"]["by"] == WHO and view["accepts"] == []
        twice = client.post("/api/runs/gate/stages/SPEC/reject", json={"comment": "changed my mind"})
        assert twice.status_code == 409 and "was already decided (approve by" in twice.json()["error"]
    resumed = teambot("resume", "gate", "-q", cwd=server.project, env={"TEAMBOT_DEMO_DELAY": "0"})
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    [decision] = committed_stage(run_dir, "SPEC").decisions
    assert (decision.action, decision.by, decision.comment) == ("approve", WHO, "looks right")
    assert Counter(started(run_dir)) == {"SPEC": 1, "SLOW": 1, "BUILD": 1}
    with server.client() as client:
        after = client.post("/api/runs/gate/stages/SPEC/approve")
        assert after.status_code == 409 and "its last decision: approve" in after.json()["hint"]


def test_reject_over_http_reaches_the_next_prompt(served) -> None:
    """POST reject with `resume` starts `teambot resume`: SPEC's second attempt's prompt carries the comment and it
    waits again; POST approve with `resume` then completes the run."""
    server = served()
    run_dir = _waiting_run(server, GATE)
    with server.client() as client:
        res = client.post("/api/runs/gate/stages/SPEC/reject", json={"comment": "Cover the error cases", "resume": True})
        assert res.status_code == 200, res.text
        assert res.json()["resumed"]["command"] == "resume" and res.json()["live"] is False
        server.wait_status("gate", lambda r: r["status"] == "waiting" and _stage(r, "SPEC")["attempts"] == 2)
        prompt = client.get("/api/runs/gate/stages/SPEC/prompt").text
        assert "Cover the error cases" in prompt and f"Rejected by {WHO}" in prompt
        assert prompt == (run_dir / "prompts" / "SPEC.md").read_text()
        res = client.post("/api/runs/gate/stages/SPEC/approve", json={"resume": True})
        assert res.status_code == 200 and res.json()["resumed"] is not None, res.text
    server.wait_status("gate", lambda r: r["status"] == "completed")
    assert Counter(started(run_dir)) == {"SPEC": 2, "SLOW": 1, "BUILD": 1}
    assert [(d.action, d.by) for d in committed_stage(run_dir, "SPEC").decisions] == [("reject", WHO), ("approve", WHO)]


def test_a_live_run_takes_an_approval_over_http(served) -> None:
    """While SLOW still runs the run's own process is live: POST approve (with `resume`) starts nothing, the live
    process applies it and completes."""
    server = served({"TEAMBOT_DEMO_DELAY_SLOW": "8", "TEAMBOT_DEMO_DELAY": "0"})
    run_dir = _project(server, GATE)
    with server.client() as client:
        res = client.post("/api/runs", json={"objective": OBJECTIVE})
        assert res.status_code == 201, res.text
        server.wait_status("gate", lambda r: _stage(r, "SPEC")["status"] == "awaiting_approval")
        decided = client.post("/api/runs/gate/stages/SPEC/approve", json={"resume": True}).json()
        assert decided["live"] is True and decided["resumed"] is None and decided["next"] == "the live run took it", decided
        assert not (run_dir / "inbox" / "SPEC.json").exists()  # `resume` waited until the live run took it
    server.wait_status("gate", lambda r: r["status"] == "completed")
    kinds = [e["type"] for e in events(run_dir)]
    assert "run_resumed" not in kinds and "run_waiting" not in kinds


def test_a_human_review_over_http(served) -> None:
    """A human reviewer's stage waits with its work and review request to read; bad verdicts are 422/409;
    request_changes reaches the next work prompt; approve completes the run."""
    server = served()
    run_dir = _waiting_run(server, REVIEW)
    with server.client() as client:
        view = client.get("/api/runs/gate/stages/SPEC_REVIEW/decision").json()
        assert view["status"] == "awaiting_review" and view["accepts"] == ["approved", "changes_requested"]
        kinds = {f["kind"]: f["path"] for f in view["files"]}
        assert kinds["review_request"] == "iterations/SPEC_REVIEW/01-review.request.md"
        assert kinds["work"] == "iterations/SPEC_REVIEW/01-work.md"
        assert "spec_review.md" in client.get(f"/api/runs/gate/files/{kinds['review_request']}").text
        for body, code, words in [({}, 422, "exactly one verdict"), ({"approve": True, "request_changes": "x"}, 422, "exactly one"),
                                  ({"request_changes": " "}, 422, "request_changes is empty"),
                                  ({"request_changes": "x", "comment": "y"}, 422, "comment goes with approve")]:
            res = client.post("/api/runs/gate/stages/SPEC_REVIEW/review", json=body)
            assert res.status_code == code and words in res.json()["error"], (body, res.text)
        gate = client.post("/api/runs/gate/stages/SPEC_REVIEW/approve")
        assert gate.status_code == 409 and "it waits for a review" in gate.json()["hint"]
        res = client.post("/api/runs/gate/stages/SPEC_REVIEW/review", json={"request_changes": "Name the exit codes", "resume": True})
        assert res.status_code == 200 and res.json()["action"] == "changes_requested", res.text
        server.wait_status("gate", lambda r: r["status"] == "waiting" and len(_stage(r, "SPEC_REVIEW")["iterations"]) == 2)
        assert "Name the exit codes" in (run_dir / "iterations" / "SPEC_REVIEW" / "02-work.prompt.md").read_text()
        res = client.post("/api/runs/gate/stages/SPEC_REVIEW/review", json={"approve": True, "comment": "good now", "resume": True})
        assert res.status_code == 200, res.text
    server.wait_status("gate", lambda r: r["status"] == "completed")
    its = committed_stage(run_dir, "SPEC_REVIEW").iterations
    assert [i.verdict for i in its] == ["changes_requested", "approved"] and its[0].feedback == "Name the exit codes"
    assert [d.by for d in committed_stage(run_dir, "SPEC_REVIEW").decisions] == [WHO, WHO]
