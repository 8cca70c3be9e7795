"""Artifacts: only files written during the attempt count as produced."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.helpers import status_json, teambot

AGENT = '''
import os, pathlib, sys
sys.stdin.read()
if not os.environ.get("NOWRITE"):
    for name in ("a.md", "b.md"):
        pathlib.Path(os.environ["TEAMBOT_ARTIFACTS_DIR"], name).write_text(f"# {name}\\n")
print("done")
'''


def test_artifact_left_by_an_earlier_attempt_does_not_count(tmp_path: Path) -> None:
    """After `rerun`, an agent that writes nothing fails its stage even though old artifact files exist."""
    (tmp_path / "agent.py").write_text(AGENT)
    (tmp_path / "stages.yaml").write_text("stages:\n  TWO:\n    work_agent: pm\n    artifacts: [a.md, b.md]\nstage_order: [TWO]\n")
    (tmp_path / "teambot.yaml").write_text(f"runtime: command\ncommand:\n  argv: {json.dumps([sys.executable, 'agent.py'])}\n")
    (tmp_path / "obj.md").write_text("# Two artifacts\n")
    assert teambot("run", "obj.md", "-q", cwd=tmp_path).returncode == 0
    assert teambot("rerun", "TWO", cwd=tmp_path).returncode == 0
    proc = teambot("resume", "-q", cwd=tmp_path, env={"NOWRITE": "1"})
    assert proc.returncode == 1
    assert "declared artifact a.md was not produced in this attempt" in proc.stdout
    assert status_json(tmp_path)["stages"][0]["status"] == "failed"
