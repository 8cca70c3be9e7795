"""Errors that carry the CLI's exit codes. Imports nothing from teambot (no import loops)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_LOCKED = 3
EXIT_WAITING = 4  # the run waits for a person's decision (teambot approve / reject / review)
EXIT_INTERRUPTED = 130


class TeambotError(Exception):
    """A known error: the CLI prints `message` (and `hint`) on one line each, no traceback."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(TeambotError):
    """Bad command-line usage (unknown feature, ambiguous resume, ...)."""

    exit_code = EXIT_BAD_INPUT



class StageNotWaitingError(UsageError):
    """The stage does not wait for this kind of decision (CLI exit 2, HTTP 409)."""


class AlreadyDecidedError(UsageError):
    """A decision on this wait is in the inbox already (CLI exit 2, HTTP 409)."""

class RunNotFoundError(UsageError):
    """No run of that name in the workspace (an HTTP layer answers 404)."""


class StageNotFoundError(UsageError):
    """No stage of that name in the run (an HTTP layer answers 404)."""


class FileNotServedError(UsageError):
    """A path outside the run directory (.., absolute, a symlink out), or no such file (HTTP 404)."""


class RunExistsError(UsageError):
    """A run of that name exists already (an HTTP layer answers 409)."""


class NotRunningError(UsageError):
    """The request needs a live process driving the run, and none does (an HTTP layer answers 409)."""


class ConfigError(TeambotError):
    """stages.yaml or teambot.yaml is invalid; `problems` lists every problem found."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, problems: list[str] | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.problems = list(problems or [])


class ObjectiveError(TeambotError):
    """The objective file is missing, empty or unreadable."""

    exit_code = EXIT_BAD_INPUT


class StateError(TeambotError):
    """state.json is corrupt, unreadable or from a newer teambot."""

    exit_code = EXIT_BAD_INPUT


class LockedError(TeambotError):
    """Another live process owns the run."""

    exit_code = EXIT_LOCKED


class DiskFullError(TeambotError):
    """The disk (or the user's quota) is full: `path` could not be written.

    Every write is atomic or append-only, so what was committed before stays consistent and
    the run resumes once there is room.
    """

    exit_code = EXIT_FAILED

    def __init__(self, path: object, reason: str = "No space left on device", then: str = "`teambot resume`") -> None:
        # One line: what could not be written, where, and what to do.
        super().__init__(f"{reason}: could not write {path}; free space, then {then}")
        self.path = str(path)
        self.reason = reason


class UnsafePathError(TeambotError):
    """A path teambot writes inside the run directory is a symlink or not a regular file/dir."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, path: object, what: str) -> None:
        super().__init__(f"{path} {what}; teambot writes only real files and directories inside the run directory",
                         hint="replace it with a real file or directory (move back what it points to if that is "
                              "work to keep), then run the command again")
        self.path = str(path)


class AgentError(Exception):
    """A stage's agent failed. A result, not a crash: the executor records the stage `failed`.

    `retryable` tells the executor whether another attempt may help.
    """

    retryable = True
    usage = None  # tokens the failed call still spent (a TokenUsage), counted in the stage's usage

    def __init__(self, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        if retryable is not None:
            self.retryable = retryable


class AgentTimeout(AgentError):
    """The agent did not finish within the stage's timeout."""


class StageBlocked(Exception):
    """A stage cannot go on without a person: its iterations ran out, or a gate refused it.

    Like AgentError a result, not a crash: the executor records the stage `blocked`, and the
    run ends blocked (exit 1). `report` is the file explaining it, `kind` what blocked it.
    """

    def __init__(self, message: str, *, kind: str, report: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind  # "iterations", "acceptance_gate" or "budget" (a spending limit, costs.py)
        self.report = report


class AwaitingPerson(Exception):
    """A stage's step waits for a person (a human reviewer). Like StageBlocked a result, not a
    crash: the executor records the stage `awaiting_review` and polls the run's inbox."""

    def __init__(self, message: str, *, iteration: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.iteration = iteration


class GitError(TeambotError):
    """A git command teambot ran failed: one line naming the command and the end of its stderr.

    `argv` is the command as run (after `git`), `returncode` its exit status (None when it
    could not start or timed out), `stderr` its full error output.
    """

    exit_code = EXIT_FAILED

    def __init__(self, command: str, reason: str, *, argv: tuple[str, ...] = (),
                 returncode: int | None = None, stderr: str = "", hint: str | None = None) -> None:
        super().__init__(f"`{command}` {reason}", hint)
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr
