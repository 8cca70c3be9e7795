"""Task stages end to end: the real CLI, real git repositories, the demo agent writing real code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.git.scratch import git, write
from tests.helpers import events, status_json, teambot
from tests.tasks.conftest import fingerprint, stages_text

FEATURE = "tasks-demo"
BRANCH = f"teambot/{FEATURE}"


def run_dir(project: Path) -> Path:
    return project / ".agent-tracking" / FEATURE


def merges(project: Path, task: str) -> int:
    """How many merge commits of `task` the integration branch holds."""
    log = git(project, "log", "--format=%s", BRANCH)
    return sum(1 for line in log.splitlines() if line.startswith(f"Merge task {task}:"))


def task_events(project: Path, type_: str) -> list[dict]:
    return [e for e in events(run_dir(project)) if e["type"] == type_]


def test_a_task_stage_merges_every_task_once_after_its_dependencies(gitproject: Path) -> None:
    """The demo plan's diamond runs: every task is merged exactly once, each after the tasks it builds on."""
    before = fingerprint(gitproject)
    done = teambot("run", "objective.md", cwd=gitproject)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"git merge {BRANCH}" in done.stdout
    for task in ("T1", "T2", "T3", "T4"):
        assert merges(gitproject, task) == 1
    merged_at = {e["details"]["task"]: i for i, e in enumerate(events(run_dir(gitproject))) if e["type"] == "task_merged"}
    started_at = {e["details"]["task"]: i for i, e in enumerate(events(run_dir(gitproject))) if e["type"] == "task_started"}
    assert merged_at["T1"] < started_at["T2"] and merged_at["T1"] < started_at["T3"]
    assert max(merged_at["T2"], merged_at["T3"]) < started_at["T4"]
    tree = git(gitproject, "ls-tree", "-r", "--name-only", BRANCH).split()
    assert {"demo_t1.py", "demo_t4.py", "tests/test_demo_t4.py"} <= set(tree)
    # the user's branch, index and files are exactly as they were
    assert fingerprint(gitproject) == before
    report = status_json(gitproject)
    impl = next(s for s in report["stages"] if s["name"] == "IMPLEMENTATION")
    assert [(c["name"], c["status"]) for c in impl["children"]] == [(t, "succeeded") for t in ("T1", "T2", "T3", "T4")]
    assert all(c["merge_commit"] for c in impl["children"])
    assert {c["agent"] for c in impl["children"]} <= {"builder-1", "builder-2"}
    # merged tasks' worktrees are removed; the integration worktree stays for the stages after
    assert sorted(p.name for p in (run_dir(gitproject) / "worktrees").iterdir()) == [".gitignore", "_integration"]


def test_the_users_uncommitted_changes_stay_out_of_the_run_and_untouched(gitproject: Path) -> None:
    """A dirty checkout: a warning, the run starts from HEAD, and the user's files, index and branch are unchanged."""
    write(gitproject / "README.md", "# Project, edited but not committed\n")
    write(gitproject / "notes.txt", "untracked\n")
    git(gitproject, "add", "notes.txt")
    before = fingerprint(gitproject)
    done = teambot("run", "objective.md", cwd=gitproject)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "uncommitted changes" in done.stdout + done.stderr
    assert fingerprint(gitproject) == before
    assert git(gitproject, "show", f"{BRANCH}:README.md") == "# Project\n"


def test_conflicting_tasks_are_resolved_by_the_tasks_agent(gitproject: Path) -> None:
    """Two tasks editing the same line: the second is merged after its agent resolves the conflict."""
    done = teambot("run", "objective.md", cwd=gitproject, env={"TEAMBOT_DEMO_CONFLICT": "T2,T3"})
    assert done.returncode == 0, done.stdout + done.stderr
    conflicts = task_events(gitproject, "task_conflict")
    assert conflicts and conflicts[0]["details"]["files"] == ["demo_shared.py"]
    shared = git(gitproject, "show", f"{BRANCH}:demo_shared.py")
    assert "<<<<<<<" not in shared and "'T2'" in shared and "'T3'" in shared
    for task in ("T1", "T2", "T3", "T4"):
        assert merges(gitproject, task) == 1


def test_on_conflict_fail_fails_the_task_naming_the_files(gitproject: Path) -> None:
    """on_conflict: fail: the conflicting task fails naming the file; its dependents never start."""
    write(gitproject / "stages.yaml", stages_text(on_conflict="fail"))
    done = teambot("run", "objective.md", cwd=gitproject, env={"TEAMBOT_DEMO_CONFLICT": "T2,T3"})
    assert done.returncode == 1
    assert "demo_shared.py" in done.stdout and "on_conflict: fail" in done.stdout
    assert "not started" in done.stdout and "T4" in done.stdout
    assert merges(gitproject, "T1") == 1 and merges(gitproject, "T4") == 0
    assert len([t for t in ("T2", "T3") if merges(gitproject, t) == 1]) == 1


def test_a_verify_failure_undoes_the_merge_and_blocks_only_dependents(gitproject: Path) -> None:
    """verify failing after T2's merge: the integration branch goes back; T3 still merges; T4 never starts."""
    text = stages_text().replace('verify: ["{python}", -m, unittest, discover, -s, tests]',
                                 'verify: ["{python}", -c, "import os, sys; sys.exit(os.path.exists(\'demo_t2.py\'))"]')
    write(gitproject / "stages.yaml", text)
    done = teambot("run", "objective.md", cwd=gitproject)
    assert done.returncode == 1
    assert "T2: verify failed after merging, merge undone" in done.stdout
    assert merges(gitproject, "T2") == 0 and merges(gitproject, "T3") == 1 and merges(gitproject, "T4") == 0
    assert "demo_t2.py" not in git(gitproject, "ls-tree", "-r", "--name-only", BRANCH).split()
    impl = next(s for s in status_json(gitproject)["stages"] if s["name"] == "IMPLEMENTATION")
    states = {c["name"]: c["status"] for c in impl["children"]}
    assert states == {"T1": "succeeded", "T2": "failed", "T3": "succeeded", "T4": "pending"}


@pytest.mark.parametrize("point", ["agent", "committed", "intent", "merged", "verified"])
def test_kill_9_inside_a_task_then_resume_merges_it_once(gitproject: Path, point: str) -> None:
    """kill -9 at each step of T2 (after its agent, after its commit, around its merge and verify): resume
    finishes the run, every task is merged exactly once, and T2's agent runs again only if its work was not committed."""
    killed = teambot("run", "objective.md", cwd=gitproject, env={"TEAMBOT_TEST_CRASH_AT": f"{point}:T2"})
    assert killed.returncode == -9, killed.stdout + killed.stderr
    output = run_dir(gitproject) / "outputs" / "IMPLEMENTATION" / "T2.md"
    t1_output = (run_dir(gitproject) / "outputs" / "IMPLEMENTATION" / "T1.md").stat().st_ino
    first = output.stat().st_ino
    done = teambot("resume", cwd=gitproject)
    assert done.returncode == 0, done.stdout + done.stderr
    for task in ("T1", "T2", "T3", "T4"):
        assert merges(gitproject, task) == 1, (task, git(gitproject, "log", "--oneline", BRANCH))
    assert (run_dir(gitproject) / "outputs" / "IMPLEMENTATION" / "T1.md").stat().st_ino == t1_output  # merged: never rerun
    agent_ran_again = output.stat().st_ino != first
    assert agent_ran_again == (point == "agent")
    assert git(run_dir(gitproject) / "worktrees" / "_integration", "status", "--porcelain") == ""


def test_a_hand_written_tasks_file_with_a_cycle_exits_2_before_anything_runs(gitproject: Path) -> None:
    """A task stage reading a project file: a cycle in it is a bad-input error naming the cycle; no run is created."""
    text = stages_text().replace("    artifacts: [tasks.yaml]\n", "    artifacts: [plan.md]\n").replace("from: tasks.yaml", "from: work/tasks.yaml")
    write(gitproject / "stages.yaml", text)
    write(gitproject / "work" / "tasks.yaml", "tasks:\n  - {id: A, title: a, depends_on: [B]}\n  - {id: B, title: b, depends_on: [A]}\n")
    done = teambot("run", "objective.md", cwd=gitproject)
    assert done.returncode == 2
    assert "A -> B -> A" in done.stderr and "Traceback" not in done.stderr
    assert not run_dir(gitproject).exists()


def test_a_task_stage_outside_a_git_repository_exits_2_naming_the_fix(tmp_path: Path) -> None:
    """No git repository: exit 2, one message with `git init`, nothing written."""
    write(tmp_path / "stages.yaml", stages_text())
    write(tmp_path / "objective.md", "# Build it\n")
    done = teambot("run", "objective.md", cwd=tmp_path)
    assert done.returncode == 2
    assert "git init" in done.stderr and "IMPLEMENTATION" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / ".agent-tracking").exists()


def test_tasks_declaring_the_same_file_never_run_at_once(gitproject: Path) -> None:
    """Two ready tasks whose `files` overlap run one after the other; an independent one runs beside them."""
    text = stages_text().replace("    artifacts: [tasks.yaml]\n", "    artifacts: [plan.md]\n")
    write(gitproject / "stages.yaml", text.replace("agents: [builder-1, builder-2]", "agents: [builder-1, builder-2]\n      per_agent: 2"))
    write(gitproject / "tasks.yaml", "tasks:\n  - {id: A, title: a, files: [pkg/]}\n  - {id: B, title: b, files: [pkg/b.py]}\n"
                                     "  - {id: C, title: c, files: [other.py]}\n")
    git(gitproject, "add", "tasks.yaml")
    git(gitproject, "commit", "-q", "-m", "tasks")
    done = teambot("run", "objective.md", "--max-concurrency", "3", cwd=gitproject, env={"TEAMBOT_DEMO_DELAY": "0.3"})
    assert done.returncode == 0, done.stdout + done.stderr
    spans: dict[str, list[float]] = {}
    for e in events(run_dir(gitproject)):
        if e["type"] in ("task_started", "task_merged"):
            spans.setdefault(e["details"]["task"], []).append(e["ts"])
    (a0, a1), (b0, b1), (c0, c1) = spans["A"], spans["B"], spans["C"]
    assert a1 <= b0 or b1 <= a0  # never at the same time
    assert c0 < max(a1, b1) and min(a0, b0) < c1  # C overlapped with one of them: no needless waiting


def test_status_json_and_events_carry_the_tasks(gitproject: Path) -> None:
    """status --json lists tasks with branch and commits; events name the task of each step."""
    assert teambot("run", "objective.md", cwd=gitproject).returncode == 0
    impl = next(s for s in status_json(gitproject)["stages"] if s["name"] == "IMPLEMENTATION")
    t1 = impl["children"][0]
    assert t1["branch"] == f"teambot-task/{FEATURE}/T1"
    assert git(gitproject, "merge-base", "--is-ancestor", t1["head_commit"], BRANCH, check=False) == ""
    types = {e["type"] for e in events(run_dir(gitproject))}
    assert {"task_started", "task_committed", "task_merged"} <= types
    state = json.loads((run_dir(gitproject) / "state.json").read_text())
    assert state["run"]["branch"] == BRANCH


def test_clean_removes_worktrees_and_merged_branches_and_keeps_the_result(gitproject: Path) -> None:
    """`teambot clean`: worktrees and merged task branches go, the integration branch stays; --branch removes it."""
    assert teambot("run", "objective.md", cwd=gitproject).returncode == 0
    done = teambot("clean", cwd=gitproject)
    assert done.returncode == 0, done.stderr
    branches = git(gitproject, "branch", "--format=%(refname:short)").split()
    assert sorted(branches) == ["main", BRANCH]
    assert git(gitproject, "worktree", "list", "--porcelain").count("worktree ") == 1
    done = teambot("clean", FEATURE, "--branch", cwd=gitproject)
    assert done.returncode == 0 and git(gitproject, "branch", "--format=%(refname:short)").split() == ["main"]


def test_clean_keeps_a_failed_tasks_unmerged_branch_without_force(gitproject: Path) -> None:
    """A failed task's branch holds work merged nowhere: clean keeps it (and says why) unless --force."""
    write(gitproject / "stages.yaml", stages_text(on_conflict="fail"))
    done = teambot("run", "objective.md", "--feature", "failing", cwd=gitproject, env={"TEAMBOT_DEMO_CONFLICT": "T2,T3"})
    assert done.returncode == 1
    done = teambot("clean", "failing", cwd=gitproject)
    assert done.returncode == 0 and "not merged into teambot/failing" in done.stdout
    kept = [b for b in git(gitproject, "branch", "--format=%(refname:short)").split() if b.startswith("teambot-task/failing/")]
    assert len(kept) == 1
    assert teambot("clean", "failing", "--force", cwd=gitproject).returncode == 0
    assert not [b for b in git(gitproject, "branch", "--format=%(refname:short)").split() if b.startswith("teambot-task/failing/")]


def test_graph_shows_a_runs_tasks(gitproject: Path) -> None:
    """`teambot graph --feature F --format text` lists each task with what it waits for."""
    assert teambot("run", "objective.md", cwd=gitproject).returncode == 0
    done = teambot("graph", "--format", "text", "--feature", FEATURE, cwd=gitproject)
    assert done.returncode == 0
    assert "IMPLEMENTATION/T4  <- T2, T3" in done.stdout
    mermaid = teambot("graph", "--feature", FEATURE, cwd=gitproject).stdout
    assert "task_0_1 --> task_0_3" in mermaid and "task_0_2 --> task_0_3" in mermaid


def test_a_stage_writing_a_bad_tasks_file_fails_naming_the_problem(gitproject: Path) -> None:
    """The stage that writes the task stage's tasks file fails when it is invalid, naming task and field."""
    code = "import sys; open(sys.argv[1], 'w').write(chr(10).join(['tasks:', '  - {id: T1, title: a, depends_on: [T9]}']))"
    text = stages_text().replace("    work_agent: pm\n    artifacts: [tasks.yaml]\n",
                                 f"    run: [\"{{python}}\", -c, \"{code}\", \"{{artifacts_dir}}/tasks.yaml\"]\n"
                                 "    artifacts: [tasks.yaml]\n")
    write(gitproject / "stages.yaml", text)
    done = teambot("run", "objective.md", cwd=gitproject)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "PLAN: tasks.yaml is not a valid tasks file for IMPLEMENTATION" in done.stdout
    assert "T9" in done.stdout and "depends_on" in done.stdout
    assert not task_events(gitproject, "task_started")


def test_init_says_the_workflow_needs_a_git_repository(tmp_path: Path) -> None:
    """`teambot init` outside a git repository names the git commands the default workflow needs."""
    done = teambot("init", cwd=tmp_path)
    assert done.returncode == 0 and "git init" in done.stdout


def test_lock_files_a_killed_git_left_do_not_stop_the_resume(gitproject: Path) -> None:
    """kill -9 mid-merge can leave git's index.lock behind: resume removes it (the run holds its lock) and finishes."""
    killed = teambot("run", "objective.md", cwd=gitproject, env={"TEAMBOT_TEST_CRASH_AT": "intent:T3"})
    assert killed.returncode == -9
    integration = run_dir(gitproject) / "worktrees" / "_integration"
    git_dir = Path(git(integration, "rev-parse", "--absolute-git-dir").strip())
    (git_dir / "index.lock").write_text("")  # what a git killed half-way leaves
    done = teambot("resume", cwd=gitproject)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (git_dir / "index.lock").exists()
    assert all(merges(gitproject, t) == 1 for t in ("T1", "T2", "T3", "T4"))


def test_a_failed_tasks_worktree_is_kept_and_named(gitproject: Path) -> None:
    """A task whose agent fails keeps its worktree, and the failure names it."""
    done = teambot("run", "objective.md", cwd=gitproject, env={"TEAMBOT_DEMO_FAIL": "T2"})
    assert done.returncode == 1
    tree = run_dir(gitproject) / "worktrees" / "T2"
    assert tree.is_dir() and f"worktrees kept for inspection: {tree}" in done.stdout
    assert merges(gitproject, "T3") == 1 and merges(gitproject, "T4") == 0
    again = teambot("resume", cwd=gitproject)
    assert again.returncode == 0, again.stdout + again.stderr
    assert all(merges(gitproject, t) == 1 for t in ("T1", "T2", "T3", "T4"))


def test_worktrees_dir_puts_the_worktrees_where_teambot_yaml_says(gitproject: Path) -> None:
    """teambot.yaml worktrees_dir: the run's worktrees live there (one folder per run), clean finds them there."""
    write(gitproject / "teambot.yaml", "worktrees_dir: ../trees\n")
    done = teambot("run", "objective.md", cwd=gitproject, env={"TEAMBOT_DEMO_FAIL": "T4"})
    assert done.returncode == 1
    trees = gitproject.parent / "trees" / FEATURE
    assert (trees / "_integration").is_dir() and (trees / "T4").is_dir()
    assert not (run_dir(gitproject) / "worktrees").exists()
    write(gitproject / "teambot.yaml", "worktrees_dir: ../elsewhere\n")  # changed: the run keeps its own folder
    assert teambot("resume", cwd=gitproject).returncode == 0
    assert not (gitproject.parent / "elsewhere").exists()
    assert teambot("clean", cwd=gitproject).returncode == 0
    assert not (trees / "_integration").exists()
