"""The command runtime: run an agent CLI (claude, codex, gemini, copilot, aider, ...) per stage.

argv only, never a shell; cwd is the project directory; the prompt goes on stdin or into the
file named by a `{prompt_file}` placeholder (in a private temporary directory outside the
workspace, removed after the attempt). The agent runs in its own session and process
group, reported through `request.on_spawn` and kept in `processes.live_groups`; on timeout,
cancellation or a failure the whole group gets SIGTERM, then SIGKILL after the grace period.
stdout is the stage output (for a CLI printing JSON, the answer in it, with its usage:
runtimes/usage.py) and, with stderr, streams to the stage's log as it arrives. argv
is logged with the values of secret-looking flags (`--api-key VALUE`) and credentials
(`Bearer X`) masked.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from teambot import processes
from teambot.crashpoints import crash_point
from teambot.errors import AgentError
from teambot.redact import Redactor
from teambot.runtimes.argv import mask_argv, resolve_program
from teambot.runtimes.base import StageRequest, StageResult
from teambot.runtimes.output import CHUNK, TAIL_LINES, Capture, StageLog, artifact_stamps, claim_artifacts

STDERR_TAIL_LINES = 3
POLL_SECONDS = processes.POLL_SECONDS
REAP_WAIT = 30.0  # after its group is empty, how long the agent may take to be reaped
DRAIN_SECONDS = 1.0  # after the agent exits, how long its pipes may stay open before its group is ended


@dataclass(frozen=True)
class CommandSpec:
    """How to run one agent: argv with placeholders, where the prompt goes, limits."""

    argv: tuple[str, ...]
    prompt_via: str = "stdin"  # or "file": the {prompt_file} placeholder gets the prompt's path; "none"
    model: str | None = None
    output_cap: int = 10 * 1024 * 1024
    grace: float = 5.0
    origin: str = "command.argv"  # where the argv came from, for error messages
    label: str = "agent command"  # what the messages call it ("command" for a command stage)
    values: tuple[tuple[str, str], ...] = ()  # more placeholders ({junit} for acceptance commands)
    report: str | None = None  # stdout's machine-readable format with the answer and usage (runtimes/usage.py)


@dataclass(frozen=True)
class Completed:
    """A process that ran to its end: exit code (negative: killed by that signal) and output."""

    code: int
    stdout: str
    stderr_tail: list[str]  # its last non-blank lines (up to output.TAIL_LINES)
    message: str  # one line for a failure: what happened, the end of stderr, where the log is
    truncated: bool = False  # stdout went past the output cap: `stdout` holds only its start


class CommandRuntime:
    """Runs `spec.argv` once per attempt (see the module docstring for the contract)."""

    name = "command"

    def __init__(self, spec: CommandSpec, redactor: Callable[[str], str] | None = None) -> None:
        self.spec = spec
        self.redact = redactor or Redactor()

    async def run(self, request: StageRequest) -> StageResult:
        prompt_path = None
        if any("{prompt_file}" in arg for arg in self.spec.argv):
            prompt_path = _write_prompt(request)
        try:
            return await self._run(request, prompt_path)
        finally:
            if prompt_path is not None:
                shutil.rmtree(prompt_path.parent, ignore_errors=True)

    async def aclose(self) -> None:
        return None

    async def _run(self, request: StageRequest, prompt_path: Path | None) -> StageResult:
        before = artifact_stamps(request)
        done = await self.execute(request, prompt_path)
        reported = None
        if self.spec.report is not None and not done.truncated:  # a cut output is no whole JSON document
            from teambot.runtimes.usage import read

            reported = read(self.spec.report, done.stdout, self.spec.model)
        if done.code != 0:
            error = AgentError(done.message)
            error.usage = reported.usage if reported else None  # a failed call still cost its tokens
            raise error
        text = self.redact(reported.text) if reported else self.redact(done.stdout)
        cut = (f"the agent's output exceeded the {self.spec.output_cap:,}-byte cap; raise command.output_cap_bytes "
               "in teambot.yaml (or have the agent write its result to a file)") if done.truncated else None
        artifacts = claim_artifacts(request, before, text, cut=cut)
        return StageResult(output=text, artifacts=artifacts, truncated=done.truncated,
                           usage=reported.usage if reported else None)

    async def execute(self, request: StageRequest, prompt_path: Path | None = None) -> Completed:
        """Run the argv once to its end (a non-zero exit is returned, not raised)."""
        argv = self.argv_for(request, prompt_path)
        env = _environment(request, prompt_path)
        program = resolve_program(argv[0], env.get("PATH", os.defpath), request.workdir, self.spec.origin,
                                  self.spec.label)
        log = StageLog(request.log_path, self.redact)
        try:
            done = await self._spawn(request, argv, program, env, log)
        except BaseException:
            log.close(check=False)  # the error in flight is the one to report
            raise
        log.close()
        return done

    async def _spawn(self, request: StageRequest, argv: list[str], program: str, env: dict[str, str],
                     log: StageLog) -> Completed:
        step = f" {request.step} step of iteration {request.iteration}" if request.kind != "plain" else ""
        log.note(f"attempt {request.attempt}{step}: running {' '.join(mask_argv(argv))} (cwd {request.workdir})")
        use_stdin = self.spec.prompt_via == "stdin"
        try:
            proc = await asyncio.create_subprocess_exec(
                program, *argv[1:], cwd=request.workdir, env=env, start_new_session=True,
                stdin=asyncio.subprocess.PIPE if use_stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise AgentError(self.redact(f"cannot start {self.spec.label} {argv[0]!r} ({self.spec.origin}): {exc.strerror or exc}"),
                             retryable=False) from None
        pgid = proc.pid  # start_new_session: the child leads its own session and process group
        processes.live_groups.add(pgid)
        # stderr only feeds the log and the failure message's tail: nothing of it is kept in memory
        out, err = Capture(self.spec.output_cap, log, "stdout"), Capture(self.spec.output_cap, log, "stderr", keep_data=False)
        try:
            crash_point("spawned", request.stage)  # tests: killed before the group is recorded
            if request.on_spawn is not None:
                request.on_spawn(pgid)
            code = await self._communicate(proc, pgid, out, err, request.prompt.encode("utf-8") if use_stdin else None, log)
        except BaseException:  # timeout, cancellation, a failed commit: no orphans either way
            log.note("stopping the agent's process group")
            await self._stop(proc, pgid)
            raise
        finally:
            processes.live_groups.discard(pgid)
            # however the attempt ended (a second cancellation included), before the pipes are drained:
            # an escaped process may hold them open
            await _to_the_end(self._sweep(request, log))
            await _discard_rest(proc)
            _close(proc)
        text = out.text()
        if out.invalid:
            log.note(f"stdout was not valid UTF-8: {out.invalid} invalid byte(s) replaced with U+FFFD")
        if out.dropped:
            log.note(f"stdout cut at {self.spec.output_cap:,} bytes; {out.received:,} bytes were written in all")
            text += f"\n\n[teambot: output cut at {self.spec.output_cap:,} bytes; {out.received:,} bytes were written in all]\n"
        log.note(f"{'agent' if self.spec.label == 'agent command' else self.spec.label} exited with code {code}")
        message = self._failure(argv[0], code, err, request) if code != 0 else ""
        return Completed(code=code, stdout=text, stderr_tail=err.tail(TAIL_LINES), message=message,
                         truncated=bool(out.dropped))

    async def _sweep(self, request: StageRequest, log: StageLog) -> None:
        """End the attempt's processes that left its group (setsid, a daemon): they carry its
        markers, and nothing this attempt started may write into the run after it."""
        escaped = [g for g in await asyncio.to_thread(processes.run_agents, request.run_dir, request.stage)
                   if g not in processes.live_groups]
        if escaped:
            log.note(f"processes of this stage left the agent's process group; ending group(s) {', '.join(map(str, escaped))}")
            await asyncio.to_thread(processes.end_groups, escaped, self.spec.grace)

    async def _communicate(self, proc, pgid: int, out: Capture, err: Capture, stdin: bytes | None, log: StageLog) -> int:
        tasks = [asyncio.ensure_future(_pump(proc.stdout, out)), asyncio.ensure_future(_pump(proc.stderr, err))]
        feeder = asyncio.ensure_future(_feed(proc.stdin, stdin)) if stdin is not None else None
        try:
            code = await _exited(proc, tasks)
            # A background child that inherited our pipes must not keep the stage open.
            _, pending = await asyncio.wait(tasks, timeout=DRAIN_SECONDS)
            _raise_failed(tasks)
            if pending or processes.group_members(pgid):
                log.note("the agent exited but left processes in its group; ending them")
                await self._stop(proc, pgid)
                await asyncio.wait(tasks, timeout=1.0)
            return code
        finally:
            for task in [*tasks, feeder]:
                if task is not None and not task.done():
                    task.cancel()
            await asyncio.gather(*[t for t in (*tasks, feeder) if t is not None], return_exceptions=True)

    async def _stop(self, proc, pgid: int) -> None:
        """SIGTERM the group, SIGKILL whatever is left after the grace period, wait until it is empty."""
        try:
            if processes.group_members(pgid):
                processes.kill_group(pgid, signal.SIGTERM)
                await _until_empty(pgid, self.spec.grace)
        finally:  # also when a second cancellation cuts the wait short
            if processes.group_members(pgid):
                processes.kill_group(pgid, signal.SIGKILL)
        # Not only the leader: a grandchild still dying after SIGKILL must not outlive the stage.
        await _until_empty(pgid, processes.KILL_WAIT)
        # Reaped before the attempt returns: a child reaped after the event loop closed makes
        # asyncio print "Loop ... that handles pid N is closed" (a busy machine reaps late).
        with contextlib.suppress(asyncio.TimeoutError, ProcessLookupError):
            await asyncio.wait_for(_exited(proc), REAP_WAIT)

    def argv_for(self, request: StageRequest, prompt_path: Path | None) -> list[str]:
        values = {
            "prompt_file": str(prompt_path) if prompt_path else "", "model": self.spec.model or "",
            "run_dir": str(request.run_dir), "artifacts_dir": str(request.artifacts_dir),
            "project_dir": str(request.project_dir), "stage": request.stage, "agent": request.agent or "",
            "feature": request.feature, "python": sys.executable, **dict(self.spec.values),
        }
        if not self.spec.model and any("{model}" in arg for arg in self.spec.argv):
            raise AgentError(f"{self.spec.origin} uses {{model}} but no model is configured for agent {request.agent}",
                             retryable=False)
        pattern = re.compile(r"\{(" + "|".join(values) + r")\}")
        return [pattern.sub(lambda m: values[m.group(1)], arg) for arg in self.spec.argv]

    def _failure(self, program: str, code: int, err: Capture, request: StageRequest) -> str:
        """One line: what happened, the end of stderr, where the whole log is."""
        what = f"exited with code {code}" if code >= 0 else f"was killed by signal {_signal_name(-code)}"
        tail = " | ".join(err.tail(STDERR_TAIL_LINES))
        detail = f"; stderr ends: {tail}" if tail else "; it wrote nothing to stderr"
        path = request.log_path
        where = os.path.relpath(path, request.project_dir) if path.is_relative_to(request.project_dir) else path
        return self.redact(f"{self.spec.label} {program!r} {what}{detail} (log: {where})")


async def _exited(proc, pumps: Sequence[asyncio.Future] = ()) -> int:
    """The agent's exit code, as soon as it has exited.

    Not `proc.wait()` alone: asyncio (3.11) resolves it only once every pipe is closed too,
    and a background child of the agent may hold stdout open for as long as it likes. A pump
    that failed (its log could not be written: a full disk) raises its error at once: nothing
    reads that pipe any more, so the agent would block on it.
    """
    waiter = asyncio.ensure_future(proc.wait())
    try:
        while not waiter.done() and proc.returncode is None:
            await asyncio.wait([waiter], timeout=POLL_SECONDS)
            _raise_failed(pumps)
    finally:
        if not waiter.done():
            waiter.cancel()
    return proc.returncode if proc.returncode is not None else waiter.result()


def _raise_failed(pumps: Sequence[asyncio.Future]) -> None:
    for pump in pumps:
        if pump.done() and not pump.cancelled() and pump.exception() is not None:
            raise pump.exception()


async def _to_the_end(work: Awaitable[None]) -> None:
    """Await `work` to its end even if this task is cancelled meanwhile; then re-raise the cancellation."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done() and task.cancelled():
                break
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    if not task.cancelled():
        task.result()


def _close(proc) -> None:
    """Close the process's transport while the event loop runs (asyncio has no public way): one
    left to the garbage collector after the loop closed prints "Event loop is closed" tracebacks."""
    transport = getattr(proc, "_transport", None)
    if transport is not None:
        with contextlib.suppress(Exception):
            transport.close()


async def _discard_rest(proc) -> None:
    """Read what is left in the pipes of a stopped agent, so they reach EOF and close (a pipe
    whose pump stopped early is never closed, and asyncio warns about it at exit)."""
    for stream in (proc.stdout, proc.stderr):
        with contextlib.suppress(Exception):
            await asyncio.wait_for(stream.read(), 1.0)


async def _until_empty(pgid: int, seconds: float) -> bool:
    """Poll until group `pgid` has no live member or `seconds` have passed; True if it is empty."""
    deadline = asyncio.get_running_loop().time() + seconds
    while processes.group_members(pgid):
        if asyncio.get_running_loop().time() >= deadline:
            return False
        await asyncio.sleep(POLL_SECONDS)
    return True


async def _pump(stream: asyncio.StreamReader, capture: Capture) -> None:
    while chunk := await stream.read(CHUNK):
        capture.feed(chunk)
    capture.finish()


async def _feed(stdin: asyncio.StreamWriter, data: bytes) -> None:
    """Write the prompt and close stdin; an agent that exits without reading it is fine."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        stdin.write(data)
        await stdin.drain()
    with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError):
        stdin.close()
        await stdin.wait_closed()


def _write_prompt(request: StageRequest) -> Path:
    """The prompt, for `{prompt_file}`, in a new private directory (0700, the file 0600).

    Not in the run directory: the prompt is not redacted (the agent needs all of it), and a
    file there would outlive a SIGKILLed teambot inside the workspace. The system temporary
    directory is also one that agent CLIs may read by default (Copilot CLI does). The caller
    removes the directory after the attempt.
    """
    folder = tempfile.mkdtemp(prefix="teambot-prompt-")
    try:
        fd, name = tempfile.mkstemp(prefix=f"{request.stage}.", suffix=".md", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(request.prompt)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return Path(name)


def _environment(request: StageRequest, prompt_path: Path | None) -> dict[str, str]:
    from teambot.git.repo import without_git_redirects

    env = without_git_redirects(os.environ)
    env.update(
        TEAMBOT_FEATURE=request.feature, TEAMBOT_STAGE=request.stage, TEAMBOT_AGENT=request.agent or "",
        TEAMBOT_ARTIFACTS_DIR=str(request.artifacts_dir), TEAMBOT_RUN_DIR=str(request.run_dir),
        TEAMBOT_ATTEMPT=str(request.attempt), TEAMBOT_STEP=request.step, TEAMBOT_ITERATION=str(request.iteration),
    )
    if prompt_path is not None:
        env["TEAMBOT_PROMPT_FILE"] = str(prompt_path)
    if request.task is not None:
        env.update(TEAMBOT_TASK=request.task, TEAMBOT_WORKTREE=str(request.workdir))
    return env


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)
