"""The HTTP API through a real `teambot serve` (uvicorn on 127.0.0.1, ephemeral port) and httpx."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.helpers import status_json, teambot
from tests.server.conftest import OBJECTIVE, TOKEN, Server


def _completed(report: dict) -> bool:
    return report["status"] == "completed"


def _start(server: Server, feature: str, **options) -> dict:
    with server.client() as client:
        res = client.post("/api/runs", json={"objective": OBJECTIVE, "feature": feature, **options})
    assert res.status_code == 201, res.text
    return res.json()


def test_every_request_needs_the_token(served) -> None:
    """No token or a wrong one: 401 on the API, the dashboard, its files and /docs; the right one lets in."""
    server = served()
    with server.client(token=None) as anon:
        for path in ("/api/runs", "/api/runs/x", "/api/info", "/", "/static/app.js", "/docs", "/openapi.json"):
            assert anon.get(path).status_code == 401, path
        res = anon.get("/api/runs")
        assert res.json()["error"] == "missing or wrong token" and res.headers["www-authenticate"] == "Bearer"
        assert anon.post("/api/runs", json={"objective": OBJECTIVE}).status_code == 401
        assert anon.get("/api/runs", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert anon.get("/api/runs", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
        assert anon.get("/?token=wrong", follow_redirects=False).status_code == 401
        assert not (server.workspace).exists()  # the refused POST wrote nothing
    with server.client() as client:
        assert client.get("/api/runs").json() == []
        assert client.get("/api/info").json()["project_dir"] == str(server.project)


def test_the_first_visit_sets_a_cookie_that_lets_the_dashboard_in(served) -> None:
    """/?token= sets an HttpOnly SameSite=Strict cookie for this port and redirects; the cookie then authenticates;
    a POST with it from another origin is refused."""
    server = served()
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        res = browser.get(f"/?token={TOKEN}", follow_redirects=False)
        assert res.status_code == 303 and res.headers["location"] == "/"
        cookie = res.headers["set-cookie"]
        assert cookie.startswith(f"teambot_token_{server.port}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        page = browser.get("/")
        assert page.status_code == 200 and "/static/app.js" in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert browser.get("/static/app.js").status_code == 200
        assert browser.get("/api/runs").status_code == 200
        foreign = browser.post("/api/runs/x/cancel", headers={"Origin": "http://evil.example"})
        assert foreign.status_code == 403
        assert browser.post("/api/runs/x/cancel", headers={"Origin": server.url}).status_code == 404  # let in


def test_the_token_is_never_logged(served) -> None:
    """After requests carrying the token (header and ?token=), the server's output does not contain it."""
    server = served()
    with server.client() as client:
        client.get("/api/runs")
        client.get(f"/?token={TOKEN}", follow_redirects=False)
        client.get("/api/runs/nope")
    server.stop()
    out = server.proc.stdout.read() + server.proc.stderr.read()  # everything after the announced URL
    assert TOKEN not in out


def test_a_public_address_needs_an_explicit_token(tmp_path: Path) -> None:
    """`teambot serve --host 0.0.0.0` without --token or TEAMBOT_TOKEN exits 2 before listening."""
    proc = teambot("serve", "--host", "0.0.0.0", "--port", "0", cwd=tmp_path, timeout=60)
    assert proc.returncode == 2
    assert "needs an explicit token" in proc.stderr and "Traceback" not in proc.stderr


def test_a_run_started_over_the_api_completes(served) -> None:
    """POST /api/runs starts an ordinary run: it completes, `teambot status` shows it, and every read endpoint serves it."""
    server = served()
    launched = _start(server, "login")
    assert launched["command"] == "run" and launched["pid"] > 0 and launched["exit_code"] is None
    report = server.wait_status("login", _completed)
    assert status_json(server.project, "login")["status"] == "completed"
    assert [s["status"] for s in report["stages"]] == ["succeeded"] * 5
    with server.client() as client:
        [summary] = client.get("/api/runs").json()
        assert (summary["feature"], summary["status"], summary["succeeded"], summary["total"]) == ("login", "completed", 5, 5)
        graph = client.get("/api/runs/login/graph").json()
        nodes = {n["name"]: n for n in graph["nodes"]}
        assert {tuple(e) for e in graph["edges"]} == {("PLAN", "A"), ("PLAN", "B"), ("PLAN", "LINT"), ("A", "LINT"), ("B", "LINT"),
                                                   ("LINT", "CHECK")}
        assert nodes["A"]["depth"] == nodes["B"]["depth"] == 1 and nodes["A"]["group"] == "build"
        assert {n["status"] for n in graph["nodes"]} == {"succeeded"}
        page = client.get("/api/runs/login/events", params={"since": 0}).json()
        ids = [e["id"] for e in page["events"]]
        assert ids == sorted(set(ids)) and page["next"] == ids[-1]
        assert page["events"][0]["type"] == "run_started" and page["events"][-1]["type"] == "run_completed"
        assert client.get("/api/runs/login/events", params={"since": page["next"]}).json()["events"] == []
        log = client.get("/api/runs/login/stages/LINT/log")
        assert log.status_code == 200 and "lint: all clean" in log.text and log.headers["content-type"].startswith("text/plain")
        assert client.get("/api/runs/login/stages/LINT/log", params={"tail": 1}).text.count("\n") <= 1
        output = client.get("/api/runs/login/stages/PLAN/output")
        assert output.text.startswith("# PLAN") and output.headers["x-content-type-options"] == "nosniff"
        assert client.get("/api/runs/login/stages/PLAN/output", params={"format": "html"}).json()["html"].startswith("<h1>PLAN</h1>")
        assert "Add login" in client.get("/api/runs/login/stages/PLAN/prompt").text
        assert client.get("/api/runs/login/stages/PLAN/iterations").json()["iterations"] == []
        files = [f["path"] for f in client.get("/api/runs/login/artifacts").json()]
        assert {"plan.md", "a.md", "b.md"} <= set(files)
        assert client.get("/api/runs/login/artifacts/plan.md").text == (server.workspace / "login" / "artifacts" / "plan.md").read_text()
        assert "<h1>" in client.get("/api/runs/login/artifacts/plan.md", params={"format": "html"}).json()["html"]
        hostile = server.workspace / "login" / "artifacts" / "hostile.md"
        hostile.write_text("# Hi\n\n<script>alert(1)</script> <img src=x onerror=alert(2)> [x](javascript:alert(3))\n")
        html = client.get("/api/runs/login/artifacts/hostile.md", params={"format": "html"}).json()["html"]
        assert "<script" not in html and "<img" not in html and 'href="javascript:' not in html
        assert "&lt;script&gt;" in html
        again = client.post("/api/runs", json={"objective": OBJECTIVE, "feature": "login"})
        assert again.status_code == 409 and "already exists" in again.json()["error"]
        done = client.post("/api/runs/login/resume")
        assert done.status_code == 202 and done.json()["exit_code"] == 0  # complete: nothing to resume


def test_bad_input_is_refused_before_anything_is_written(served) -> None:
    """A bad objective or option is 422 with the CLI's message, and the workspace stays untouched."""
    server = served()
    cases = [
        ({"objective": ""}, "is empty"),
        ({"objective": "   \n"}, "is empty"),
        ({"objective": OBJECTIVE, "feature": "Bad Name"}, "not a valid feature name"),
        ({"objective": OBJECTIVE, "runtime": "nope"}, "unknown runtime 'nope'"),
        ({"objective": OBJECTIVE, "skip": ["PLAN"]}, "PLAN"),
        ({"objective": OBJECTIVE, "stages": "../stages.yaml"}, "not a file inside"),
        ({"objective": OBJECTIVE, "max_concurrency": 0}, "max_concurrency"),
        ({"objective": OBJECTIVE, "surprise": 1}, "surprise"),
    ]
    with server.client() as client:
        for body, words in cases:
            res = client.post("/api/runs", json=body)
            assert res.status_code == 422, (body, res.text)
            answer = res.json()
            assert words in answer["error"] + " ".join(answer["problems"]), (body, answer)
        big = client.post("/api/runs", content=b"x" * (3 << 20), headers={"Content-Type": "application/json"})
        assert big.status_code == 413
    assert not server.workspace.exists()


def test_unknown_runs_stages_and_files_are_404(served) -> None:
    """Unknown run or stage, and every path that would leave the run directory (.., absolute, symlinks out): 404."""
    server = served()
    _start(server, "login")
    server.wait_status("login", _completed)
    artifacts = server.workspace / "login" / "artifacts"
    (artifacts / "leak.md").symlink_to("/etc/passwd")
    (artifacts / "up").symlink_to(server.workspace / "login")
    (artifacts / "alias.md").symlink_to(artifacts / "plan.md")  # stays inside: served
    swapped = server.workspace / "login" / "outputs" / "LINT.md"
    swapped.unlink()
    swapped.symlink_to("/etc/hostname")  # a stage's output swapped for a link out of the run
    with server.client() as client:
        for path in ("/api/runs/nope", "/api/runs/nope/graph", "/api/runs/nope/events?since=0", "/api/runs/nope/artifacts",
                     "/api/runs/login/stages/NOPE/log", "/api/runs/login/stages/NOPE/output",
                     "/api/runs/login/stages/NOPE/prompt", "/api/runs/login/stages/NOPE/iterations",
                     "/api/runs/login/stages/CHECK/log", "/api/runs/login/stages/LINT/output"):
            res = client.get(path)
            assert res.status_code == 404, (path, res.text)
            assert res.json()["error"]
        for post in ("/api/runs/nope/cancel", "/api/runs/nope/resume", "/api/runs/login/stages/NOPE/rerun",
                     "/api/runs/login/stages/NOPE/unblock"):
            assert client.post(post).status_code == 404, post
        for bad in ("..%2Fstate.json", "%2e%2e/state.json", "%2Fetc%2Fpasswd", "leak.md", "up/state.json",
                    "..%2F..%2F..%2Fetc%2Fpasswd", "a.md%00.txt", "nothing.md", "%2E"):
            res = client.get(f"/api/runs/login/artifacts/{bad}")
            assert res.status_code == 404, (bad, res.text)
            assert "root:" not in res.text
        assert client.get("/api/runs/login/artifacts/alias.md").text.startswith("# ")
        assert "leak.md" not in [f["path"] for f in client.get("/api/runs/login/artifacts").json()]
        assert client.get("/api/runs/%2E%2E/graph").status_code == 404
    raw = _raw_get(server, "/api/runs/login/artifacts/../../../../etc/passwd")
    assert raw.split(b" ", 2)[1] == b"404" and b"root:" not in raw


def _raw_get(server: Server, path: str) -> bytes:
    """A request whose path is sent exactly as written (clients normalise `..` away)."""
    import socket

    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
                     f"Connection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_openapi_and_docs_need_no_network(served) -> None:
    """/openapi.json lists every endpoint; /docs loads its Swagger UI from the server itself, not a CDN."""
    server = served()
    with server.client() as client:
        paths = client.get("/openapi.json").json()["paths"]
        for path in ("/api/runs", "/api/runs/{feature}", "/api/runs/{feature}/graph", "/api/runs/{feature}/events",
                     "/api/runs/{feature}/resume", "/api/runs/{feature}/cancel", "/api/runs/{feature}/stages/{stage}/rerun",
                     "/api/runs/{feature}/stages/{stage}/unblock", "/api/runs/{feature}/stages/{stage}/log",
                     "/api/runs/{feature}/stages/{stage}/output", "/api/runs/{feature}/stages/{stage}/prompt",
                     "/api/runs/{feature}/stages/{stage}/iterations", "/api/runs/{feature}/artifacts/{path}",
                     "/api/runs/{feature}/stages/{stage}/decision", "/api/runs/{feature}/stages/{stage}/approve",
                     "/api/runs/{feature}/stages/{stage}/reject", "/api/runs/{feature}/stages/{stage}/review",
                     "/api/runs/{feature}/files/{path}"):
            assert path in paths, path
        docs = client.get("/docs").text
        assert "/static-offline-docs/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
        assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200


def test_cancel_leaves_the_run_interrupted_and_resumable(served) -> None:
    """cancel SIGTERMs the owner: A becomes interrupted, the run too; resume over the API restarts only A and B;
    while it runs, resume / rerun are 409; after a second cancel `teambot resume` finishes without redoing PLAN."""
    server = served({"TEAMBOT_DEMO_DELAY_A": "60"})
    _start(server, "login")
    server.wait_status("login", lambda r: r["stages"][1]["status"] == "running")
    with server.client() as client:
        res = client.post("/api/runs/login/cancel")
        assert res.status_code == 200, res.text
        assert res.json()["stopped"] is True and res.json()["status"] == "interrupted"
        report = client.get("/api/runs/login").json()
        stages = {s["name"]: s for s in report["stages"]}
        assert report["status"] == "interrupted" and stages["A"]["status"] == "interrupted"
        assert stages["PLAN"]["status"] == "succeeded" and stages["PLAN"]["attempts"] == 1
        assert status_json(server.project, "login")["status"] == "interrupted"
        again = client.post("/api/runs/login/cancel")
        assert again.status_code == 409 and "not running" in again.json()["error"]
        resumed = client.post("/api/runs/login/resume", json={"max_concurrency": 2})
        assert resumed.status_code == 202 and resumed.json()["command"] == "resume", resumed.text
        server.wait_status("login", lambda r: r["status"] == "running" and r["stages"][1]["attempts"] == 2)
        assert client.post("/api/runs/login/resume").status_code == 409
        locked = client.post("/api/runs/login/stages/PLAN/rerun")
        assert locked.status_code == 409 and "in use by another teambot process" in locked.json()["error"]
        assert client.post("/api/runs/login/cancel").json()["status"] == "interrupted"
    proc = teambot("resume", "login", "-q", cwd=server.project, env={"TEAMBOT_DEMO_DELAY": "0"})
    assert proc.returncode == 0, proc.stderr
    final = status_json(server.project, "login")
    assert final["status"] == "completed" and final["stages"][0]["attempts"] == 1


def test_rerun_and_unblock_over_the_api(served, tmp_path: Path) -> None:
    """rerun marks a stage and its downstream pending (as `teambot rerun` does); unblock gives a blocked review a new budget."""
    import yaml

    server = served({"TEAMBOT_DEMO_REJECT": "CHECK:9", "TEAMBOT_DEMO_DELAY": "0"})
    stages = yaml.safe_load((server.project / "stages.yaml").read_text())
    stages["stages"]["CHECK"] = {"work_agent": "pm", "review_agent": "reviewer", "is_review_stage": True, "max_iterations": 1}
    (server.project / "stages.yaml").write_text(yaml.safe_dump(stages))
    _start(server, "login")
    server.wait_status("login", lambda r: r["status"] == "blocked")
    with server.client() as client:
        its = client.get("/api/runs/login/stages/CHECK/iterations").json()
        assert [it["verdict"] for it in its["iterations"]] == ["changes_requested"]
        assert its["texts"][its["iterations"][0]["review"]["file"]].strip()
        not_blocked = client.post("/api/runs/login/stages/LINT/unblock")
        assert not_blocked.status_code == 422 and "not blocked" in not_blocked.json()["error"]
        unblocked = client.post("/api/runs/login/stages/CHECK/unblock", json={"iterations": 2})
        assert unblocked.status_code == 200 and unblocked.json() == {"feature": "login", "stage": "CHECK", "iterations": 2, "kept": 1}
        assert client.get("/api/runs/login").json()["status"] == "interrupted"
        assert client.post("/api/runs/login/stages/CHECK/unblock", json={"iterations": 0}).status_code == 422
        rerun = client.post("/api/runs/login/stages/A/rerun")
        assert rerun.status_code == 200 and rerun.json()["targets"] == ["A", "LINT", "CHECK"]
        stages_now = {s["name"]: s["status"] for s in client.get("/api/runs/login").json()["stages"]}
        assert stages_now == {"PLAN": "succeeded", "A": "pending", "B": "succeeded", "LINT": "pending", "CHECK": "pending"}


def test_sse_reconnect_with_last_event_id_loses_and_repeats_nothing(served) -> None:
    """Reading the stream, dropping it, and reconnecting with Last-Event-ID yields exactly the events of the file, once each."""
    server = served()
    _start(server, "login")
    seen: list[dict] = []
    headers = {"Accept": "text/event-stream"}
    with server.client() as client:
        with client.stream("GET", "/api/runs/login/events", headers=headers) as stream:
            for message in _messages(stream):
                seen.append(message)
                if len(seen) == 4:
                    break  # the connection drops mid-run
        last = seen[-1]["id"]
        with client.stream("GET", "/api/runs/login/events", headers={**headers, "Last-Event-ID": str(last)}) as stream:
            for message in _messages(stream):
                seen.append(message)
                if message["data"]["type"] == "run_completed":
                    break
        everything = client.get("/api/runs/login/events", params={"since": 0}).json()["events"]
    assert [(m["id"], m["data"]) for m in seen] == [(e["id"], e) for e in everything]
    assert all(m["id"] == m["data"]["id"] for m in seen)


def test_a_stage_log_streams_as_sse(served) -> None:
    """The log endpoint with Accept: text/event-stream sends the log's lines with byte-offset ids."""
    server = served()
    _start(server, "login")
    server.wait_status("login", _completed)
    with server.client() as client:
        with client.stream("GET", "/api/runs/login/stages/LINT/log", headers={"Accept": "text/event-stream"}) as stream:
            first = next(_messages(stream))
    size = (server.workspace / "login" / "logs" / "LINT.log").stat().st_size
    assert "lint: all clean" in first["data"]["text"] and first["id"] == size


def _messages(stream: httpx.Response):
    """SSE messages (id, data) of a streaming response."""
    current: dict = {}
    for line in stream.iter_lines():
        if line.startswith("id: "):
            current["id"] = int(line[4:])
        elif line.startswith("data: "):
            current["data"] = json.loads(line[6:])
        elif line == "" and "data" in current:
            yield current
            current = {}


def test_runs_started_from_a_terminal_show_too(served) -> None:
    """A run started with `teambot run` in the project (not through the server) is listed and readable."""
    server = served()
    (server.project / "objective.md").write_text(OBJECTIVE)
    proc = teambot("run", "objective.md", "-q", "--feature", "terminal", cwd=server.project, env={"TEAMBOT_DEMO_DELAY": "0"})
    assert proc.returncode == 0, proc.stderr
    with server.client() as client:
        assert [r["feature"] for r in client.get("/api/runs").json()] == ["terminal"]
        assert client.get("/api/runs/terminal").json() == status_json(server.project, "terminal")


def test_a_running_stage_log_streams_live(served) -> None:
    """While a command stage still runs, its log's SSE stream already carries its first line."""
    import sys

    import yaml

    server = served()
    stages = yaml.safe_load((server.project / "stages.yaml").read_text())
    slow = "import time; print('first line', flush=True); time.sleep(4); print('second line', flush=True)"
    stages["stages"]["LINT"] = {"run": [[sys.executable, "-c", slow]]}
    (server.project / "stages.yaml").write_text(yaml.safe_dump(stages))
    _start(server, "login")
    server.wait_status("login", lambda r: r["stages"][3]["status"] == "running")
    with server.client() as client:
        with client.stream("GET", "/api/runs/login/stages/LINT/log", headers={"Accept": "text/event-stream"}) as stream:
            texts = []
            for message in _messages(stream):
                texts.append(message["data"]["text"])
                if "first line" in "".join(texts):
                    break
        assert client.get("/api/runs/login").json()["stages"][3]["status"] == "running"
    server.wait_status("login", _completed)


def test_the_token_comes_from_the_environment_or_is_random(tmp_path: Path) -> None:
    """TEAMBOT_TOKEN sets the token; without it each start prints a fresh random one; a short --token is refused."""
    import signal
    import subprocess
    import sys

    from tests.helpers import cli_env

    def announced(env: dict[str, str]) -> str:
        proc = subprocess.Popen([sys.executable, "-m", "teambot", "serve", "--port", "0"], cwd=tmp_path, env=cli_env(env),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            for line in proc.stdout:
                if line.startswith("dashboard: "):
                    return line.split("?token=", 1)[1].strip()
            raise AssertionError(proc.stderr.read())
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)

    assert announced({"TEAMBOT_TOKEN": "from-the-environment"}) == "from-the-environment"
    first, second = announced({}), announced({})
    assert first != second and len(first) >= 24
    short = teambot("serve", "--port", "0", "--token", "abc", cwd=tmp_path)
    assert short.returncode == 2 and "shorter than 8" in short.stderr


def test_a_tasks_log_output_and_prompt_are_served(served) -> None:
    """A task stage's tasks: GET .../stages/IMPLEMENTATION/tasks/T1/output (and prompt, log); unknown or hostile task ids 404."""
    from tests.helpers import git_commit_all
    from tests.tasks.conftest import stages_text

    server = served()
    (server.project / "stages.yaml").write_text(stages_text(), encoding="utf-8")
    (server.project / "objective.md").write_text("---\nfeature: tasks\n---\n# Tasks over HTTP\n", encoding="utf-8")
    (server.project / "tests").mkdir()
    (server.project / "tests" / "__init__.py").write_text("")
    git_commit_all(server.project)
    done = teambot("run", "objective.md", "-q", cwd=server.project, env={"TEAMBOT_DEMO_DELAY": "0"})
    assert done.returncode == 0, done.stdout + done.stderr
    with server.client() as client:
        output = client.get("/api/runs/tasks/stages/IMPLEMENTATION/tasks/T1/output")
        assert output.status_code == 200 and "T1" in output.text
        prompt = client.get("/api/runs/tasks/stages/IMPLEMENTATION/tasks/T2/prompt")
        assert prompt.status_code == 200 and "# Task T2: Parser" in prompt.text
        for bad in ("T9/output", "..%2FT1/output", "T1/state", "%2E%2E/log"):
            res = client.get(f"/api/runs/tasks/stages/IMPLEMENTATION/tasks/{bad}")
            assert res.status_code in (404, 422), (bad, res.status_code)
            assert "root:" not in res.text
        report = client.get("/api/runs/tasks").json()
        impl = next(s for s in report["stages"] if s["name"] == "IMPLEMENTATION")
        assert [c["name"] for c in impl["children"]] == ["T1", "T2", "T3", "T4"]
