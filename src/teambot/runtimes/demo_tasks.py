"""The demo runtime's task work: a tasks.yaml with a diamond of dependencies, and tasks that
write real code and tests into their worktrees, so merges and `verify` are real.

TEAMBOT_DEMO_CONFLICT=T2,T3 makes those tasks write the same line of `demo_shared.py` (a
conflict the resolve path then handles: the demo agent keeps both sides). TEAMBOT_DEMO_FAIL
takes task ids too.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from teambot.fsutil import atomic_write
from teambot.runtimes.base import StageRequest

_MARKER = re.compile(r"^(<{7}|={7}|>{7})( .*)?$")

DEMO_TASKS = """\
# Tasks for: {title} (demo runtime). T2 and T3 both build on T1; T4 needs both.
tasks:
  - id: T1
    title: Core module
    description: The module the other tasks build on.
    files: [demo_core.py]
  - id: T2
    title: Parser
    depends_on: [T1]
    files: [demo_parser.py]
  - id: T3
    title: Formatter
    depends_on: [T1]
    files: [demo_formatter.py]
  - id: T4
    title: Command-line entry point
    depends_on: [T2, T3]
    files: [demo_cli.py]
"""


def tasks_file(request: StageRequest) -> str:
    return DEMO_TASKS.format(title=request.objective_title.replace("\n", " "))


def conflict_tasks() -> set[str]:
    return {t.strip() for t in os.environ.get("TEAMBOT_DEMO_CONFLICT", "").split(",") if t.strip()}


def do_task(request: StageRequest) -> str:
    """Write the task's module and its unittest test into the worktree (or resolve conflicts there)."""
    root = Path(request.workdir)
    task = request.task or "task"
    if request.step == "resolve":
        fixed = [str(p.relative_to(root)) for p in _files(root) if _resolve(p)]
        return f"# {task}: resolved conflicts\n\nKept both sides in: {', '.join(fixed) or 'nothing'}\n"
    name = f"demo_{task.lower()}"
    atomic_write(root / f"{name}.py", f'"""{request.description} (task {task}, demo runtime)."""\n\n\n'
                                       f"def {name}():\n    return {task!r}\n", durable=False)
    tests = root / "tests"
    tests.mkdir(exist_ok=True)
    atomic_write(tests / f"test_{name}.py", "\n".join([
        f'"""Test of task {task} (demo runtime)."""', "", "import unittest", "", f"from {name} import {name}", "", "",
        f"class Test{task.capitalize()}(unittest.TestCase):", f"    def test_{name}(self):",
        f"        self.assertEqual({name}(), {task!r})", ""]), durable=False)
    if task in conflict_tasks():  # the same line in every conflicting task: a real merge conflict
        atomic_write(root / "demo_shared.py", f"OWNER = {task!r}\n", durable=False)
    return f"# {task}: {request.description}\n\nWrote {name}.py and tests/test_{name}.py.\n"


def _files(root: Path):
    for path in root.rglob("*"):
        if ".git" not in path.relative_to(root).parts and path.is_file():
            yield path


def _resolve(path: Path) -> bool:
    """Drop conflict markers, keeping both sides' lines (ours first). True when the file had some."""
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return False
    lines = text.splitlines(keepends=True)
    if not any(_MARKER.match(line.rstrip("\n")) for line in lines):
        return False
    kept, seen = [], set()
    for line in lines:
        if _MARKER.match(line.rstrip("\n")):
            continue
        if line.startswith("OWNER = "):  # the demo's conflicting line: one assignment that names both
            seen.add(line.split("=", 1)[1].strip())
            continue
        kept.append(line)
    if seen:
        kept.append(f"OWNER = {' + '.join(sorted(seen))}\n")
    atomic_write(path, "".join(kept), durable=False)
    return True
