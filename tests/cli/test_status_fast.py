"""`status` with the stage plans cached by the stages file's bytes: the answer of a full load, always."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from teambot.cli.status import dumps
from tests.helpers import teambot

STAGES = {"stages": {"PLAN": {"work_agent": "pm", "artifacts": ["plan.md"]}, "BUILD": {"work_agent": "builder-1"},
                     "CHECK": {"work_agent": "pm", "include_objective": False}},
          "stage_order": ["PLAN", "BUILD", "CHECK"]}


@pytest.fixture
def finished(tmp_path: Path) -> Path:
    """A project whose three-stage demo run `fast` finished."""
    (tmp_path / "stages.yaml").write_text(yaml.safe_dump(STAGES))
    (tmp_path / "objective.md").write_text("# Fast\n\n## Goals\n- three stages\n")
    proc = teambot("run", "objective.md", "-q", "--feature", "fast", "--runtime", "demo", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tmp_path


def _status(project: Path, cache: Path, *args: str) -> str:
    proc = teambot("status", "fast", *args, cwd=project, env={"XDG_CACHE_HOME": str(cache)})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _entries(cache: Path) -> list[Path]:
    return sorted((cache / "teambot" / "stages").glob("*.json"))


def test_an_edited_stage_definition_is_stale_alike_with_a_cold_and_a_warm_cache(finished: Path, tmp_path_factory) -> None:
    """After BUILD's definition changes, the status that loads the file and the ones that reuse its plans print the same JSON and text."""
    edited = json.loads(json.dumps(STAGES))
    edited["stages"]["BUILD"]["description"] = "build it differently"
    (finished / "stages.yaml").write_text(yaml.safe_dump(edited))
    cache = tmp_path_factory.mktemp("cache")
    cold = _status(finished, cache, "--json")
    [entry] = _entries(cache)
    written = entry.stat()
    warm = _status(finished, cache, "--json")
    assert warm == cold
    again = entry.stat()
    assert (again.st_ino, again.st_mtime_ns) == (written.st_ino, written.st_mtime_ns)  # a hit: not loaded and written again
    report = json.loads(warm)
    assert report["stale"] == ["BUILD"] and report["stale_reasons"] == {"BUILD": ["definition changed"]}
    assert _status(finished, cache) == _status(finished, tmp_path_factory.mktemp("empty"))  # the table too
    assert "BUILD" in _status(finished, cache) and "[stale]" in _status(finished, cache)


def test_an_edited_objective_is_stale_alike_with_a_cold_and_a_warm_cache(finished: Path, tmp_path_factory) -> None:
    """An edited objective makes the stages that include it stale, whether the plans come from the cache or from the file."""
    cache = tmp_path_factory.mktemp("cache")
    assert json.loads(_status(finished, cache, "--json"))["stale"] == []
    (finished / "objective.md").write_text("# Fast\n\n## Goals\n- three stages, edited\n")
    warm = _status(finished, cache, "--json")
    assert warm == _status(finished, tmp_path_factory.mktemp("cold"), "--json")
    report = json.loads(warm)
    assert report["stale"] == ["PLAN", "BUILD"]
    assert report["stale_reasons"] == {"PLAN": ["objective changed"], "BUILD": ["objective changed"]}


def test_a_damaged_cache_entry_is_a_miss(finished: Path, tmp_path_factory) -> None:
    """A cache entry that is garbage, or holds another key, is a miss: the file is loaded again, with the same answer."""
    cache = tmp_path_factory.mktemp("cache")
    first = _status(finished, cache, "--json")
    [entry] = _entries(cache)
    entry.write_bytes(b"{not json")
    assert _status(finished, cache, "--json") == first
    data = json.loads(entry.read_bytes())  # written again by the miss
    data["key"] = "0" * 64
    entry.write_text(json.dumps(data))
    assert _status(finished, cache, "--json") == first


def test_a_stages_file_changed_back_and_forth_gives_each_version_its_answer(finished: Path, tmp_path_factory) -> None:
    """Each version of the stages file has its own entry: going back to the original makes nothing stale again."""
    cache = tmp_path_factory.mktemp("cache")
    original = (finished / "stages.yaml").read_bytes()
    assert json.loads(_status(finished, cache, "--json"))["stale"] == []
    edited = json.loads(json.dumps(STAGES))
    edited["stages"]["CHECK"]["description"] = "check more"
    (finished / "stages.yaml").write_text(yaml.safe_dump(edited))
    assert json.loads(_status(finished, cache, "--json"))["stale"] == ["CHECK"]
    (finished / "stages.yaml").write_bytes(original)
    assert json.loads(_status(finished, cache, "--json"))["stale"] == []
    assert len(_entries(cache)) == 2


_LEAVES = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
_VALUES = st.recursive(_LEAVES, lambda inner: st.lists(inner) | st.tuples(inner, inner) | st.dictionaries(st.text(), inner)
                       | st.dictionaries(st.integers() | st.none(), inner), max_leaves=30)


@settings(max_examples=400, deadline=None)
@given(_VALUES)
def test_the_report_writer_writes_what_json_dumps_writes(value: object) -> None:
    """`status --json`'s writer gives json.dumps(value, indent=2) character for character (NaN, odd keys and all)."""
    assert dumps(value) == json.dumps(value, indent=2)
