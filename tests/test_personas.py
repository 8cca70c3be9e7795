"""Personas are read at every attempt; an unchanged file is served from memory, any change is seen."""

from __future__ import annotations

import os
import time
from pathlib import Path

from teambot.prompts import personas
from teambot.prompts.personas import load_persona


def _age(path: Path, seconds: float = 60.0) -> int:
    """Set the file's mtime `seconds` back (older than the racy window); returns it (ns)."""
    past = os.stat(path).st_mtime_ns - int(seconds * 1e9)
    os.utime(path, ns=(past, past))
    return past


def test_an_edit_that_keeps_size_and_mtime_is_still_seen(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(personas, "RACY_NS", 0)  # (setting the mtime back moves the ctime to now)
    folder = tmp_path / "agents"
    folder.mkdir()
    path = folder / "pm.agent.md"
    path.write_text("---\nname: pm\n---\nYou are the PM.\n")
    mtime = _age(path)
    assert load_persona(folder, "pm") == "You are the PM."
    assert str(path) in personas._READ  # kept: it is older than the racy window
    time.sleep(0.05)  # past the clock tick of the file times
    path.write_text("---\nname: pm\n---\nYou are the PO.\n")  # same size
    os.utime(path, ns=(mtime, mtime))  # and the same mtime: only its ctime moved
    assert load_persona(folder, "pm") == "You are the PO."


def test_a_young_file_is_read_every_time_and_a_removed_one_falls_back(tmp_path: Path) -> None:
    folder = tmp_path / "agents"
    folder.mkdir()
    path = folder / "builder-1.agent.md"
    path.write_text("Mine.\n")
    assert load_persona(folder, "builder-1") == "Mine."
    assert str(path) not in personas._READ  # changed less than RACY_NS ago: not kept
    path.write_text("Also mine.\n")
    assert load_persona(folder, "builder-1") == "Also mine."
    path.unlink()
    packaged = load_persona(folder, "builder-1")  # teambot's own persona for that id
    assert packaged and "Mine" not in packaged
    assert load_persona(folder, "nobody") is None
