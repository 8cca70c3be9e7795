"""Import directions that keep the layers honest (STYLE: imports run one way)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "teambot"


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _modules():
    for path in SRC.rglob("*.py"):
        yield path.relative_to(SRC).as_posix(), _imports(path)


def test_nothing_below_the_cli_imports_it() -> None:
    """Only the CLI (and __main__) import teambot.cli; only the CLI imports the console."""
    for name, imports in _modules():
        if name.startswith("cli/") or name == "__main__.py":
            continue
        assert not any(i.startswith("teambot.cli") for i in imports), name
        if name != "console.py":
            assert "teambot.console" not in imports, name


def test_rich_only_in_console() -> None:
    """console.py is the only module that imports rich."""
    for name, imports in _modules():
        if any(i == "rich" or i.startswith("rich.") for i in imports):
            assert name == "console.py", name


def test_errors_imports_nothing_from_teambot() -> None:
    """errors.py imports nothing from the package, so it can never be part of an import loop."""
    assert not any(i.startswith("teambot") for i in _imports(SRC / "errors.py"))


def test_engine_does_not_import_runtimes_concretely() -> None:
    """The executor and scheduler know runtimes only through the protocol in runtimes/base.py."""
    for name in ("executor.py", "scheduler.py", "graph.py", "lifecycle.py"):
        concrete = {i for i in _imports(SRC / name) if i.startswith("teambot.runtimes.") and i != "teambot.runtimes.base"}
        assert not concrete, f"{name} imports {concrete}"
