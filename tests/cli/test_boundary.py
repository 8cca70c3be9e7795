"""The CLI's one error boundary: known errors are one line, unexpected ones leave a crash log."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from teambot.cli import common
from teambot.cli.main import cli, main
from teambot.errors import ConfigError


@pytest.fixture
def boom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A throwaway command that raises what the test asks for; crash logs go to tmp_path."""
    monkeypatch.setattr(common, "crash_dir", tmp_path)
    raised: list[BaseException] = []

    @click.command("boom")
    def command() -> int:
        raise raised[0]

    cli.add_command(command)
    yield raised
    cli.commands.pop("boom", None)


def test_unexpected_error_prints_one_line_and_writes_a_crash_log(boom, tmp_path: Path, capsys) -> None:
    """An unexpected exception exits 1 with one line naming a crash log that holds the traceback."""
    boom.append(ZeroDivisionError("division by zero"))
    assert main(["boom"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "unexpected ZeroDivisionError: division by zero" in err
    [log] = list(tmp_path.glob("teambot-crash-*.log"))
    assert str(log) in err
    assert "Traceback" in log.read_text() and "ZeroDivisionError" in log.read_text()


def test_known_error_prints_message_problems_and_hint(boom, capsys) -> None:
    """A TeambotError prints its message, each problem and its hint, with its own exit code."""
    boom.append(ConfigError("stages.yaml: 2 problems", problems=["a: bad", "b: worse"], hint="fix them"))
    assert main(["boom"]) == 2
    assert capsys.readouterr().err.splitlines() == ["error: stages.yaml: 2 problems", "  a: bad", "  b: worse", "hint: fix them"]


def test_debug_shows_the_traceback(boom, capsys) -> None:
    """--debug prints the traceback of an unexpected error."""
    boom.append(KeyError("x"))
    assert main(["--debug", "boom"]) == 1
    assert "Traceback" in capsys.readouterr().err
