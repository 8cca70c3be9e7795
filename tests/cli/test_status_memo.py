"""`status` answered from its memo (teambot/statusmemo.py): the very bytes a full status prints, or a full status.

Every status here runs in a subprocess through a small probe that runs `teambot.__main__.main`
(exactly what `python -m teambot` runs) and then names, on stderr, which of click and pydantic
were imported: a status served from its memo imports neither, so whether the memo answered is
seen without timing anything. Memos are only saved for files untouched for 2 s (the racy
window), so the module fixture builds every test's run first and then waits once.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.helpers import DEFAULT_STAGES, cli_env, start_teambot, teambot

STAGES = {"stages": {"PLAN": {"work_agent": "pm", "artifacts": ["plan.md"], "prompt_template": "prompts/plan.md"},
                     "BUILD": {"work_agent": "builder-1", "depends_on": ["PLAN"]},
                     "CHECK": {"work_agent": "pm", "include_objective": False, "depends_on": ["BUILD"]}},
          "stage_order": ["PLAN", "BUILD", "CHECK"]}
PERSONA = DEFAULT_STAGES.parent / "personas" / "pm.agent.md"
RACY = 2.2  # statusmemo.RACY_NS, and a little more
PROBE = ("import sys\nfrom teambot.__main__ import main\ncode = main()\n"
         "sys.stderr.write('imported:' + ','.join(m for m in ('click', 'pydantic', 'teambot.cli.main') if m in sys.modules) + '\\n')\n"
         "sys.exit(code)\n")
CHANGED = ["objective", "stages", "artifact", "persona", "template", "settings", "rerun"]
OTHERS = ["served", "two_runs", "elsewhere", "damaged", "unwritable", "racy", "imports", "options"]


def make_project(root: Path, *features: str) -> Path:
    """A project with the three-stage workflow (a template and a project persona included) and a finished demo run per feature."""
    (root / "prompts").mkdir()
    (root / "prompts" / "plan.md").write_text("Plan it.\n")
    (root / ".github" / "agents").mkdir(parents=True)
    shutil.copyfile(PERSONA, root / ".github" / "agents" / "pm.agent.md")
    (root / "stages.yaml").write_text(yaml.safe_dump(STAGES))
    (root / "objective.md").write_text("# Memo\n\n## Goals\n- three stages\n")
    env = {"HOME": str(root / "home"), "XDG_CACHE_HOME": str(root / "run-cache"), "TEAMBOT_DEMO_DELAY": "0"}
    for feature in features:
        proc = teambot("run", "objective.md", "-q", "--feature", feature, "--runtime", "demo", cwd=root, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return root


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One project per test, each with a finished run `memo` whose files are all older than the racy window."""
    built = {name: make_project(tmp_path_factory.mktemp(name), "memo") for name in CHANGED + OTHERS if name != "two_runs"}
    built["two_runs"] = make_project(tmp_path_factory.mktemp("two_runs"), "memo", "other")
    time.sleep(RACY)
    return built


def status(cwd: Path, cache: Path, *args: str, env: dict[str, str] | None = None) -> tuple[bytes, bool]:
    """(stdout, served from the memo) of `teambot status ARGS`, which must succeed and print nothing on stderr."""
    proc = subprocess.run([sys.executable, "-c", PROBE, "status", *args], cwd=cwd, capture_output=True, timeout=120,
                          env=cli_env({"XDG_CACHE_HOME": str(cache), **(env or {})}))
    assert proc.returncode == 0, proc.stderr.decode()
    lines = proc.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("imported:"), proc.stderr.decode()
    imported = lines[0].removeprefix("imported:")
    assert imported in ("", "click,pydantic,teambot.cli.main"), imported
    return proc.stdout, imported == ""


def cold(cwd: Path, *args: str, env: dict[str, str] | None = None) -> bytes:
    """What a status without any memo prints (TEAMBOT_NO_STATUS_CACHE=1: none read, none written)."""
    cache = cwd.parent / f"{cwd.name}-no-cache"
    out, served = status(cwd, cache, *args, env={**(env or {}), "TEAMBOT_NO_STATUS_CACHE": "1"})
    assert not served and memos(cache) == []
    return out


def warm(cwd: Path, cache: Path, *args: str) -> bytes:
    """Run status twice: the first computes and saves the memo, the second is served from it; both print what a cold one does."""
    first, served = status(cwd, cache, *args)
    assert not served
    second, served = status(cwd, cache, *args)
    assert served, "the second status should be answered from the memo"
    assert first == second == cold(cwd, *args)
    return second


def memos(cache: Path) -> list[Path]:
    folder = cache / "teambot" / "status"
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []


def test_a_repeated_status_is_served_from_its_memo_byte_for_byte(projects: dict[str, Path], tmp_path: Path) -> None:
    """`status FEATURE --json`, the table and `status --json` without FEATURE are each served from their own memo, byte for byte."""
    project, cache = projects["served"], tmp_path / "cache"
    for args in (("memo", "--json"), ("memo",), ("--json",), ("memo", "--json", "--workspace", ".agent-tracking")):
        assert warm(project, cache, *args)
    assert len(memos(cache)) == 4
    real = teambot("status", "memo", "--json", cwd=project, env={"XDG_CACHE_HOME": str(cache)})  # the real entry point too
    assert real.returncode == 0 and real.stderr == "" and real.stdout.encode() == cold(project, "memo", "--json")


def test_the_list_of_runs_is_served_from_its_memo(projects: dict[str, Path], tmp_path: Path) -> None:
    """With two runs, `status` and `status --json` (the list of runs) are served from their memo, and a third run changes the list."""
    project, cache = projects["two_runs"], tmp_path / "cache"
    table = warm(project, cache)
    assert b"memo" in table and b"other" in table
    assert warm(project, cache, "--json")
    (project / ".agent-tracking" / "third").mkdir()
    (project / ".agent-tracking" / "third" / "state.json").write_text("{not json")  # a damaged run is listed too
    out, served = status(project, cache)
    assert not served and out == cold(project) and b"third" in out


def _objective(project: Path) -> None:
    with (project / "objective.md").open("a") as fh:
        fh.write("- one more goal\n")


def _stages(project: Path) -> None:
    edited = yaml.safe_load((project / "stages.yaml").read_text())
    edited["stages"]["CHECK"]["description"] = "check harder"
    (project / "stages.yaml").write_text(yaml.safe_dump(edited))


def _artifact(project: Path) -> None:
    (project / ".agent-tracking" / "memo" / "artifacts" / "plan.md").unlink()


def _persona(project: Path) -> None:
    with (project / ".github" / "agents" / "pm.agent.md").open("a") as fh:
        fh.write("\nBe brief.\n")


def _template(project: Path) -> None:
    (project / "prompts" / "plan.md").write_text("Plan it twice.\n")


def _settings(project: Path) -> None:
    (project / "teambot.yaml").write_text(yaml.safe_dump({"agents": {"pm": {"model": "another-model"}}}))


def _rerun(project: Path) -> None:
    proc = teambot("rerun", "BUILD", "memo", cwd=project)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("change", [_objective, _stages, _artifact, _persona, _template, _settings, _rerun],
                         ids=CHANGED)
def test_a_change_to_anything_status_read_is_never_answered_from_the_memo(projects: dict[str, Path], tmp_path: Path,
                                                                          change) -> None:
    """After an edit of what the run's stages read or of the run itself, status prints what a status without memo prints, not the memo."""
    project, cache = projects[change.__name__.lstrip("_")], tmp_path / "cache"
    before = {args: warm(project, cache, *args) for args in (("memo", "--json"), ("memo",))}
    change(project)
    for args, memo in before.items():
        out, served = status(project, cache, *args)
        assert not served
        assert out == cold(project, *args)
        assert out != memo  # each of these changes shows: a stale stage, a note, attempts


def test_another_environment_or_directory_is_not_answered_from_the_memo(projects: dict[str, Path], tmp_path: Path) -> None:
    """A memo belongs to its environment and working directory: another TEAMBOT_* value or another cwd computes its own answer."""
    project, cache = projects["elsewhere"], tmp_path / "cache"
    workspace = str(project / ".agent-tracking")
    warm(project, cache, "memo", "--json", "--workspace", workspace)
    env = {"TEAMBOT_DEMO_DELAY": "7"}
    out, served = status(project, cache, "memo", "--json", "--workspace", workspace, env=env)
    assert not served and out == cold(project, "memo", "--json", "--workspace", workspace, env=env)
    other = tmp_path / "other"
    other.mkdir()
    out, served = status(other, cache, "memo", "--json", "--workspace", workspace)
    assert not served and out == cold(other, "memo", "--json", "--workspace", workspace)


def test_a_damaged_memo_is_ignored_and_written_again(projects: dict[str, Path], tmp_path: Path) -> None:
    """A memo that is garbage, cut short or has one byte changed is never replayed: status computes, prints the same, and saves a good one."""
    project, cache = projects["damaged"], tmp_path / "cache"
    good = warm(project, cache, "memo")
    [memo] = memos(cache)
    blob = memo.read_bytes()
    for damaged in (b"garbage", blob[: len(blob) // 2], blob[:-3] + bytes([blob[-3] ^ 1]) + blob[-2:]):
        memo.write_bytes(damaged)
        out, served = status(project, cache, "memo")
        assert not served and out == good
        assert status(project, cache, "memo") == (good, True)  # a good memo was written again


def test_a_cache_that_cannot_be_written_only_costs_speed(projects: dict[str, Path], tmp_path: Path) -> None:
    """With XDG_CACHE_HOME a regular file, status still prints the same bytes and nothing on stderr, never served."""
    project = projects["unwritable"]
    blocked = tmp_path / "cache-file"
    blocked.write_text("not a directory\n")
    for _ in range(2):
        out, served = status(project, blocked, "memo", "--json")
        assert not served and out == cold(project, "memo", "--json")


def test_a_file_changed_in_the_last_two_seconds_is_not_memoized(projects: dict[str, Path], tmp_path: Path) -> None:
    """A status that read a file changed less than 2 s ago saves no memo (a change in the same clock tick could go unseen); later it does."""
    project, cache = projects["racy"], tmp_path / "cache"
    objective = project / "objective.md"
    objective.write_bytes(objective.read_bytes())  # same bytes, a new mtime and ctime
    for _ in range(2):
        out, served = status(project, cache, "memo", "--json")
        assert not served
    assert memos(cache) == []
    time.sleep(RACY)
    assert warm(project, cache, "memo", "--json") == out


def start_in_build(project: Path, feature: str) -> subprocess.Popen:
    """A demo run of `feature` in the background, returned once PLAN is done and BUILD (30 s) runs."""
    proc = start_teambot("run", "objective.md", "-q", "--feature", feature, "--runtime", "demo", cwd=project,
                         env={"TEAMBOT_DEMO_DELAY": "0", "TEAMBOT_DEMO_DELAY_BUILD": "30", "HOME": str(project / "home")})
    try:
        deadline = time.monotonic() + 60
        while not (project / ".agent-tracking" / feature / "outputs" / "PLAN.md").exists() or \
                b'"status": "running"' not in cold(project, feature, "--json"):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.2)
    except BaseException:
        proc.kill()
        proc.communicate(timeout=30)
        raise
    return proc


def test_a_running_run_is_never_served_from_a_memo(tmp_path: Path) -> None:
    """While a run is in progress (its owner alive, a stage running), status always computes and never saves a memo."""
    (tmp_path / "project").mkdir()
    project = make_project(tmp_path / "project")
    cache = tmp_path / "cache"
    proc = start_in_build(project, "live")
    try:
        time.sleep(RACY)  # past the racy window: only the running run keeps a memo from being saved
        for args in (("live", "--json"), ("live",), ()):
            for _ in range(2):
                out, served = status(project, cache, *args)
                assert not served
        assert proc.poll() is None, "the run should still be running"
        assert memos(cache) == []
        assert b'"status": "running"' in status(project, cache, "live", "--json")[0]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def test_a_run_waiting_for_a_person_is_never_served_from_a_memo(tmp_path: Path) -> None:
    """A run waiting for an approval prints how long it has waited (the clock), so its status is never memoized."""
    project = tmp_path / "project"
    project.mkdir()
    make_project(project)
    waiting = yaml.safe_load((project / "stages.yaml").read_text())
    waiting["stages"]["BUILD"]["approval"] = "required"
    (project / "stages.yaml").write_text(yaml.safe_dump(waiting))
    proc = teambot("run", "objective.md", "-q", "--feature", "gate", "--runtime", "demo", cwd=project,
                   env={"TEAMBOT_DEMO_DELAY": "0", "HOME": str(project / "home")})
    assert proc.returncode == 4, proc.stdout + proc.stderr
    time.sleep(RACY)
    cache = tmp_path / "cache"
    for args in (("gate",), ("gate", "--json")):
        for _ in range(2):
            out, served = status(project, cache, *args)
            assert not served
    assert b"waiting since" in status(project, cache, "gate")[0]
    assert memos(cache) == []


def test_a_served_status_imports_no_click_pydantic_or_yaml(projects: dict[str, Path], tmp_path: Path) -> None:
    """`python -X importtime -m teambot status --json` served from the memo imports only the standard library and teambot's memo."""
    project, cache = projects["imports"], tmp_path / "cache"
    expected = warm(project, cache, "memo", "--json")
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "teambot", "status", "memo", "--json"], cwd=project,
                          capture_output=True, timeout=60, env=cli_env({"XDG_CACHE_HOME": str(cache)}))
    assert proc.returncode == 0 and proc.stdout == expected
    imported = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.decode().splitlines() if line.startswith("import time:")}
    assert {"teambot.statusmemo", "teambot.signals"} <= imported
    teambot_modules = {m for m in imported if m.startswith("teambot")}
    assert teambot_modules == {"teambot", "teambot.signals", "teambot.statusmemo"}
    assert not imported & {"click", "pydantic", "yaml", "json", "hashlib", "rich", "psutil"}


def test_other_options_take_the_normal_path(projects: dict[str, Path], tmp_path: Path) -> None:
    """Only `status [FEATURE] [--json] [--workspace DIR]` is answered from a memo: --help and an unknown option reach click as before."""
    project, cache = projects["options"], tmp_path / "cache"
    warm(project, cache, "memo", "--json")
    env = cli_env({"XDG_CACHE_HOME": str(cache)})
    helped = subprocess.run([sys.executable, "-m", "teambot", "status", "memo", "--json", "--help"], cwd=project, env=env,
                            capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and helped.stdout.startswith("Usage:")
    unknown = subprocess.run([sys.executable, "-m", "teambot", "status", "memo", "--json", "--bogus"], cwd=project, env=env,
                             capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and "--bogus" in unknown.stderr and unknown.stdout == ""


def test_a_run_killed_mid_stage_is_served_while_its_owner_stays_gone(tmp_path: Path) -> None:
    """A run killed with kill -9 (owner.json names a dead pid) is memoized like a finished one, byte for byte;
    the memo holds only while no process has that pid."""
    import os
    import signal

    from teambot import statusmemo

    project = tmp_path / "project"
    project.mkdir()
    make_project(project)
    cache = tmp_path / "cache"
    proc = start_in_build(project, "killed")
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    time.sleep(RACY)
    shown = warm(project, cache, "killed", "--json")
    assert b'"status": "interrupted"' in shown and b"teambot resume" in shown
    assert len(memos(cache)) == 1
    assert statusmemo.unchanged(str(proc.pid), statusmemo.GONE, None)  # the killed owner's pid is free
    assert not statusmemo.unchanged(str(os.getpid()), statusmemo.GONE, None)  # a live process with that id: full path
