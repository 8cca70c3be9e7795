"""A log swapped for a symlink mid-run (os.replace by an agent) stops the run instead of losing lines."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.helpers import teambot

STAGES = "stages:\n  SPEC:\n    work_agent: ba\n    artifacts: [spec.md]\nstage_order: [SPEC]\n"

# The agent puts a symlink (to a file outside the project) in place of one of the run's logs,
# then does its work as usual.
AGENT = """import os, sys
target, outside = sys.argv[1], sys.argv[2]
os.symlink(outside, target + ".tmp")
os.replace(target + ".tmp", target)
open(os.path.join(os.environ["TEAMBOT_ARTIFACTS_DIR"], "spec.md"), "w").write("# Spec\\n")
print("done")
"""


@pytest.mark.parametrize("log", ["events.jsonl", "logs/SPEC.log"])
def test_a_log_swapped_for_a_symlink_stops_the_run(tmp_path: Path, log: str) -> None:
    """events.jsonl or the stage log replaced by a symlink mid-run: exit 2 naming it, nothing written outside."""
    project, outside = tmp_path / "project", tmp_path / "outside.txt"
    project.mkdir()
    outside.write_text("not teambot's\n")
    (project / "objective.md").write_text("---\nfeature: swap\n---\n# Swap\n\nWrite the spec.\n")
    (project / "stages.yaml").write_text(STAGES)
    (project / "agent.py").write_text(AGENT)
    run_dir = project / ".agent-tracking" / "swap"
    argv = [sys.executable, str(project / "agent.py"), str(run_dir / log), str(outside)]
    (project / "teambot.yaml").write_text(f"runtime: command\ncommand:\n  argv: {json.dumps(argv)}\n")
    proc = teambot("run", "objective.md", cwd=project, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert log.split("/")[-1] in proc.stderr and "symbolic link" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert outside.read_text() == "not teambot's\n"
