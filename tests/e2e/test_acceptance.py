"""Acceptance stages end to end: teambot runs real tests itself; zero tests fail; the gate blocks."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import committed_stage, state, status_json, teambot

ACCEPTANCE_STAGES = """\
stages:
  BUILD: {work_agent: builder-1, artifacts: [notes.md]}
  ACCEPTANCE_TEST:
    work_agent: builder-1
    is_acceptance_test_stage: true
    artifacts: [acceptance_test_results.md]
    max_iterations: %d
  POST_REVIEW:
    work_agent: pm
    requires_acceptance_tests_passed: true
    artifacts: [post_review.md]
    %s
stage_order: [BUILD, ACCEPTANCE_TEST, POST_REVIEW]
"""


def write_stages(project: Path, max_iterations: int = 4, post_review_depends: str = "") -> None:
    (project / "stages.yaml").write_text(ACCEPTANCE_STAGES % (max_iterations, post_review_depends), encoding="utf-8")


def small_project(tmp_path: Path, max_iterations: int = 4) -> Path:
    write_stages(tmp_path, max_iterations)
    (tmp_path / "objective.md").write_text("---\nfeature: acc\n---\n# Count words\n\nA word counter.\n", encoding="utf-8")
    return tmp_path


def history(run_dir: Path) -> list[dict]:
    return [it.test.model_dump() for it in committed_stage(run_dir, "ACCEPTANCE_TEST").iterations if it.test]


def test_failing_then_fixed_passes_in_iteration_two_with_both_in_the_history(tmp_path):
    """The generated code fails its real test once; the work agent gets the failure and fixes it."""
    project = small_project(tmp_path)
    run_dir = project / ".agent-tracking" / "acc"
    proc = teambot("run", "objective.md", "--runtime", "demo", cwd=project, env={"TEAMBOT_DEMO_ACCEPTANCE": "fail:1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tests = history(run_dir)
    assert [(t["passed"], t["tests"], t["failures"]) for t in tests] == [(False, 1, 1), (True, 1, 0)]
    folder = run_dir / "iterations" / "ACCEPTANCE_TEST"
    assert "not implemented yet" in (folder / "01-test.log").read_text()  # the real assertion message
    second_prompt = (folder / "02-work.prompt.md").read_text()
    assert "Acceptance tests failed in iteration 1" in second_prompt and "not implemented yet" in second_prompt
    results = (run_dir / "artifacts" / "acceptance_test_results.md").read_text()
    assert "## Results recorded by teambot" in results and "Passed in iteration 2" in results
    assert "| 1 | failed |" in results and "| 2 | passed |" in results
    assert state(run_dir)["stages"]["POST_REVIEW"]["status"] == "succeeded"


def test_zero_tests_is_blocked_not_passed(tmp_path):
    """No tests written: every iteration fails with 'no acceptance tests ran'; the run ends blocked, exit 1."""
    project = small_project(tmp_path, max_iterations=2)
    run_dir = project / ".agent-tracking" / "acc"
    proc = teambot("run", "objective.md", "--runtime", "demo", cwd=project, env={"TEAMBOT_DEMO_ACCEPTANCE": "none"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "run blocked" in proc.stdout and "no acceptance tests ran" in proc.stdout
    assert [t["passed"] for t in history(run_dir)] == [False, False]
    assert all(t["summary"].startswith("no acceptance tests ran") for t in history(run_dir))
    data = state(run_dir)
    assert data["run"]["status"] == "blocked"
    assert data["stages"]["ACCEPTANCE_TEST"]["status"] == "blocked"
    assert data["stages"]["POST_REVIEW"]["status"] == "pending"
    assert (run_dir / "acceptance-failure-ACCEPTANCE_TEST.md").exists()


def test_gate_refuses_after_a_failed_result_and_history_survives_resumes(tmp_path):
    """POST_REVIEW (requires_acceptance_tests_passed) refuses to start after a failed result; fixing it opens the gate."""
    project = small_project(tmp_path, max_iterations=1)
    run_dir = project / ".agent-tracking" / "acc"
    failing = {"TEAMBOT_DEMO_ACCEPTANCE": "fail:9"}
    assert teambot("run", "objective.md", "--runtime", "demo", cwd=project, env=failing).returncode == 1
    # Make POST_REVIEW independent of the acceptance stage: only the gate stands in its way now.
    write_stages(project, max_iterations=1, post_review_depends="depends_on: [BUILD]")
    proc = teambot("resume", cwd=project, env=failing)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "make the acceptance tests pass, then: teambot resume acc" in proc.stdout
    stages = {s["name"]: s for s in status_json(project)["stages"]}
    assert stages["POST_REVIEW"]["status"] == "blocked" and stages["POST_REVIEW"]["blocked_by"] == "acceptance_gate"
    assert stages["POST_REVIEW"]["attempts"] == 0  # refused to start: its agent never ran
    assert "latest acceptance result of ACCEPTANCE_TEST (iteration 1) failed" in stages["POST_REVIEW"]["error"]
    assert not (run_dir / "artifacts" / "post_review.md").exists()
    assert (run_dir / "gate-POST_REVIEW.md").exists()
    gate = teambot("unblock", "POST_REVIEW", cwd=project)
    assert gate.returncode == 2 and "acceptance gate" in gate.stderr
    # Fix: a fresh budget for the acceptance stage, the code now passes; the gate opens.
    write_stages(project, max_iterations=1)
    assert teambot("unblock", "ACCEPTANCE_TEST", cwd=project).returncode == 0
    done = teambot("resume", cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [t["passed"] for t in history(run_dir)] == [False, True]  # iteration 1 kept across two resumes
    assert state(run_dir)["stages"]["POST_REVIEW"]["status"] == "succeeded"


def test_gate_refuses_when_no_acceptance_result_exists(tmp_path):
    """A gated stage that can start before any acceptance result exists is blocked, not run."""
    project = small_project(tmp_path)
    write_stages(project, post_review_depends="depends_on: []")
    proc = teambot("run", "objective.md", "--runtime", "demo", cwd=project)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "run blocked" in proc.stdout
    stages = {s["name"]: s for s in status_json(project)["stages"]}
    assert stages["POST_REVIEW"]["status"] == "blocked" and stages["POST_REVIEW"]["attempts"] == 0
    assert "no acceptance test result yet" in stages["POST_REVIEW"]["error"]


def test_acceptance_stage_without_a_command_is_refused_before_the_run(tmp_path):
    """With a real runtime and no acceptance.command, `run` exits 2 naming the stage and writes no state."""
    project = small_project(tmp_path)
    (project / "teambot.yaml").write_text("runtime: command\ncommand:\n  argv: [\"true\"]\n", encoding="utf-8")
    proc = teambot("run", "objective.md", cwd=project)
    assert proc.returncode == 2
    assert "stages.ACCEPTANCE_TEST: an acceptance test stage needs a command" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (project / ".agent-tracking" / "acc").exists()  # no empty run directory either


def test_configured_pytest_command_runs_real_pytest(tmp_path):
    """acceptance.command from teambot.yaml runs real pytest with {junit}; a stage's agent cannot fake the result."""
    import json
    import sys

    project = small_project(tmp_path)
    tests_dir = project / "tests" / "acceptance"
    tests_dir.mkdir(parents=True)
    (tests_dir / "test_words.py").write_text("def test_counts():\n    assert len('a b c'.split()) == 3\n", encoding="utf-8")
    agent = project / "agent.py"
    agent.write_text("import sys\nsys.stdin.read()\nprint('ALL ACCEPTANCE TESTS PASSED (trust me)')\n", encoding="utf-8")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/acceptance", "--junitxml={junit}"]
    (project / "teambot.yaml").write_text(
        f"runtime: command\ncommand:\n  argv: {json.dumps([sys.executable, str(agent)])}\n"
        f"acceptance:\n  command: {json.dumps(command)}\n", encoding="utf-8")
    proc = teambot("run", "objective.md", cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = project / ".agent-tracking" / "acc"
    assert [(t["passed"], t["tests"]) for t in history(run_dir)] == [(True, 1)]
    # Now the real test fails: the agent's claim changes nothing, and the budget runs out.
    (tests_dir / "test_words.py").write_text("def test_counts():\n    assert len('a b c'.split()) == 4\n", encoding="utf-8")
    assert teambot("rerun", "ACCEPTANCE_TEST", cwd=project).returncode == 0
    again = teambot("resume", cwd=project)
    assert again.returncode == 1 and "blocked" in again.stdout
    tests = history(run_dir)
    assert len(tests) == 5 and tests[0]["passed"] and not any(t["passed"] for t in tests[1:])
    assert "assert 3 == 4" in (run_dir / "iterations" / "ACCEPTANCE_TEST" / "02-test.log").read_text()


def test_unittest_finding_no_tests_without_junit_is_a_failure(tmp_path):
    """Without {junit}, `python -m unittest` over an empty folder (exit 0 or 5, 'NO TESTS RAN' on stderr) fails."""
    import json
    import sys

    project = small_project(tmp_path, max_iterations=1)
    (project / "empty").mkdir()
    command = ["{python}", "-m", "unittest", "discover", "-s", str(project / "empty")]
    write_stages(project, max_iterations=1)
    text = (project / "stages.yaml").read_text().replace(
        "    is_acceptance_test_stage: true\n", f"    is_acceptance_test_stage: true\n    acceptance_command: {json.dumps(command)}\n")
    (project / "stages.yaml").write_text(text, encoding="utf-8")
    proc = teambot("run", "objective.md", "--runtime", "demo", cwd=project)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    [result] = history(project / ".agent-tracking" / "acc")
    assert not result["passed"] and result["summary"].startswith("no acceptance tests ran"), result
    assert sys.version_info < (3, 12) or result["exit_code"] == 5


def test_a_second_artifact_missing_after_the_work_step_reruns_the_agent(tmp_path):
    """Declared artifacts besides the results file are checked after the work step, so resume calls the agent again."""
    import json
    import sys

    from tests.runtimes.conftest import FAKE_AGENT

    project = small_project(tmp_path)
    text = (project / "stages.yaml").read_text().replace("artifacts: [acceptance_test_results.md]",
                                                         "artifacts: [acceptance_test_results.md, scenarios.md]")
    (project / "stages.yaml").write_text(text, encoding="utf-8")
    calls = project / "calls.txt"
    argv = [sys.executable, str(FAKE_AGENT), "--count", str(calls), "--write", "notes.md", "--write", "post_review.md"]
    (project / "teambot.yaml").write_text(
        f"runtime: command\ncommand:\n  argv: {json.dumps(argv)}\nacceptance:\n  command: [\"true\"]\n", encoding="utf-8")
    proc = teambot("run", "objective.md", cwd=project)
    assert proc.returncode == 1
    record = committed_stage(project / ".agent-tracking" / "acc", "ACCEPTANCE_TEST")
    assert record.status == "failed" and "scenarios.md was not written by the work step" in record.error
    assert [it.work for it in record.iterations] == [None]  # the step is not recorded as done
    argv += ["--write", "scenarios.md"]
    (project / "teambot.yaml").write_text(
        f"runtime: command\ncommand:\n  argv: {json.dumps(argv)}\nacceptance:\n  command: [\"true\"]\n", encoding="utf-8")
    assert teambot("resume", cwd=project).returncode == 0
    assert calls.read_text().count("ACCEPTANCE_TEST ") == 2  # the agent was asked again


def test_secrets_in_test_output_never_reach_the_run_directory(tmp_path):
    """A failing test quoting a secret (from the objective): the JUnit report, logs and state teambot writes hold ***."""
    secret = "sk-proj-AbCdEf0123456789SecretValue"
    project = small_project(tmp_path)
    (project / "objective.md").write_text(f"---\nfeature: acc\n---\n# Use key {secret}\n\nbody\n", encoding="utf-8")
    proc = teambot("run", "objective.md", "--runtime", "demo", cwd=project,
                   env={"TEAMBOT_DEMO_ACCEPTANCE": "fail:1", "OPENAI_API_KEY": secret})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = project / ".agent-tracking" / "acc"
    assert (run_dir / "iterations" / "ACCEPTANCE_TEST" / "01-junit.xml").exists()
    # artifacts/ holds what the (demo) agents wrote, quoting the objective; everything teambot writes is redacted,
    # including the results it appends to acceptance_test_results.md
    written = [p for p in run_dir.rglob("*") if p.is_file() and ("artifacts" not in p.parts
                                                                 or p.name == "acceptance_test_results.md")]
    assert [p for p in written if secret in p.read_text(encoding="utf-8", errors="replace")] == []
    assert "***" in (run_dir / "iterations" / "ACCEPTANCE_TEST" / "01-junit.xml").read_text()


ACC_SCRIPT = """\
import os, sys, time
junit, hang, pids = sys.argv[1], sys.argv[2], sys.argv[3]
if os.path.exists(hang):
    open(pids, "a").write(f"{os.getpid()}\\n")
    time.sleep(120)
open(junit, "w").write('<testsuite><testcase classname="t" name="ok"/></testsuite>')
"""


def test_kill9_during_the_acceptance_command_resumes_at_the_test_step(tmp_path):
    """kill -9 while teambot runs the tests: resume ends the orphaned command and reruns only the test step."""
    import json
    import os
    import signal
    import sys

    import psutil

    from tests.helpers import start_teambot, wait_for
    from tests.runtimes.conftest import FAKE_AGENT

    project = small_project(tmp_path)
    (project / "acc.py").write_text(ACC_SCRIPT, encoding="utf-8")
    hang, pids, calls = project / "hang", project / "pids", project / "calls.txt"
    hang.write_text("1")
    agent = [sys.executable, str(FAKE_AGENT), "--count", str(calls), "--write-declared", "--write", "notes.md",
             "--write", "post_review.md"]
    command = ["{python}", str(project / "acc.py"), "{junit}", str(hang), str(pids)]
    (project / "teambot.yaml").write_text(f"runtime: command\ncommand:\n  argv: {json.dumps(agent)}\n"
                                          f"acceptance:\n  command: {json.dumps(command)}\n", encoding="utf-8")
    proc = start_teambot("run", "objective.md", cwd=project)
    try:
        assert wait_for(lambda: pids.exists() or proc.poll() is not None, timeout=60)
        assert proc.poll() is None, proc.communicate()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    orphan = int(pids.read_text().split()[0])
    assert psutil.pid_exists(orphan)  # the test command outlived teambot
    record = committed_stage(project / ".agent-tracking" / "acc", "ACCEPTANCE_TEST")
    assert [(it.work is not None, it.test) for it in record.iterations] == [(True, None)]
    hang.unlink()
    resumed = teambot("resume", cwd=project)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "still alive; ending it" in resumed.stdout
    assert not psutil.pid_exists(orphan) or psutil.Process(orphan).status() == psutil.STATUS_ZOMBIE
    assert calls.read_text().count("ACCEPTANCE_TEST ") == 1  # the work step was not repeated
    after = committed_stage(project / ".agent-tracking" / "acc", "ACCEPTANCE_TEST")
    assert [(it.number, it.test.passed) for it in after.iterations] == [(1, True)]


def test_an_acceptance_stage_with_the_gate_waits_only_for_the_others(tmp_path):
    """ACC_E2E (acceptance, gated) runs once ACC_UNIT passed; it does not wait for its own result."""
    (tmp_path / "stages.yaml").write_text(
        "stages:\n"
        "  ACC_UNIT: {work_agent: builder-1, is_acceptance_test_stage: true}\n"
        "  ACC_E2E: {work_agent: builder-2, is_acceptance_test_stage: true, requires_acceptance_tests_passed: true}\n"
        "stage_order: [ACC_UNIT, ACC_E2E]\n", encoding="utf-8")
    (tmp_path / "objective.md").write_text("---\nfeature: acc\n---\n# Two suites\n\nbody\n", encoding="utf-8")
    proc = teambot("run", "objective.md", "--runtime", "demo", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert committed_stage(tmp_path / ".agent-tracking" / "acc", "ACC_E2E").iterations[0].test.passed


def _with_acceptance_command(project: Path, script: str) -> None:
    """The acceptance stage runs `python -c SCRIPT {junit}`."""
    import json
    import sys

    command = [sys.executable, "-c", script, "{junit}"]
    text = (project / "stages.yaml").read_text().replace(
        "    is_acceptance_test_stage: true\n", f"    is_acceptance_test_stage: true\n    acceptance_command: {json.dumps(command)}\n")
    (project / "stages.yaml").write_text(text, encoding="utf-8")


def test_a_fifo_at_the_junit_path_fails_the_iteration_without_hanging(tmp_path):
    """A command that leaves a FIFO at {junit}: each iteration fails saying so, and teambot ends (blocked) on its own."""
    project = small_project(tmp_path, max_iterations=2)
    _with_acceptance_command(project, "import os, sys; os.mkfifo(sys.argv[1])")
    proc = teambot("run", "objective.md", "--runtime", "demo", cwd=project, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    tests = history(project / ".agent-tracking" / "acc")
    assert [t["passed"] for t in tests] == [False, False]
    assert all("is a FIFO; teambot reads only a regular file" in t["summary"] for t in tests), tests
    assert "Traceback" not in proc.stderr


def test_a_symlink_at_the_junit_path_is_refused_and_never_copied(tmp_path):
    """A command that links {junit} to a file outside the run: refused, and the file's text never enters the run."""
    project = small_project(tmp_path, max_iterations=1)
    outside = tmp_path.parent / f"{tmp_path.name}-outside.xml"
    outside.write_text('<testsuite><testcase classname="t" name="outside_marker_ok"/></testsuite>', encoding="utf-8")
    _with_acceptance_command(project, f"import os, sys; os.symlink({str(outside)!r}, sys.argv[1])")
    try:
        proc = teambot("run", "objective.md", "--runtime", "demo", cwd=project, timeout=120)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        run_dir = project / ".agent-tracking" / "acc"
        [result] = history(run_dir)
        assert not result["passed"] and "is a symbolic link" in result["summary"], result
        copied = [p for p in run_dir.rglob("*") if p.is_file() and not p.is_symlink()
                  and "outside_marker_ok" in p.read_text(errors="replace")]
        assert copied == []
        assert outside.read_text().startswith("<testsuite>")  # and the outside file is untouched
    finally:
        outside.unlink()


def test_a_secret_straddling_the_failure_detail_cut_never_reaches_the_run_directory(tmp_path):
    """A failure text whose secret spans the 2,000-character cut is redacted first: no 8-char piece of it is written."""
    secret = "sk-proj-Straddle0123456789SecretValue"
    project = small_project(tmp_path, max_iterations=1)
    report = f'<testsuite><testcase name="t"><failure>{"F" * 1985}{secret}</failure></testcase></testsuite>'
    _with_acceptance_command(project, f"import sys; open(sys.argv[1], 'w').write({report!r}); sys.exit(1)")
    proc = teambot("run", "objective.md", "--runtime", "demo", cwd=project, env={"OPENAI_API_KEY": secret}, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    run_dir = project / ".agent-tracking" / "acc"
    assert "F" * 1985 in (run_dir / "iterations" / "ACCEPTANCE_TEST" / "01-test.log").read_text()
    pieces = {secret[i:i + 8] for i in range(len(secret) - 7)}
    leaked = [(p, piece) for p in run_dir.rglob("*") if p.is_file()
              for piece in pieces if piece in p.read_text(encoding="utf-8", errors="replace")]
    assert leaked == []


def test_a_hard_link_at_the_junit_path_is_refused_and_never_copied(tmp_path):
    """A command that hard-links {junit} to a file outside the run: refused, and the file's text never enters the run."""
    project = small_project(tmp_path, max_iterations=1)
    outside = tmp_path / "outside.xml"
    outside.write_text('<testsuite><testcase classname="t" name="outside_marker_ok"/></testsuite>', encoding="utf-8")
    _with_acceptance_command(project, f"import os, sys; os.link({str(outside)!r}, sys.argv[1])")
    proc = teambot("run", "objective.md", "--runtime", "demo", cwd=project, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    run_dir = project / ".agent-tracking" / "acc"
    [result] = history(run_dir)
    assert not result["passed"] and "has 2 hard links" in result["summary"], result
    copied = [p for p in run_dir.rglob("*") if p.is_file() and p.stat().st_nlink == 1
              and "outside_marker_ok" in p.read_text(errors="replace")]
    assert copied == []


def test_a_command_replacing_its_iterations_folder_with_a_symlink_gets_nothing_written_through_it(tmp_path):
    """The command swaps iterations/<STAGE>/ for a symlink: teambot refuses to read or write through it and stops in one line."""
    project = small_project(tmp_path, max_iterations=1)
    outside = tmp_path / "outside"
    script = ("import os, sys, shutil; d = os.path.dirname(sys.argv[1]); o = %r; os.makedirs(o); "
              "open(os.path.join(o, os.path.basename(sys.argv[1])), 'w').write('<testsuite><testcase name=\"a\"/></testsuite>'); "
              "shutil.rmtree(d); os.symlink(o, d)") % str(outside)
    _with_acceptance_command(project, script)
    proc = teambot("run", "objective.md", "--runtime", "demo", cwd=project, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "iterations/ACCEPTANCE_TEST is a symbolic link; teambot writes only real files" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in outside.iterdir()) == ["01-junit.xml"]  # only what the command wrote itself
