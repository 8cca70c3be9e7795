"""The command runtime: run an agent CLI (claude, codex, gemini, copilot, aider, ...) per stage.

argv only, never a shell; cwd is the project directory; the prompt goes on stdin or into the
file named by a `{prompt_file}` placeholder. The agent runs in its own session and process
group, reported through `request.on_spawn` and kept in `processes.live_groups`; on timeout,
cancellation or a failure the whole group gets SIGTERM, then SIGKILL after the grace period.
stdout is the stage output and, with stderr, streams to the stage's log as it arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from teambot import processes
from teambot.errors import AgentError
from teambot.redact import Redactor
from teambot.runtimes.base import StageRequest, StageResult
from teambot.runtimes.output import CHUNK, Capture, StageLog, artifact_stamps, claim_artifacts, decode_output


STDERR_TAIL_LINES = 3
POLL_SECONDS = 0.05
DRAIN_SECONDS = 1.0  # after the agent exits, how long its pipes may stay open before its group is ended


@dataclass(frozen=True)
class CommandSpec:
    """How to run one agent: argv with placeholders, where the prompt goes, limits."""

    argv: tuple[str, ...]
    prompt_via: str = "stdin"  # or "file": the {prompt_file} placeholder gets the prompt's path
    model: str | None = None
    output_cap: int = 10 * 1024 * 1024
    grace: float = 5.0
    origin: str = "command.argv"  # where the argv came from, for error messages


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
                with contextlib.suppress(OSError):
                    prompt_path.unlink()

    async def aclose(self) -> None:
        return None

    async def _run(self, request: StageRequest, prompt_path: Path | None) -> StageResult:
        argv = self._argv(request, prompt_path)
        env = _environment(request, prompt_path)
        program = self._resolve(argv[0], env, request.project_dir)
        log = StageLog(request.log_path, self.redact)
        try:
            return await self._spawn(request, argv, program, env, log)
        finally:
            log.close()

    async def _spawn(self, request: StageRequest, argv: list[str], program: str, env: dict[str, str],
                     log: StageLog) -> StageResult:
        before = artifact_stamps(request)
        log.note(f"attempt {request.attempt}: running {' '.join(argv)} (cwd {request.project_dir})")
        use_stdin = self.spec.prompt_via == "stdin"
        try:
            proc = await asyncio.create_subprocess_exec(
                program, *argv[1:], cwd=request.project_dir, env=env, start_new_session=True,
                stdin=asyncio.subprocess.PIPE if use_stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise AgentError(self.redact(f"cannot start agent command {argv[0]!r} ({self.spec.origin}): {exc.strerror or exc}"),
                             retryable=False) from None
        pgid = proc.pid  # start_new_session: the child leads its own session and process group
        processes.live_groups.add(pgid)
        out, err = Capture(self.spec.output_cap, log, "stdout"), Capture(self.spec.output_cap, log, "stderr")
        try:
            if request.on_spawn is not None:
                request.on_spawn(pgid)
            code = await self._communicate(proc, pgid, out, err, request.prompt.encode("utf-8") if use_stdin else None, log)
        except BaseException:  # timeout, cancellation, a failed commit: no orphans either way
            log.note("stopping the agent's process group")
            await self._stop(proc, pgid)
            raise
        finally:
            processes.live_groups.discard(pgid)
        text, invalid = decode_output(out.data)
        if invalid:
            log.note(f"stdout was not valid UTF-8: {invalid} invalid byte(s) replaced with U+FFFD")
        if out.dropped:
            log.note(f"stdout cut at {self.spec.output_cap:,} bytes; {out.dropped:,} more bytes dropped")
            text += f"\n\n[teambot: output cut at {self.spec.output_cap:,} bytes; {out.dropped:,} more bytes were dropped]\n"
        log.note(f"agent exited with code {code}")
        if code != 0:
            raise AgentError(self._failure(argv[0], code, err, request))
        text = self.redact(text)
        return StageResult(output=text, artifacts=claim_artifacts(request, before, text))

    async def _communicate(self, proc, pgid: int, out: Capture, err: Capture, stdin: bytes | None, log: StageLog) -> int:
        tasks = [asyncio.ensure_future(_pump(proc.stdout, out)), asyncio.ensure_future(_pump(proc.stderr, err))]
        feeder = asyncio.ensure_future(_feed(proc.stdin, stdin)) if stdin is not None else None
        try:
            code = await _exited(proc)
            # A background child that inherited our pipes must not keep the stage open.
            _, pending = await asyncio.wait(tasks, timeout=DRAIN_SECONDS)
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
        """SIGTERM the group, SIGKILL whatever is left after the grace period."""
        loop = asyncio.get_running_loop()
        try:
            if processes.group_members(pgid):
                processes.kill_group(pgid, signal.SIGTERM)
                deadline = loop.time() + self.spec.grace
                while processes.group_members(pgid) and loop.time() < deadline:
                    await asyncio.sleep(POLL_SECONDS)
        finally:  # also when a second cancellation cuts the wait short
            if processes.group_members(pgid):
                processes.kill_group(pgid, signal.SIGKILL)
        with contextlib.suppress(asyncio.TimeoutError, ProcessLookupError):
            await asyncio.wait_for(_exited(proc), 2.0)

    def _argv(self, request: StageRequest, prompt_path: Path | None) -> list[str]:
        values = {
            "prompt_file": str(prompt_path) if prompt_path else "", "model": self.spec.model or "",
            "run_dir": str(request.run_dir), "artifacts_dir": str(request.artifacts_dir),
            "project_dir": str(request.project_dir), "stage": request.stage, "agent": request.agent or "",
            "feature": request.feature,
        }
        if not self.spec.model and any("{model}" in arg for arg in self.spec.argv):
            raise AgentError(f"{self.spec.origin} uses {{model}} but no model is configured for agent {request.agent}",
                             retryable=False)
        pattern = re.compile(r"\{(" + "|".join(values) + r")\}")
        return [pattern.sub(lambda m: values[m.group(1)], arg) for arg in self.spec.argv]

    def _resolve(self, program: str, env: dict[str, str], project_dir: Path) -> str:
        if os.sep in program:
            path = project_dir / program
            if path.is_file() and os.access(path, os.X_OK):
                return str(path)
            raise AgentError(f"agent command {program!r} ({self.spec.origin}) does not exist or is not executable",
                             retryable=False)
        found = shutil.which(program, path=env.get("PATH", os.defpath))
        if found is None:
            raise AgentError(f"agent command {program!r} ({self.spec.origin}) was not found on PATH; "
                             "install it, or set command.argv / agents.<id>.argv in teambot.yaml", retryable=False)
        return found

    def _failure(self, program: str, code: int, err: Capture, request: StageRequest) -> str:
        """One line: what happened, the end of stderr, where the whole log is."""
        what = f"exited with code {code}" if code >= 0 else f"was killed by signal {_signal_name(-code)}"
        tail = " | ".join(err.tail(STDERR_TAIL_LINES))
        detail = f"; stderr ends: {tail}" if tail else "; it wrote nothing to stderr"
        path = request.log_path
        where = os.path.relpath(path, request.project_dir) if path.is_relative_to(request.project_dir) else path
        return self.redact(f"agent command {program!r} {what}{detail} (log: {where})")


async def _exited(proc) -> int:
    """The agent's exit code, as soon as it has exited.

    Not `proc.wait()` alone: asyncio (3.11) resolves it only once every pipe is closed too,
    and a background child of the agent may hold stdout open for as long as it likes.
    """
    waiter = asyncio.ensure_future(proc.wait())
    try:
        while not waiter.done() and proc.returncode is None:
            await asyncio.wait([waiter], timeout=POLL_SECONDS)
    finally:
        if not waiter.done():
            waiter.cancel()
    return proc.returncode if proc.returncode is not None else waiter.result()


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
    """The prompt, for `{prompt_file}`: in the run directory, where agents are allowed to read."""
    folder = request.run_dir / "prompts"
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{request.stage}.", suffix=".input.md", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(request.prompt)
    return Path(name)


def _environment(request: StageRequest, prompt_path: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        TEAMBOT_FEATURE=request.feature, TEAMBOT_STAGE=request.stage, TEAMBOT_AGENT=request.agent or "",
        TEAMBOT_ARTIFACTS_DIR=str(request.artifacts_dir), TEAMBOT_RUN_DIR=str(request.run_dir),
        TEAMBOT_ATTEMPT=str(request.attempt),
    )
    if prompt_path is not None:
        env["TEAMBOT_PROMPT_FILE"] = str(prompt_path)
    return env


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)
