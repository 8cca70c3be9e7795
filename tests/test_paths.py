"""teambot.paths: where a stage's and a child's files go, and which child ids are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from teambot.errors import UsageError
from teambot.paths import RunPaths

HOSTILE = ["IMPLEMENTATION/..", "IMPLEMENTATION/.", "IMPLEMENTATION/a/b", "IMPLEMENTATION/../../../etc/passwd",
           "../IMPLEMENTATION/T1", "/T1", "IMPLEMENTATION/", "IMPLEMENTATION/T1\n", "IMPLEMENTATION/T\n1",
           "IMPLEMENTATION\n/T1", "IMPLEMENTATION/" + "T" * 300, "IMPLEMENTATION/-rf", "IMPLEMENTATION/.hidden",
           "IMPLEMENTATION/T1.lock", "IMPLEMENTATION/a..b", "IMPLEMENTATION/T1\u202e"]


@pytest.fixture
def paths(tmp_path: Path) -> RunPaths:
    return RunPaths(tmp_path, "f")


def test_stage_files_keep_their_names(paths: RunPaths) -> None:
    """A stage's output, log and prompt are outputs/<STAGE>.md, logs/<STAGE>.log, prompts/<STAGE>.md as before."""
    assert paths.output("PLAN") == paths.root / "outputs" / "PLAN.md"
    assert paths.log("PLAN") == paths.root / "logs" / "PLAN.log"
    assert paths.prompt("PLAN") == paths.root / "prompts" / "PLAN.md"


def test_child_files_live_in_a_folder_named_after_the_stage(paths: RunPaths) -> None:
    """Child IMPLEMENTATION/T1 maps to outputs/IMPLEMENTATION/T1.md, logs/..., prompts/..., children/IMPLEMENTATION/T1.json."""
    assert paths.output("IMPLEMENTATION/T1") == paths.root / "outputs" / "IMPLEMENTATION" / "T1.md"
    assert paths.log("IMPLEMENTATION/T1.2") == paths.root / "logs" / "IMPLEMENTATION" / "T1.2.log"
    assert paths.prompt("IMPLEMENTATION/build_api-v2") == paths.root / "prompts" / "IMPLEMENTATION" / "build_api-v2.md"
    assert paths.child_record("IMPLEMENTATION/T1") == paths.root / "children" / "IMPLEMENTATION" / "T1.json"


@pytest.mark.parametrize("child_id", HOSTILE)
@pytest.mark.parametrize("where", ["output", "log", "prompt", "child_record"])
def test_hostile_child_ids_are_refused(paths: RunPaths, child_id: str, where: str) -> None:
    """An id with '..', a separator, a control character, a git ref trap or 300 characters is a one-line UsageError."""
    with pytest.raises(UsageError, match="child id") as caught:
        getattr(paths, where)(child_id)
    assert "\n" not in caught.value.message
    assert len(caught.value.message) < 400


def test_every_accepted_child_path_stays_inside_its_folder(paths: RunPaths) -> None:
    """Accepted ids of every allowed character resolve to a file directly inside outputs/<STAGE>/."""
    for child in ("T1", "t", "9", "a.b", "a_b-c", "X" * 64):
        path = paths.output(f"S/{child}").resolve()
        assert path.parent == (paths.outputs / "S").resolve()
