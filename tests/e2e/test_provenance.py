"""End to end: a finished stage is stale when something it read changed (provenance), and early cutoff."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections import Counter
from pathlib import Path

import yaml

from tests.helpers import events, started, state, status_json, teambot, git_commit_all
from tests.runtimes.conftest import FAKE_AGENT

# A → B → C and A → D, each stage a call of the fake agent, whose reply (it writes no file) is
# saved as the stage's one artifact: it names the prompt's length, so a longer prompt changes it.
SMALL = {
    "stages": {
        "A": {"work_agent": "a", "artifacts": ["a.md"], "prompt_template": "prompts/a.md"},
        "B": {"work_agent": "b", "artifacts": ["b.md"], "prompt_template": "prompts/b.md", "depends_on": ["A"]},
        "C": {"work_agent": "c", "artifacts": ["c.md"], "depends_on": ["B"]},
        "D": {"work_agent": "d", "artifacts": ["d.md"], "depends_on": ["A"]},
    },
    "stage_order": ["A", "B", "C", "D"],
}


def small_project(root: Path, agents: dict | None = None) -> Path:
    """The A/B/C/D workflow on the fake agent (command runtime); every call is logged in calls.txt."""
    (root / "prompts").mkdir()
    (root / "prompts" / "a.md").write_text("Do A.\n")
    (root / "prompts" / "b.md").write_text("Do B.\n")
    (root / "stages.yaml").write_text(yaml.safe_dump(SMALL, sort_keys=False))
    (root / "objective.md").write_text("---\nfeature: prov\n---\n# Provenance\n\n## Goals\n- track inputs\n")
    write_settings(root, agents or {})
    return root


def write_settings(root: Path, agents: dict) -> None:
    argv = [sys.executable, str(FAKE_AGENT), "--count", str(root / "calls.txt")]
    settings = {"runtime": "command", "command": {"argv": argv}, "agents": agents}
    (root / "teambot.yaml").write_text(yaml.safe_dump(settings))


def calls(root: Path) -> Counter:
    """stage -> how many times the fake agent was called for it."""
    path = root / "calls.txt"
    return Counter(line.split()[0] for line in path.read_text().splitlines()) if path.exists() else Counter()


def reasons(cwd: Path) -> dict[str, list[str]]:
    report = status_json(cwd)
    assert report["stale"] == list(report["stale_reasons"])
    assert [s["name"] for s in report["stages"] if s["stale"]] == report["stale"]
    assert all(s["stale_reasons"] == report["stale_reasons"].get(s["name"], []) for s in report["stages"])
    return report["stale_reasons"]


def test_editing_the_objective_makes_the_stages_that_read_it_stale(project: Path, run_dir: Path) -> None:
    """A new success criterion: every stage whose prompt includes the objective is stale ("objective changed"),
    SETUP (include_objective: false) is not; plain resume reruns nothing, --rerun-stale reruns them once each."""
    assert teambot("run", "objective.md", "-q", cwd=project).returncode == 0
    readers = [n for n, s in yaml.safe_load((project / "stages.yaml").read_text())["stages"].items()
               if s.get("include_objective", True) and (s.get("work_agent") or s.get("artifacts"))]
    with (project / "objective.md").open("a") as fh:
        fh.write("- [ ] `todo export` writes the list as CSV\n")

    found = reasons(project)
    assert list(found) == readers and "SETUP" not in found
    assert all(why == ["objective changed"] for why in found.values())
    count = len(started(run_dir))
    plain = teambot("resume", cwd=project)
    assert plain.returncode == 0, plain.stderr
    assert "BUSINESS_PROBLEM: objective changed" in plain.stdout and "--rerun-stale" in plain.stdout
    assert len(started(run_dir)) == count, "stale stages do not rerun without --rerun-stale"

    forced = teambot("resume", "--rerun-stale", cwd=project)
    assert forced.returncode == 0, forced.stdout + forced.stderr
    rerun = Counter(started(run_dir)[count:])
    assert set(readers) <= set(rerun) <= set(readers) | {"COMPLETE"}  # COMPLETE: downstream of them all
    assert set(rerun.values()) == {1}
    assert reasons(project) == {}


def test_editing_a_prompt_template_reruns_that_stage_and_the_dependents_it_changes(tmp_path: Path) -> None:
    """B's template grows: only B is stale, naming the template; --rerun-stale calls B, then C (B's artifact
    changed), never A or D."""
    project = small_project(tmp_path)
    assert teambot("run", "objective.md", "-q", cwd=project).returncode == 0
    assert calls(project) == Counter({"A": 1, "B": 1, "C": 1, "D": 1})
    with (project / "prompts" / "b.md").open("a") as fh:
        fh.write("Also list the risks.\n")

    assert reasons(project) == {"B": ["prompt template prompts/b.md changed"]}
    assert teambot("resume", cwd=project).returncode == 0
    assert calls(project) == Counter({"A": 1, "B": 1, "C": 1, "D": 1}), "nothing reruns without the flag"
    proc = teambot("resume", "--rerun-stale", cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert calls(project) == Counter({"A": 1, "B": 2, "C": 2, "D": 1})
    assert reasons(project) == {}


def test_persona_and_agent_settings_changes_name_what_changed(tmp_path: Path) -> None:
    """A new persona for agent b and another model for agent c: B and C are stale saying so; A and D are not."""
    project = small_project(tmp_path, agents={"c": {"model": "small"}})
    assert teambot("run", "objective.md", "-q", cwd=project).returncode == 0
    (project / ".github" / "agents").mkdir(parents=True)
    (project / ".github" / "agents" / "b.agent.md").write_text("# Careful builder\n\nCheck twice.\n")
    write_settings(project, {"c": {"model": "large"}})

    assert reasons(project) == {"B": ["persona b changed"], "C": ["model changed (agent c)"]}
    human = teambot("status", cwd=project)
    assert "B: persona b changed" in human.stdout and "C: model changed (agent c)" in human.stdout
    assert teambot("resume", "--rerun-stale", cwd=project).returncode == 0
    assert calls(project) == Counter({"A": 1, "B": 2, "C": 2, "D": 1})
    assert reasons(project) == {}
    assert "large" not in (project / ".agent-tracking" / "prov" / "state.json").read_text(), "hashes, not values"


def test_a_rerun_with_identical_artifacts_keeps_its_dependents(tmp_path: Path) -> None:
    """Early cutoff: SPEC's template (from `teambot init`) changes, SPEC reruns and the demo writes the same
    feature_spec.md, so every stage downstream is kept without running and nothing is stale after."""
    assert teambot("init", cwd=tmp_path).returncode == 0
    git_commit_all(tmp_path)  # the default workflow's task stage needs a git repository
    assert teambot("run", "objective.md", "-q", cwd=tmp_path).returncode == 0
    run_dir = tmp_path / ".agent-tracking" / "todo-cli"
    spec = run_dir / "artifacts" / "feature_spec.md"
    before = spec.read_bytes()
    with (tmp_path / ".teambot" / "prompts" / "spec.md").open("a") as fh:
        fh.write("\nName every open question.\n")

    assert reasons(tmp_path) == {"SPEC": ["prompt template .teambot/prompts/spec.md changed"]}
    count = len(started(run_dir))
    proc = teambot("resume", "--rerun-stale", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert started(run_dir)[count:] == ["SPEC"]
    assert spec.read_bytes() == before
    kept = [e["stage"] for e in events(run_dir) if e["type"] == "stage_kept"]
    assert "SPEC_REVIEW" in kept and "PLAN" in kept and "COMPLETE" in kept
    report = status_json(tmp_path)
    assert report["status"] == "completed" and report["stale"] == []
    assert {s["status"] for s in report["stages"]} == {"succeeded"}
    assert not any(r["run_if_changed"] for r in state(run_dir)["stages"].values())


def test_a_deleted_artifact_is_reported_and_reruns_only_when_asked(project: Path, run_dir: Path) -> None:
    """research.md deleted after RESEARCH succeeded: status and resume name it; plain resume reruns nothing;
    --rerun-stale reruns RESEARCH alone (its dependents read the same file again)."""
    assert teambot("run", "objective.md", "-q", cwd=project).returncode == 0
    (run_dir / "artifacts" / "research.md").unlink()

    found = reasons(project)
    assert found["RESEARCH"] == ["artifact research.md missing"]
    assert found["PLAN"] == ["upstream artifact research.md missing"]
    assert "TEST_STRATEGY" not in found and "SPEC" not in found
    assert "RESEARCH: artifact research.md missing" in teambot("status", cwd=project).stdout
    count = len(started(run_dir))
    plain = teambot("resume", cwd=project)
    assert plain.returncode == 0 and "RESEARCH: artifact research.md missing" in plain.stdout
    assert len(started(run_dir)) == count and not (run_dir / "artifacts" / "research.md").exists()

    forced = teambot("resume", "--rerun-stale", cwd=project)
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert started(run_dir)[count:] == ["RESEARCH"]
    assert (run_dir / "artifacts" / "research.md").is_file() and reasons(project) == {}


def test_an_edited_artifact_is_stale_and_a_touched_one_is_not(project: Path, run_dir: Path) -> None:
    """Content decides: a new mtime with the same bytes is not a change; an edit is, and `teambot rerun` reruns it."""
    assert teambot("run", "objective.md", "-q", cwd=project).returncode == 0
    spec, plan = run_dir / "artifacts" / "feature_spec.md", run_dir / "artifacts" / "implementation_plan.md"
    os.utime(plan, ns=(plan.stat().st_atime_ns, plan.stat().st_mtime_ns + 5_000_000_000))
    assert reasons(project) == {}
    with spec.open("a") as fh:
        fh.write("\nA hand-written note.\n")

    found = reasons(project)
    assert found["SPEC"] == ["artifact feature_spec.md changed"]
    assert found["SPEC_REVIEW"] == ["upstream artifact feature_spec.md changed"]
    count = len(started(run_dir))
    assert teambot("rerun", "SPEC", cwd=project).returncode == 0
    assert teambot("resume", "-q", cwd=project).returncode == 0
    assert started(run_dir)[count] == "SPEC" and reasons(project) == {}


def test_a_stage_reading_a_deleted_artifact_says_so(project: Path, run_dir: Path) -> None:
    """PLAN failed; research.md is then deleted: resume names the missing artifact, and PLAN's attempt reports
    that its upstream artifact is missing (its prompt cannot show it) in the output and events.jsonl."""
    assert teambot("run", "objective.md", "-q", cwd=project, env={"TEAMBOT_DEMO_FAIL": "PLAN"}).returncode == 1
    (run_dir / "artifacts" / "research.md").unlink()
    proc = teambot("resume", cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "RESEARCH: artifact research.md missing" in proc.stdout
    assert "PLAN: upstream artifact research.md is missing" in proc.stdout
    missing = [(e["stage"], e["details"]["artifact"]) for e in events(run_dir) if e["type"] == "upstream_artifact_missing"]
    assert ("PLAN", "research.md") in missing


def test_a_run_from_an_older_teambot_is_not_stale_after_the_upgrade(tmp_path: Path) -> None:
    """The schema-2 fixture (no recorded inputs) shows no stale stage, even after its objective is edited:
    such stages are judged by their definition only; resume runs only the failed stage."""
    fixture = Path(__file__).resolve().parent / "fixtures" / "v2-run"
    project = tmp_path / "project"
    shutil.copytree(fixture / "project", project)
    run_dir = project / ".agent-tracking" / "v2-run"
    shutil.copytree(fixture / "run", run_dir)
    state_file = run_dir / "state.json"
    state_file.write_text(state_file.read_text().replace("/tmp/v2gen", str(project)))
    assert "inputs" not in json.loads(state_file.read_text())["stages"]["DRAFT"]
    assert reasons(project) == {}
    with (project / "objective.md").open("a") as fh:
        fh.write("\n- one more goal\n")
    assert reasons(project) == {}

    proc = teambot("resume", cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "stale" not in proc.stdout
    assert started(run_dir) == ["DRAFT", "FINISH", "FINISH"]
    assert state(run_dir)["stages"]["FINISH"]["inputs"] is not None  # recorded from now on
    assert reasons(project) == {}


def test_early_cutoff_survives_a_kill_and_teambot_rerun_overrides_it(tmp_path: Path) -> None:
    """`resume --rerun-stale` killed -9 while SPEC runs: the next resume still keeps SPEC's unchanged dependents,
    except those `teambot rerun PLAN` asked for, which run."""
    import signal

    from tests.helpers import start_teambot, wait_for

    assert teambot("init", cwd=tmp_path).returncode == 0
    git_commit_all(tmp_path)  # the default workflow's task stage needs a git repository
    assert teambot("run", "objective.md", "-q", cwd=tmp_path).returncode == 0
    run_dir = tmp_path / ".agent-tracking" / "todo-cli"
    with (tmp_path / ".teambot" / "prompts" / "spec.md").open("a") as fh:
        fh.write("\nName every open question.\n")
    count = len(started(run_dir))
    proc = start_teambot("resume", "--rerun-stale", "-q", cwd=tmp_path, env={"TEAMBOT_DEMO_DELAY_SPEC": "60"})
    try:
        assert wait_for(lambda: started(run_dir)[count:] == ["SPEC"], timeout=60)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    assert state(run_dir)["stages"]["SPEC_REVIEW"]["run_if_changed"] is True

    assert teambot("rerun", "PLAN", cwd=tmp_path).returncode == 0
    again = teambot("resume", "-q", cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    rerun = started(run_dir)[count + 1:]
    assert rerun[0] == "SPEC" and "PLAN" in rerun and "COMPLETE" in rerun
    assert not {"SPEC_REVIEW", "RESEARCH", "TEST_STRATEGY"} & set(rerun)
    kept = {e["stage"] for e in events(run_dir) if e["type"] == "stage_kept"}
    assert {"SPEC_REVIEW", "RESEARCH", "TEST_STRATEGY"} <= kept and "PLAN" not in kept
    assert status_json(tmp_path)["stale"] == []


def test_an_upstream_artifact_revised_by_a_later_stage_is_not_stale(tmp_path: Path) -> None:
    """B's agent rewrites A's a.md while B runs (as a review fixes the spec it reviews): after the run nothing
    is stale, and C recorded the revised a.md; an edit after the run is still reported."""
    argv = [sys.executable, str(FAKE_AGENT), "--count", str(tmp_path / "calls.txt"), "--write", "a.md=# A, revised by B\n"]
    project = small_project(tmp_path, agents={"b": {"argv": argv}})
    workflow = yaml.safe_load((project / "stages.yaml").read_text())
    del workflow["stages"]["D"]
    workflow["stage_order"].remove("D")
    (project / "stages.yaml").write_text(yaml.safe_dump(workflow, sort_keys=False))
    assert teambot("run", "objective.md", "-q", cwd=project).returncode == 0
    a_md = project / ".agent-tracking" / "prov" / "artifacts" / "a.md"
    assert a_md.read_text() == "# A, revised by B\n"
    assert reasons(project) == {}
    with a_md.open("a") as fh:
        fh.write("edited by hand\n")
    assert reasons(project) == {"A": ["artifact a.md changed"], "B": ["upstream artifact a.md changed"],
                                "C": ["upstream artifact a.md changed"]}


def test_status_compares_in_the_run_project_from_anywhere_and_notes_what_it_cannot_read(tmp_path: Path) -> None:
    """Status run from another directory still finds the run's templates (nothing stale); a broken teambot.yaml
    leaves agent settings uncompared, says so, and a template edit is still found."""
    (tmp_path / "p").mkdir()
    project = small_project(tmp_path / "p")
    assert teambot("run", "objective.md", "-q", cwd=project).returncode == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = teambot("status", "--json", "--workspace", str(project / ".agent-tracking"), cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["stale"] == []

    (project / "teambot.yaml").write_text("runtime: 42\n")
    (project / "prompts" / "a.md").write_text("Do A, carefully.\n")
    report = status_json(project)
    assert report["stale_reasons"] == {"A": ["prompt template prompts/a.md changed"]}
    assert any("teambot.yaml" in note and "not compared with agent settings" in note for note in report["notes"])
