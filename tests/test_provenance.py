"""provenance.py: agent settings as inputs, the cheap artifact check, and how changes are named."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from teambot.lifecycle import StageStatus
from teambot.paths import RunPaths
from teambot.provenance import ABSENT, agent_call, artifact_digest, input_changes, own_artifact_problems, stamps
from teambot.settings import Settings
from teambot.store.models import StageRecord


def _settings(**data) -> Settings:
    return Settings.model_validate(data)


def test_agent_call_follows_the_router_choice_of_runtime_model_and_command() -> None:
    """The agent's own argv or preset wins over command's; --runtime overrides; openai's model and endpoint count."""
    settings = _settings(runtime="command", command={"preset": "claude"},
                         agents={"pm": {"argv": ["my-agent", "--fast"], "model": "m1"}, "ba": {"runtime": "openai"}},
                         openai={"model": "gpt-x", "base_url": "http://localhost:9/v1"})
    pm, other, ba = (agent_call(settings, None, a) for a in ("pm", "writer", "ba"))
    assert pm["runtime"] == "command" and "my-agent" in pm["command"] and pm["model"] == "m1"
    assert "claude" in other["command"] and "my-agent" not in other["command"] and other["model"] == ""
    assert ba == {"runtime": "openai", "model": "gpt-x", "command": "http://localhost:9/v1"}
    assert agent_call(settings, "demo", "pm") == {"runtime": "demo", "model": "m1", "command": ""}


def test_agent_call_never_holds_an_environment_value(monkeypatch) -> None:
    """The API key's variable is named in teambot.yaml; its value never becomes an input."""
    monkeypatch.setenv("MY_KEY", "sk-secret-value-123")
    settings = _settings(runtime="openai", openai={"model": "m", "api_key_env": "MY_KEY"})
    assert "sk-secret-value-123" not in repr(agent_call(settings, None, "pm"))


def _produced(tmp_path: Path, text: bytes = b"# plan\n") -> tuple[RunPaths, StageRecord, Path]:
    paths = RunPaths(tmp_path, "feat")
    paths.artifacts.mkdir(parents=True)
    path = paths.artifacts / "plan.md"
    path.write_bytes(text)
    hashes = {"plan.md": hashlib.sha256(text).hexdigest()}
    record = StageRecord(name="PLAN", status=StageStatus.SUCCEEDED, artifacts=hashes, artifact_stamps=stamps(paths, hashes))
    return paths, record, path


def test_an_artifact_is_rehashed_only_when_its_size_or_mtime_changed(tmp_path: Path) -> None:
    """Same size and mtime: the recorded hash is taken unread; a new mtime alone rehashes and finds the same bytes."""
    paths, record, path = _produced(tmp_path)
    info = path.stat()
    path.write_bytes(b"# PLAN\n")  # same size, different bytes, then the old mtime back: not looked at
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert artifact_digest(paths, "plan.md", record) == record.artifacts["plan.md"]
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 10**9))
    assert artifact_digest(paths, "plan.md", record) == hashlib.sha256(b"# PLAN\n").hexdigest()
    assert own_artifact_problems(record, paths) == ["artifact plan.md changed"]


def test_a_touched_artifact_is_not_changed_and_a_missing_one_is_absent(tmp_path: Path) -> None:
    """A new mtime over the same bytes is no problem; a deleted file, or a directory in its place, is missing."""
    paths, record, path = _produced(tmp_path)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert own_artifact_problems(record, paths) == []
    path.unlink()
    assert artifact_digest(paths, "plan.md", record) == ABSENT
    path.mkdir()
    assert own_artifact_problems(record, paths) == ["artifact plan.md missing"]


def test_an_artifact_recorded_without_a_stamp_is_only_checked_to_exist(tmp_path: Path) -> None:
    """A record of an older teambot has hashes but no stamps: an edit is not reported (no rehash on every
    status), a deletion is."""
    paths, record, path = _produced(tmp_path)
    old = record.model_copy(update={"artifact_stamps": {}})
    path.write_bytes(b"edited by hand\n")
    assert own_artifact_problems(old, paths) == []
    path.unlink()
    assert own_artifact_problems(old, paths) == ["artifact plan.md missing"]


def test_only_inputs_known_on_both_sides_are_compared() -> None:
    """An input added or dropped (regrouping changes the artifacts a stage is given) is no change; a value is."""
    recorded = {"objective": "1", "template:p.md": "2", "persona:pm": "3", "artifact:a.md": "4", "agent:pm:model": "5",
                "artifact:gone.md": "6"}
    current = {"objective": "9", "template:p.md": "9", "persona:pm": "9", "artifact:a.md": ABSENT, "agent:pm:model": "9",
               "artifact:new.md": "7"}
    assert input_changes(recorded, current) == ["objective changed", "prompt template p.md changed", "persona pm changed",
                                                "upstream artifact a.md missing", "model changed (agent pm)"]
    assert input_changes(recorded, {k: v for k, v in recorded.items() if k != "artifact:gone.md"}) == []
