"""The signals that stop teambot, and what each phase of a process does with them.

Every catchable signal whose default action ends a process (SIGHUP when the terminal closes,
SIGINT, SIGQUIT, SIGTERM, SIGUSR1, real-time signals, ...) is a request to stop, so none can
end teambot before it has ended its agents. A signal ignored when teambot started (`nohup`,
a background job) stays ignored. Three phases:

1. start-up (`exit_on_stop_signals`, the first thing `python -m teambot` does, before the heavy
   imports): nothing is held yet, so exit 130 at once;
2. inside the CLI's error boundary (`interrupt_on_stop_signals`): raise KeyboardInterrupt once,
   which the boundary turns into "interrupted", exit 130 (the executor replaces this with its
   own handler while stages run);
3. once the exit code is known (`block_stop_signals`): a late signal cannot interrupt the exit.

Standard library only: this module runs before anything else is imported.
"""

from __future__ import annotations

import os
import stat

# The C module, not `signal`: `signal` imports enum, and until the handlers are installed a
# signal still ends teambot with a traceback or -15; this shortens that window by ~10-30 ms.
import _signal as signal

EXIT_INTERRUPTED = 130  # = errors.EXIT_INTERRUPTED, not imported: errors is not needed this early
HANGUP = getattr(signal, "SIGHUP", None)

_NAMES = ("SIGHUP", "SIGINT", "SIGQUIT", "SIGTERM", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGVTALRM", "SIGPROF",
          "SIGXCPU", "SIGPOLL", "SIGPWR", "SIGSTKFLT")
_ignored_at_start: frozenset[int] | None = None
_interrupting = False


def stop_signals() -> list[int]:
    """The signals teambot treats as "stop", minus those that were ignored when it started."""
    global _ignored_at_start
    found = [getattr(signal, name) for name in _NAMES if hasattr(signal, name)]
    if hasattr(signal, "SIGRTMIN"):  # Linux: real-time signals end a process by default too
        found += range(signal.SIGRTMIN, signal.SIGRTMAX + 1)
    if _ignored_at_start is None:
        _ignored_at_start = frozenset(s for s in found if signal.getsignal(s) == signal.SIG_IGN)
    return [s for s in found if s not in _ignored_at_start]


def drop_dead_terminal(signum: int) -> None:
    """After SIGHUP from a closed terminal every write to it fails (EIO): point stdin, stdout and
    stderr that were on it at /dev/null, so the last messages cannot break the shutdown.

    A hung-up terminal no longer answers as a tty; a live one (a plain `kill -HUP`) is kept.
    """
    if signum != HANGUP:
        return
    for fd in (0, 1, 2):
        try:
            if not stat.S_ISCHR(os.fstat(fd).st_mode) or os.isatty(fd):
                continue
            devnull = os.open(os.devnull, os.O_RDWR)
        except OSError:
            continue
        os.dup2(devnull, fd)
        os.close(devnull)


def _exit_now(signum: int, frame: object) -> None:
    drop_dead_terminal(signum)
    try:
        os.write(2, b"interrupted\n")
    except OSError:
        pass
    os._exit(EXIT_INTERRUPTED)


def _interrupt(signum: int, frame: object) -> None:
    global _interrupting
    drop_dead_terminal(signum)
    if _interrupting:  # already on its way out through the boundary: raising again could escape it
        return
    _interrupting = True
    raise KeyboardInterrupt


def exit_on_stop_signals() -> None:
    """Phase 1, start-up: a stop signal exits 130 at once (nothing is held yet)."""
    for signum in stop_signals():
        signal.signal(signum, _exit_now)


def interrupt_on_stop_signals() -> None:
    """Phase 2, inside the CLI's error boundary: a stop signal raises KeyboardInterrupt (once)."""
    global _interrupting
    _interrupting = False
    for signum in stop_signals():
        signal.signal(signum, _interrupt)


def block_stop_signals() -> None:
    """Phase 3, the exit code is known: hold every stop signal until the process has exited."""
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals())
