"""Fixtures for stages.yaml tests: a valid small workflow, a file writer, a CLI runner."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import teambot

UPSTREAM_FIXTURE = Path("/work/shared/fixtures/upstream-teambot-stages.yaml")


def base_config() -> dict[str, Any]:
    """A small valid workflow: A, then B and C side by side, then D, then E."""
    return {
        "stages": {
            "A": {"work_agent": "pm"},
            "B": {"work_agent": "builder-1", "artifacts": ["b.md"]},
            "C": {"work_agent": "builder-2", "artifacts": ["c.md"]},
            "D": {"work_agent": "pm", "review_agent": "reviewer", "is_review_stage": True},
            "E": {},
        },
        "stage_order": ["A", "B", "C", "D", "E"],
        "parallel_groups": {"side": {"after": "A", "stages": ["B", "C"], "before": "D"}},
        "work_to_review_mapping": {"C": "D"},
    }


@pytest.fixture
def write_stages(tmp_path: Path) -> Callable[[Any], Path]:
    """Write a stages file (a dict is dumped as block YAML, a str/bytes is written as is)."""

    def write(content: Any, name: str = "stages.yaml") -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
        return path

    return write


def validate(path: Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`teambot validate PATH` in a subprocess (cwd: the file's directory)."""
    return teambot("validate", str(path), cwd=cwd or path.parent, timeout=60)


def rejected(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Assert exit 2, no traceback and every needle in the output; return the output."""
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "Traceback" not in out, out
    for needle in needles:
        assert needle in out, f"{needle!r} not in:\n{out}"
    return out


def line_of(path: Path, needle: str, nth: int = 1) -> int:
    """The 1-based line number of the nth line of `path` containing `needle`."""
    hits = [i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in line]
    return hits[nth - 1]
