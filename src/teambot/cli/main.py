"""Entry point: the click group, the one error boundary, and the command registry.

Command modules import only click at module level; heavy modules (pydantic, rich,
transitions) load inside the command that needs them, so `teambot --help` stays fast.
"""

from __future__ import annotations

import datetime as _dt
import os
import sys
import tempfile
import traceback
from pathlib import Path

import click

from teambot import __version__
from teambot.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, ConfigError, TeambotError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="teambot")
@click.option("--debug", is_flag=True, help="Show Python tracebacks for unexpected errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Run a team of AI coding agents through a staged workflow that never loses work."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def _register() -> None:
    from teambot.cli import approve, clean, doctor, graph, init, rerun, resume, run, serve, skip, status, unblock, validate

    for module in (init, run, resume, status, rerun, skip, unblock, validate, graph, doctor, clean, serve):
        cli.add_command(module.command)
    for command in approve.commands:
        cli.add_command(command)


def _print_error(err: TeambotError) -> None:
    click.echo(f"error: {err.message}", err=True)
    if isinstance(err, ConfigError):
        for problem in err.problems:
            click.echo(f"  {problem}", err=True)
    if err.hint:
        click.echo(f"hint: {err.hint}", err=True)


def _write_crash_log() -> Path:
    from teambot.cli import common

    known = common.crash_dir
    base = known if known is not None and known.is_dir() else Path(tempfile.gettempdir())
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = base / f"teambot-crash-{stamp}-{os.getpid()}.log"
    with path.open("x", encoding="utf-8") as fh:  # "x": never through a symlink planted at that name
        fh.write(f"teambot {__version__}\nargv: {sys.argv!r}\n\n{traceback.format_exc()}")
    return path


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code; every error is turned into one message here."""
    from teambot.signals import interrupt_on_stop_signals

    interrupt_on_stop_signals()  # SIGTERM, SIGHUP, SIGQUIT, ... behave like Ctrl-C: exit 130
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        _register()
        result = cli.main(args=argv, prog_name="teambot", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        return EXIT_BAD_INPUT if exc.exit_code == 2 else int(exc.exit_code)
    except TeambotError as err:
        if debug:
            traceback.print_exc()
        _print_error(err)
        return err.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except Exception as exc:  # the boundary: anything unexpected becomes one line + a log
        from teambot.fsutil import disk_full_error

        full = disk_full_error(exc)
        if full is not None:  # a write no one mapped: still the user's disk, not a teambot bug
            _print_error(full)
            return full.exit_code
        if debug:
            traceback.print_exc()
        try:
            log = _write_crash_log()
            where = f"; details in {log}"
        except OSError:
            where = ""
        click.echo(f"error: unexpected {type(exc).__name__}: {exc}{where}", err=True)
        click.echo("hint: this is a teambot bug; please report it with the log (rerun with --debug to see the traceback)", err=True)
        return EXIT_FAILED
    return int(result or 0)
