"""A small run of benchmarks/torture.py's trials (issue 9, "Keep measuring"), and checks that they can fail.

The trials live in benchmarks/torture_trials.py and benchmarks/torture_concurrency.py; this
test imports them from there (benchmarks/ on sys.path), so the script and the test run the
same code. The full, longer run is `python benchmarks/torture.py` (figures in docs/torture.md).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, teambot

sys.path.insert(0, str(REPO / "benchmarks"))

from torture_concurrency import race_trial, readers_trial, signal_trial  # noqa: E402
from torture_trials import (FEATURE, _check_final, _Ledger, crash_trial, events_size, leftovers,  # noqa: E402
                            make_template, status_json)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `teambot init` project; each trial copies it."""
    return make_template(tmp_path_factory.mktemp("torture"))


def _explain(results) -> str:
    return "\n".join(f"{r.kind} seed {r.seed}: {p}" for r in results for p in r.problems)


def test_crash_torture_resumes_to_completion_without_repeating_work(template: Path, tmp_path: Path) -> None:
    """3 trials of 2 kill -9s each (run, then resume): completed, nothing finished ran again, no process left."""
    results = [crash_trial(seed, template, tmp_path, kills=2) for seed in (901, 902, 903)]
    assert not _explain(results), _explain(results)
    assert sum(r.kills for r in results) >= 3, "most kills landed before the run ended on its own"


def test_racing_starts_have_one_winner_named_by_every_loser(template: Path, tmp_path: Path) -> None:
    """4 `teambot run` at once: one winner; the 3 losers exit 3 naming the winner's pid."""
    result = race_trial(911, template, tmp_path, starters=4)
    assert result.ok, _explain([result])


def test_a_reader_during_a_long_run_never_sees_a_bad_read(tmp_path: Path) -> None:
    """A `status --json` loop during a 120-stage run: every read exits 0 with whole JSON."""
    result = readers_trial(921, tmp_path, readers=1, stages=120)
    assert result.ok, _explain([result])
    assert result.notes["reads_while_running"] >= 1


def test_sigterm_exits_130_with_stages_interrupted_and_no_process_left(template: Path, tmp_path: Path) -> None:
    """SIGTERM mid-run: exit 130, no traceback, the running stages interrupted, no process of the run left."""
    result = signal_trial(931, template, tmp_path, "term")
    assert result.ok, _explain([result])
    assert result.notes["interrupted"] >= 1


# -- the checks themselves can fail ------------------------------------------------------
def test_leftovers_finds_a_process_carrying_the_run_dir(tmp_path: Path) -> None:
    """A live process with the run's TEAMBOT_RUN_DIR is reported; once it ends, nothing is."""
    run_dir = tmp_path / "run"
    env = {**os.environ, "TEAMBOT_RUN_DIR": str(run_dir)}
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=env)
    try:
        assert f"pid {proc.pid}" in " ".join(leftovers(run_dir, "no-such-mark"))
    finally:
        proc.kill()
        proc.wait()
    assert leftovers(run_dir, "no-such-mark") == []


def test_crash_checks_catch_a_rerun_a_repeated_step_and_a_changed_artifact(template: Path, tmp_path: Path) -> None:
    """A stage started again after it was seen succeeded, a step logged twice and an edited artifact are all reported."""
    project = tmp_path / "p"
    shutil.copytree(template, project)
    run_dir = project / ".agent-tracking" / FEATURE
    assert teambot("run", "objective.md", "-q", "--runtime", "demo", cwd=project).returncode == 0
    problems: list[str] = []
    ledger = _Ledger()
    ledger.observe(status_json(project, problems, "done"), events_size(run_dir), "done", problems)
    assert problems == []
    # the user reruns a finished stage: legitimate, but exactly what a crash must never cause
    assert teambot("rerun", "POST_REVIEW", cwd=project).returncode == 0
    assert teambot("resume", "-q", cwd=project).returncode == 0
    step = next(line for line in (run_dir / "events.jsonl").read_text().splitlines() if '"step_completed"' in line)
    with (run_dir / "events.jsonl").open("a") as fh:
        fh.write(step + "\n")
    (run_dir / "artifacts" / "research.md").write_text("overwritten by an old agent\n")
    report = status_json(project, problems, "after")
    _check_final(report, run_dir, ledger, problems)
    text = "\n".join(problems)
    assert "POST_REVIEW was recorded succeeded, then got another stage_started" in text
    stage = json.loads(step)["stage"]
    assert f"committed review step ('{stage}', 1, " in text
    assert "artifacts/research.md does not match its recorded sha256" in text
