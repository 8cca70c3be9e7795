"""`teambot status` through the real CLI: what it prints and the exit code it ends with."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.helpers import teambot


def _run_without_stages(tmp_path: Path) -> Path:
    """A finished one-stage run whose state.json was then emptied of stages and whose stages file is gone."""
    (tmp_path / "stages.yaml").write_text(yaml.safe_dump({"stages": {"ONLY": {"work_agent": "pm"}}, "stage_order": ["ONLY"]}))
    (tmp_path / "objective.md").write_text("# Empty\n\n## Goals\n- nothing\n")
    proc = teambot("run", "objective.md", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    state_file = tmp_path / ".agent-tracking" / "objective" / "state.json"
    data = json.loads(state_file.read_text())
    data["stages"] = {}
    state_file.write_text(json.dumps(data))
    (tmp_path / "stages.yaml").unlink()
    return state_file


def test_status_json_of_a_run_without_stages_prints_no_report(tmp_path: Path) -> None:
    """`status --json` on a run with no stages exits 2 with one error line and no JSON on stdout."""
    state_file = _run_without_stages(tmp_path)
    proc = teambot("status", "--json", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert f"{state_file}: run 'objective' has no stages" in proc.stderr


def test_status_text_of_a_run_without_stages_prints_no_report(tmp_path: Path) -> None:
    """Plain `status` on a run with no stages exits 2 without first printing a report."""
    _run_without_stages(tmp_path)
    proc = teambot("status", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == "" and "has no stages" in proc.stderr
