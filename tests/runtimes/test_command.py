"""The command runtime, driven through its async API with the fake agent CLI as the agent."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import signal
import sys
import tempfile
import threading
import time

import psutil
import pytest

from teambot import processes
from teambot.errors import AgentError
from teambot.redact import Redactor
from teambot.runtimes import command, output
from teambot.runtimes.argv import mask_argv
from teambot.runtimes.command import CommandRuntime, CommandSpec
from teambot.runtimes.output import Capture

from tests.runtimes.conftest import SECRET


def runtime(argv, **spec) -> CommandRuntime:
    spec.setdefault("grace", 0.3)
    return CommandRuntime(CommandSpec(argv=tuple(argv), **spec))


def invocations(path) -> list[str]:
    return path.read_text().split("\n")[:-1] if path.exists() else []


def survivors(pgid: int, pids=()) -> list[int]:
    """Live (non-zombie) processes that are in group `pgid` or among `pids`."""
    alive = []
    for proc in psutil.process_iter(["pid", "status"]):
        if proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        try:
            if os.getpgid(proc.pid) == pgid or proc.pid in pids:
                alive.append(proc.pid)
        except ProcessLookupError:
            continue
    return alive


def pids_in(path) -> set[int]:
    return {int(line) for line in path.read_text().split()} if path.exists() else set()


async def test_stdout_becomes_output_and_the_single_artifact(make_request, fake_argv, tmp_path):
    """A successful agent's stdout is the output and, as it wrote no artifact, the one declared artifact."""
    count = tmp_path / "count.txt"
    result = await runtime(fake_argv("--count", str(count))).run(make_request())
    assert "prompt began with: Write the spec." in result.output
    artifact = result.artifacts["spec.md"]
    assert artifact.read_text() == result.output
    assert [line.split()[0] for line in invocations(count)] == ["SPEC"]


async def test_environment_names_the_stage(make_request, fake_argv):
    """The agent sees TEAMBOT_FEATURE/STAGE/AGENT/ARTIFACTS_DIR/RUN_DIR and runs in the project directory."""
    names = ["TEAMBOT_FEATURE", "TEAMBOT_STAGE", "TEAMBOT_AGENT", "TEAMBOT_ARTIFACTS_DIR", "TEAMBOT_RUN_DIR", "PWD"]
    request = make_request()
    flags = [f for name in names[:-1] for f in ("--print-env", name)]
    result = await runtime(fake_argv(*flags)).run(request)
    assert "TEAMBOT_FEATURE=feat\n" in result.output
    assert "TEAMBOT_STAGE=SPEC\n" in result.output
    assert "TEAMBOT_AGENT=ba\n" in result.output
    assert f"TEAMBOT_ARTIFACTS_DIR={request.artifacts_dir}\n" in result.output
    assert f"TEAMBOT_RUN_DIR={request.run_dir}\n" in result.output


def test_a_request_works_in_the_project_directory_by_default(make_request):
    """A StageRequest without a workdir has the project directory as its working directory."""
    request = make_request()
    assert request.workdir == request.project_dir


async def test_the_agent_runs_in_the_requests_workdir(make_request, tmp_path):
    """The agent's working directory is the request's workdir (a task's worktree), not the project directory."""
    workdir = tmp_path / "worktree"
    workdir.mkdir()
    request = dataclasses.replace(make_request(artifacts=()), workdir=workdir)
    argv = (sys.executable, "-c", "import os, sys; sys.stdin.read(); print(os.getcwd())")
    result = await runtime(argv).run(request)
    assert result.output.strip() == str(workdir.resolve())
    assert f"(cwd {workdir})" in request.log_path.read_text()


async def test_output_streams_to_the_log(make_request, fake_argv):
    """stdout and stderr are in the stage log, with teambot's own notes."""
    request = make_request()
    await runtime(fake_argv("--stderr", "a warning on stderr")).run(request)
    log = request.log_path.read_text()
    assert "prompt began with: Write the spec." in log
    assert "[stderr] a warning on stderr" in log
    assert "[teambot] agent exited with code 0" in log


async def test_log_is_written_while_the_agent_runs(make_request, fake_argv):
    """A line the agent prints is in the log before the agent exits."""
    request = make_request()
    task = asyncio.ensure_future(runtime(fake_argv("--hang")).run(request))
    try:
        for _ in range(100):
            await asyncio.sleep(0.05)
            if request.log_path.exists() and "working..." in request.log_path.read_text():
                break
        assert "working..." in request.log_path.read_text()
        assert not task.done()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """The system temporary directory, for this test: a fresh folder beside (not in) the project."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


async def test_prompt_file_placeholder(make_request, fake_argv, private_tmp):
    """{prompt_file} is a 0600 file in a 0700 temporary directory outside the workspace, removed after the attempt."""
    request = make_request(prompt="Prompt through a file.")
    argv = fake_argv("--prompt-file", "{prompt_file}", "--print-argv", "--print-modes", "--print-env", "TEAMBOT_PROMPT_FILE")
    result = await runtime(argv, prompt_via="file").run(request)
    assert "prompt began with: Prompt through a file." in result.output
    assert "file mode 600\n" in result.output and "dir mode 700\n" in result.output
    path = result.output.split("--prompt-file ")[1].split()[0]
    assert f"TEAMBOT_PROMPT_FILE={path}\n" in result.output
    assert path.startswith(str(private_tmp)) and not path.startswith(str(request.project_dir))
    assert list(private_tmp.iterdir()) == []
    assert not (request.run_dir / "prompts").exists()


async def test_prompt_file_removed_after_a_failed_or_cancelled_attempt(make_request, fake_argv, private_tmp):
    """The prompt's temporary directory is removed when the agent fails and when the stage is cancelled."""
    with pytest.raises(AgentError):
        await runtime(fake_argv("--prompt-file", "{prompt_file}", "--exit", "2"), prompt_via="file").run(make_request())
    assert list(private_tmp.iterdir()) == []
    task = asyncio.ensure_future(runtime(fake_argv("--prompt-file", "{prompt_file}", "--hang"), prompt_via="file").run(make_request("PLAN")))
    while not list(private_tmp.iterdir()):
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert list(private_tmp.iterdir()) == []


def test_mask_argv_hides_values_of_secret_flags():
    """Values after --*key*/--*token*/--*secret*/--*password* flags (either form, any case) become ***."""
    argv = ["agent", "--api-key", "v1", "--Auth-Token=v2", "-p", "text", "--DB_PASSWORD", "v3", "--client-secret=",
            "--model", "m", "--secret"]
    assert mask_argv(argv) == ["agent", "--api-key", "***", "--Auth-Token=***", "-p", "text", "--DB_PASSWORD", "***",
                               "--client-secret=***", "--model", "m", "--secret"]


def test_mask_argv_hides_auth_headers_cookies_and_credentials():
    """Values of auth/header/cookie/credential flags, and whatever follows Bearer/Basic or an Authorization: header, become ***."""
    argv = ["curl", "--auth-header=Bearer abcdefgh12345678", "-H", "Authorization: Bearer zyxwvuts98765432",
            "--cookie", "sid=s3cr3t-value", "--credentials=user:pw-12345678", "--data", "token Basic dXNlcjpwYXNz",
            "--model", "m", "-HX-Api-Key: k-1234567890"]
    assert mask_argv(argv) == ["curl", "--auth-header=***", "-H", "Authorization: ***", "--cookie", "***",
                               "--credentials=***", "--data", "token Basic ***", "--model", "m", "-HX-Api-Key: ***"]


async def test_credential_flag_values_stay_out_of_the_log(make_request, fake_argv):
    """`--auth-header=Bearer ...` and `-H "Authorization: Bearer ..."` are masked in the stage log's `running` line."""
    request = make_request()
    argv = fake_argv("--auth-header=Bearer abcdefgh12345678", "-H", "Authorization: Bearer zyxwvuts98765432")
    await runtime(argv).run(request)
    log = request.log_path.read_text()
    assert "--auth-header=*** -H Authorization: ***" in log
    assert "abcdefgh" not in log and "zyxwvuts" not in log


async def test_secret_flag_values_stay_out_of_the_log(make_request, fake_argv):
    """A literal key in argv is masked in the `running ...` line of the stage log; the agent still gets it."""
    request = make_request()
    argv = fake_argv("--api-key", "LITERAL-key-111", "--Auth-Token=LITERAL-token-222", "--db-password", "LITERAL-pw-333")
    await runtime(argv).run(request)
    log = request.log_path.read_text()
    assert "running " in log and "--api-key *** --Auth-Token=*** --db-password ***" in log
    assert "LITERAL" not in log


async def test_placeholders_in_argv(make_request, fake_argv):
    """{stage}, {agent}, {feature} and {model} are substituted inside argv elements."""
    result = await runtime(fake_argv("--print-argv", "--stderr=s-{stage}-{agent}-{feature}-{model}"), model="m1").run(make_request())
    assert "--stderr=s-SPEC-ba-feat-m1" in result.output


async def test_model_placeholder_without_model_fails(make_request, fake_argv):
    """argv using {model} with no model configured fails at once, without running anything."""
    with pytest.raises(AgentError, match=r"\{model\}") as err:
        await runtime(fake_argv("--model", "{model}")).run(make_request())
    assert err.value.retryable is False


async def test_artifact_written_by_the_agent_counts(make_request, fake_argv):
    """When the agent writes the declared artifact, that file is the artifact, not stdout."""
    result = await runtime(fake_argv("--write", "spec.md=# My spec")).run(make_request())
    assert result.artifacts["spec.md"].read_text() == "# My spec"
    assert "prompt began with" in result.output


async def test_stale_artifact_is_replaced_by_output(make_request, fake_argv):
    """An artifact left by an earlier attempt, untouched by this one, gets this attempt's output."""
    request = make_request()
    (request.artifacts_dir / "spec.md").write_text("old attempt")
    result = await runtime(fake_argv()).run(request)
    assert (request.artifacts_dir / "spec.md").read_text() == result.output


async def test_several_artifacts_are_not_invented(make_request, fake_argv):
    """With two declared artifacts and none written, nothing is written for the agent."""
    request = make_request(artifacts=("a.md", "b.md"))
    result = await runtime(fake_argv("--write", "a.md")).run(request)
    assert set(result.artifacts) == {"a.md"}
    assert not (request.artifacts_dir / "b.md").exists()


async def test_nonzero_exit_reports_code_and_stderr(make_request, fake_argv, tmp_path):
    """A nonzero exit is an AgentError naming the exit code and the last stderr lines."""
    count = tmp_path / "count.txt"
    with pytest.raises(AgentError) as err:
        await runtime(fake_argv("--count", str(count), "--exit", "7", "--stderr", "line one\\nthe real reason")).run(make_request())
    assert "exited with code 7" in err.value.message
    assert "the real reason" in err.value.message
    assert err.value.retryable is True
    assert len(invocations(count)) == 1


async def test_missing_executable(make_request):
    """An argv[0] that is not on PATH fails with a non-retryable error naming it."""
    with pytest.raises(AgentError, match="no-such-agent-cli") as err:
        await runtime(["no-such-agent-cli", "-p"]).run(make_request())
    assert err.value.retryable is False
    assert "PATH" in err.value.message


async def test_missing_relative_executable(make_request):
    """A path argv[0] that does not exist fails with a non-retryable error naming it."""
    with pytest.raises(AgentError, match=r"\./bin/agent") as err:
        await runtime(["./bin/agent"]).run(make_request())
    assert err.value.retryable is False


async def test_timeout_ends_the_whole_group(make_request, fake_argv, tmp_path):
    """On timeout the agent and its children (ignoring SIGTERM) are killed: no orphans, group unregistered."""
    pid_file = tmp_path / "pids"
    spawned = []
    request = make_request(on_spawn=spawned.append)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(runtime(fake_argv("--hang", "--child", "--ignore-term", "--pid-file", str(pid_file))).run(request), 0.8)
    assert time.monotonic() - started < 3.0
    assert len(spawned) == 1
    assert len(pids_in(pid_file)) == 2  # the agent and its grandchild
    assert survivors(spawned[0], pids_in(pid_file)) == []
    assert spawned[0] not in processes.live_groups
    assert "stopping the agent's process group" in request.log_path.read_text()


async def test_stop_waits_for_a_slow_dying_grandchild(make_request, fake_argv, tmp_path, monkeypatch):
    """After SIGKILL the stage waits until the whole group is gone, not only the agent it started."""
    real_kill = processes.kill_group

    def slow_kill(pgid: int, sig: int = signal.SIGKILL) -> bool:
        if sig != signal.SIGKILL:
            return real_kill(pgid, sig)
        os.kill(pgid, signal.SIGKILL)  # the leader dies at once, the grandchild only 0.5 s later
        threading.Timer(0.5, real_kill, (pgid, signal.SIGKILL)).start()
        return True

    monkeypatch.setattr(processes, "kill_group", slow_kill)
    pid_file = tmp_path / "pids"
    spawned = []
    agent = runtime(fake_argv("--hang", "--child", "--ignore-term", "--pid-file", str(pid_file)))
    task = asyncio.ensure_future(agent.run(make_request(on_spawn=spawned.append)))
    while len(pids_in(pid_file)) < 2:
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert processes.group_members(spawned[0]) == 0


async def test_cancel_ends_the_group_and_reraises(make_request, fake_argv, tmp_path):
    """Cancelling the stage re-raises CancelledError after SIGTERM has ended agent and child."""
    pid_file = tmp_path / "pids"
    spawned = []
    task = asyncio.ensure_future(runtime(fake_argv("--hang", "--child", "--pid-file", str(pid_file))).run(make_request(on_spawn=spawned.append)))
    while len(pids_in(pid_file)) < 2:
        await asyncio.sleep(0.05)
    assert spawned[0] in processes.live_groups
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert survivors(spawned[0], pids_in(pid_file)) == []
    assert spawned[0] not in processes.live_groups


async def test_background_child_does_not_hold_the_stage(make_request, fake_argv, tmp_path):
    """An agent that exits 0 leaving a child with our stdout open succeeds promptly; the child is ended."""
    pid_file = tmp_path / "pids"
    spawned = []
    started = time.monotonic()
    result = await runtime(fake_argv("--daemon-child", "--pid-file", str(pid_file))).run(make_request(on_spawn=spawned.append))
    assert time.monotonic() - started < 4.0
    assert "prompt began with" in result.output
    assert survivors(spawned[0], pids_in(pid_file)) == []


async def test_output_cap(make_request, fake_argv):
    """Output beyond the cap is dropped with a note in the output and the log; the log stays bounded."""
    request = make_request(artifacts=(), step="review")
    result = await runtime(fake_argv("--flood", str(400 * 1024)), output_cap=64 * 1024).run(request)
    assert result.output.count("x") <= 64 * 1024
    assert "[teambot: output cut at 65,536 bytes" in result.output
    log = request.log_path.read_text()
    assert "stdout reached the 65,536 byte cap" in log
    assert len(log) < 80 * 1024


async def test_stderr_flood_is_logged_up_to_the_cap_but_not_kept(make_request, fake_argv, monkeypatch):
    """A flood on stderr is logged up to the cap and not held in memory; the failure still quotes its end."""
    captures: list[Capture] = []

    class Recording(Capture):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            captures.append(self)

    monkeypatch.setattr(command, "Capture", Recording)
    request = make_request()
    with pytest.raises(AgentError, match="stderr ends: .*the last stderr line"):
        await runtime(fake_argv("--flood-stderr", str(512 * 1024), "--exit", "1"), output_cap=1024 * 1024).run(request)
    stderr = next(c for c in captures if c.stream == "stderr")
    assert stderr.seen > 512 * 1024 and stderr.data == bytearray()
    assert next(c for c in captures if c.stream == "stdout").data  # stdout is still kept: it is the output
    assert "[stderr] the last stderr line" in request.log_path.read_text()


async def test_invalid_utf8_is_replaced_and_logged(make_request, fake_argv):
    """Invalid UTF-8 in stdout becomes U+FFFD in the output and a note in the log, never a crash."""
    request = make_request()
    result = await runtime(fake_argv("--invalid-utf8")).run(request)
    assert "before \ufffd" in result.output and "after" in result.output
    assert "not valid UTF-8" in request.log_path.read_text()


async def test_a_cut_output_is_marked_truncated(make_request, fake_argv):
    """A review step's result whose stdout went past the cap says so (truncated); a whole one does not."""
    cut = await runtime(fake_argv("--flood", str(200 * 1024)), output_cap=64 * 1024).run(
        make_request(artifacts=(), step="review"))
    whole = await runtime(fake_argv("--flood", str(32 * 1024)), output_cap=64 * 1024).run(make_request("PLAN", artifacts=()))
    assert cut.truncated and "[teambot: output cut at 65,536 bytes" in cut.output
    assert not whole.truncated and "[teambot: output cut" not in whole.output


async def test_a_cut_output_never_becomes_the_artifact(make_request, fake_argv):
    """stdout cut at the cap fails the attempt, naming the cap and the setting, instead of writing a cut artifact."""
    request = make_request()
    with pytest.raises(AgentError) as err:
        await runtime(fake_argv("--flood", str(200 * 1024)), output_cap=64 * 1024).run(request)
    assert "exceeded the 65,536-byte cap" in err.value.message and "command.output_cap_bytes" in err.value.message
    assert "spec.md" in err.value.message and "\n" not in err.value.message
    assert not (request.artifacts_dir / "spec.md").exists()


async def test_a_cut_output_fails_a_work_step_without_artifacts(make_request, fake_argv):
    """A work step declaring no artifact fails when stdout was cut (its output is the work), naming the cap and setting."""
    with pytest.raises(AgentError) as err:
        await runtime(fake_argv("--flood", str(200 * 1024)), output_cap=64 * 1024).run(make_request("PLAN", artifacts=()))
    assert "the stage's output was cut short" in err.value.message
    assert "exceeded the 65,536-byte cap" in err.value.message and "command.output_cap_bytes" in err.value.message


async def test_an_artifact_the_agent_wrote_counts_though_stdout_was_cut(make_request, fake_argv):
    """The cap only refuses a cut stdout as the artifact: a file the agent wrote itself is taken."""
    request = make_request()
    result = await runtime(fake_argv("--write", "spec.md=the real spec", "--flood", str(200 * 1024)),
                           output_cap=64 * 1024).run(request)
    assert result.truncated
    assert result.artifacts["spec.md"].read_text() == "the real spec"


async def test_invalid_bytes_count_against_the_cap_after_decoding(make_request, fake_argv):
    """The cap bounds the decoded output: invalid bytes become 3-byte U+FFFD, and no more of them than fit is kept."""
    cap = 64 * 1024
    request = make_request(artifacts=(), step="review")
    result = await runtime(fake_argv("--binary", str(300 * 1024), "--no-stdin"), output_cap=cap).run(request)
    body, _, note = result.output.partition("\n\n[teambot: output cut at")
    expected = (bytes(range(256)) * (cap // 256)).decode("utf-8", "replace").encode()[:cap].decode("utf-8", "ignore")
    assert body == expected and len(body.encode()) <= cap
    wrote = re.match(r" 65,536 bytes; ([\d,]+) bytes were written in all\]\n$", note)
    assert wrote and int(wrote.group(1).replace(",", "")) > 300 * 1024
    assert "not valid UTF-8" in request.log_path.read_text()


_MEMORY_PROBE = """
import asyncio, json, resource, sys
from pathlib import Path
from teambot.runtimes.base import StageRequest
from teambot.runtimes.command import CommandRuntime, CommandSpec
run = Path(sys.argv[1])
request = StageRequest(feature="f", stage="S", agent=None, prompt="", artifacts_dir=run, artifacts=(),
                       upstream_artifacts=(), run_dir=run, project_dir=run, timeout=None, log_path=run / "S.log",
                       kind="review", step="review")  # a cut work step would fail
argv = (sys.executable, sys.argv[2], "--no-stdin", "--binary", str(12 * 1024 * 1024))
result = asyncio.run(CommandRuntime(CommandSpec(argv=argv, grace=0.3)).run(request))
# This process's own peak: /proc's VmHWM belongs to the memory map exec gave it. ru_maxrss would not
# do: Linux carries it over from the forked parent (pytest, hundreds of MiB late in a full run).
try:
    peak = int(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")))  # KiB
except (OSError, StopIteration):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // (1024 if sys.platform == "darwin" else 1)
print(json.dumps({"peak_kib": peak, "output": result.output}))
"""


def test_binary_stdout_keeps_memory_and_output_within_the_cap(tmp_path):
    """12 MiB of binary under the 10 MiB cap: the output is exactly the decoded text's first 10 MiB; memory stays low."""
    import json
    import subprocess
    import sys

    from tests.runtimes.conftest import FAKE_AGENT

    proc = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, str(tmp_path), str(FAKE_AGENT)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    cap = CommandSpec(argv=("x",)).output_cap
    body, _, _ = report["output"].partition("\n\n[teambot: output cut at")
    pattern = bytes(range(256)) * (12 * 1024 * 1024 // 256)
    assert body == pattern.decode("utf-8", "replace").encode()[:cap].decode("utf-8", "ignore")
    assert cap - 3 <= len(body.encode()) <= cap
    assert report["peak_kib"] < 200 * 1024  # it was about 500 MiB; the interpreter alone is about 35 MiB


def pem(seed: int = 7) -> str:
    """A PEM-shaped private key (random base64 lines), as a multi-line secret."""
    import base64
    import random

    body = base64.b64encode(random.Random(seed).randbytes(192)).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END PRIVATE KEY-----\n"


def leaked(text: str, secret: str, width: int = 8) -> list[str]:
    """The pieces of `width` characters of `secret` (its PEM armour aside) that appear in `text`."""
    parts = [line for line in secret.splitlines() if "-----" not in line]
    return sorted({p[i:i + width] for p in parts for i in range(len(p) - width + 1) if p[i:i + width] in text})


async def test_a_secret_split_by_the_long_line_break_stays_out_of_the_log(make_request, fake_argv, monkeypatch):
    """A secret that straddles the 64 KiB point where a long line is logged without its newline is still redacted."""
    monkeypatch.setenv("MY_SERVICE_API_KEY", SECRET)
    request = make_request(artifacts=())
    rt = CommandRuntime(CommandSpec(argv=fake_argv("--env-at", "MY_SERVICE_API_KEY=65530"), grace=0.3), Redactor())
    result = await rt.run(request)
    log = request.log_path.read_text()
    assert leaked(log, SECRET) == [] and leaked(result.output, SECRET) == []
    assert log.count("***") >= 1 and "." * 65530 + "***" in result.output


async def test_a_multi_line_secret_is_redacted_line_by_line(make_request, fake_argv, monkeypatch):
    """A PEM key in a secret-named variable leaves none of its lines in the log, the output or the error."""
    key = pem()
    monkeypatch.setenv("MY_PRIVATE_KEY", key)
    request = make_request(artifacts=())
    argv = fake_argv("--print-env", "MY_PRIVATE_KEY", "--stderr-env-at", "MY_PRIVATE_KEY=0", "--exit", "1")
    with pytest.raises(AgentError) as err:
        await CommandRuntime(CommandSpec(argv=argv, grace=0.3), Redactor()).run(request)
    assert leaked(request.log_path.read_text(), key, 20) == []
    assert leaked(err.value.message, key, 20) == [] and "stderr ends: " in err.value.message
    ok = await CommandRuntime(CommandSpec(argv=fake_argv("--print-env", "MY_PRIVATE_KEY"), grace=0.3), Redactor()).run(
        make_request("PLAN", artifacts=()))
    assert leaked(ok.output, key, 20) == [] and "MY_PRIVATE_KEY=***" in ok.output


async def test_a_secret_cut_by_the_stderr_tail_stays_out_of_the_error(make_request, fake_argv, monkeypatch):
    """A secret that runs past the width the error quotes of a stderr line is redacted before that line is cut."""
    monkeypatch.setenv("MY_SERVICE_API_KEY", SECRET)
    argv = fake_argv("--stderr-env-at", "MY_SERVICE_API_KEY=180", "--exit", "1")
    with pytest.raises(AgentError) as err:
        await CommandRuntime(CommandSpec(argv=argv, grace=0.3), Redactor()).run(make_request())
    assert leaked(err.value.message, SECRET) == []
    assert "." * 180 + "***" in err.value.message


async def test_stage_error_drops_terminal_escapes_and_cuts_between_words(make_request, fake_argv):
    """Terminal escapes and control characters stay out of the error; a long stderr line ends at a word with "…"."""
    words = " ".join(f"word{i:03d}" for i in range(60))
    noisy = ("\x1b]0;agent title\x07\x1b[1;31merror\x1b[0m: \x1b]8;;https://example.com\x1b\\link\x1b]8;;\x1b\\ "
             f"bell\x07 \x1b(Bdone 50%\r\x1b[2K{words}")
    with pytest.raises(AgentError) as err:
        await runtime(fake_argv("--stderr", f"\x1b[33mwarning\x1b[0m: careful\n{noisy}", "--exit", "2")).run(make_request())
    message = err.value.message
    assert not any(ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0 for ch in message), repr(message)
    assert "stderr ends: warning: careful | word000 word001" in message
    tail = message.split(" | ")[-1]
    assert re.fullmatch(r"(word\d{3} )+word\d{3}\u2026 \(log: \S+\)", tail), tail
    assert len(tail.split(" (log:")[0]) <= output.TAIL_WIDTH


async def test_agent_that_ignores_stdin(make_request, fake_argv):
    """A large prompt is no problem for an agent that never reads stdin."""
    request = make_request(prompt="p" * (2 * 1024 * 1024))
    result = await asyncio.wait_for(runtime(fake_argv("--no-stdin")).run(request), 10)
    assert "(no prompt)" in result.output


async def test_secrets_never_reach_output_log_or_errors(make_request, fake_argv, monkeypatch):
    """An agent printing a secret environment value leaves only *** in output, artifact, log and error."""
    monkeypatch.setenv("MY_SERVICE_API_KEY", SECRET)
    request = make_request()
    rt = CommandRuntime(CommandSpec(argv=fake_argv("--print-env", "MY_SERVICE_API_KEY", "--stderr", SECRET), grace=0.3), Redactor())
    result = await rt.run(request)
    assert SECRET not in result.output and "MY_SERVICE_API_KEY=***" in result.output
    assert SECRET not in result.artifacts["spec.md"].read_text()
    assert SECRET not in request.log_path.read_text()
    failing = CommandRuntime(CommandSpec(argv=fake_argv("--exit", "1", "--stderr", f"token {SECRET} rejected"), grace=0.3), Redactor())
    with pytest.raises(AgentError) as err:
        await failing.run(make_request("PLAN"))
    assert SECRET not in err.value.message and "token *** rejected" in err.value.message
