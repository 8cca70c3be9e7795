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


def test_config_does_not_reach_into_the_engine() -> None:
    """config/ (stages.yaml) knows nothing of executing: no executor, session, kinds, runtimes, store or prompts."""
    engine = ("teambot.executor", "teambot.session", "teambot.kinds", "teambot.runtimes", "teambot.store", "teambot.prompts")
    for name, imports in _modules():
        if name.startswith("config/"):
            assert not [i for i in imports if i.startswith(engine)], name


def test_stage_kinds_are_reached_only_through_the_executor() -> None:
    """Only the executor, session and CLI use teambot.kinds (the review / acceptance / command stage kinds)."""
    for name, imports in _modules():
        if name.startswith(("kinds/", "cli/")) or name in ("executor.py", "session.py"):
            continue
        assert not [i for i in imports if i.startswith("teambot.kinds")], name


def test_only_the_git_module_runs_git() -> None:
    """teambot/git/repo.py is the one module that runs git: no other module names the `git` executable."""
    for path in SRC.rglob("*.py"):
        name = path.relative_to(SRC).as_posix()
        if name == "git/repo.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                # "git" or "/usr/bin/git": an argv[0] or a shutil.which() lookup
                assert Path(node.value).name not in ("git", "git.exe"), \
                    f"{name}:{node.lineno} runs git ({node.value!r}); use teambot.git.Repo"


def test_the_service_knows_nothing_of_the_cli() -> None:
    """service/ (what the CLI and an HTTP API both call) imports no cli/, console, click or rich."""
    names = [name for name, _ in _modules() if name.startswith("service/")]
    assert "service/runs.py" in names
    for name, imports in _modules():
        if name.startswith("service/"):
            found = [i for i in imports if i.split(".")[0] in ("click", "rich") or i.startswith(("teambot.cli", "teambot.console"))]
            assert not found, f"{name} imports {found}"


def test_help_imports_neither_pydantic_nor_the_service() -> None:
    """`teambot --help` loads no pydantic and no teambot.service: commands import them when they run."""
    import subprocess
    import sys

    check = ("import sys; from teambot.cli.main import main; main(['--help']); "
             "print('pydantic' in sys.modules, 'teambot.service' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60, cwd=SRC)
    assert proc.stdout.split()[-2:] == ["False", "False"], proc.stdout + proc.stderr


def test_executor_reaches_kinds_only_through_the_registry() -> None:
    """The executor imports the kind seam (base, context, registry), never a kind's own module."""
    seam = {"teambot.kinds.base", "teambot.kinds.context", "teambot.kinds.registry"}
    used = {i for i in _imports(SRC / "executor.py") if i.startswith("teambot.kinds")}
    assert used <= seam, f"executor.py imports {used - seam}"


def test_executor_does_not_dispatch_on_stage_kind_booleans() -> None:
    """No stage-kind field (is_review_stage, is_acceptance_test_stage, a stage's run) is read in the executor."""
    attributes = {"is_review_stage", "is_acceptance_test_stage", "is_command_stage", "requires_acceptance_tests_passed"}
    read = {node.attr for node in ast.walk(ast.parse((SRC / "executor.py").read_text(encoding="utf-8")))
            if isinstance(node, ast.Attribute) and node.attr in attributes}
    assert read == set(), f"executor.py reads {read}"
    assert "stage.run" not in (SRC / "executor.py").read_text(encoding="utf-8")


def test_markdown_it_loads_only_when_a_review_is_parsed() -> None:
    """Importing the executor (every run's start-up) does not import markdown-it; the verdict parser loads it on first use."""
    import subprocess
    import sys

    check = ("import sys, teambot.executor; print('markdown_it' in sys.modules); "
             "from teambot.verdict import parse_verdict; parse_verdict('VERDICT: APPROVED'); print('markdown_it' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60, cwd=SRC)
    assert proc.stdout.split() == ["False", "True"], proc.stdout + proc.stderr
