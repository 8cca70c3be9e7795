#!/usr/bin/env python3
"""A fake agent CLI for the command runtime's tests: reads its prompt, writes artifacts, misbehaves on request.

Every invocation appends `<stage> <pid>` to --count FILE before doing anything else, so tests
can count exact invocations per stage. Flags choose the behaviour; flags with a `-stage`
variant apply only when TEAMBOT_STAGE matches (for end-to-end runs of a whole workflow).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.parse


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", help="append one line per invocation to this file")
    parser.add_argument("--prompt-file", help="read the prompt from this file instead of stdin")
    parser.add_argument("--no-stdin", action="store_true", help="do not read stdin at all")
    parser.add_argument("--write", action="append", default=[], help="NAME[=TEXT]: write this artifact")
    parser.add_argument("--write-declared", action="store_true", help="write the artifact named by FAKE_ARTIFACT")
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--sleep-stage", default="", help="sleep only in these comma-separated stages")
    parser.add_argument("--hang", action="store_true", help="print a line, then sleep forever")
    parser.add_argument("--child", action="store_true", help="start a grandchild that sleeps forever")
    parser.add_argument("--daemon-child", action="store_true", help="leave a grandchild behind and exit 0")
    parser.add_argument("--ignore-term", action="store_true", help="ignore SIGTERM (forces SIGKILL)")
    parser.add_argument("--pid-file", help="append our pid and any grandchild's pid here")
    parser.add_argument("--exit", type=int, default=0)
    parser.add_argument("--verdict", default="VERDICT: APPROVED", help="the end of a review")
    parser.add_argument("--reask-verdict", default=None, help="the answer when asked again for the verdict")
    parser.add_argument("--reject-iterations", type=int, default=0, help="request changes in iterations 1..N")
    parser.add_argument("--sleep-iteration", type=int, default=0, help="--sleep only in this iteration's work step")
    parser.add_argument("--fail-stage", default="", help="exit 3 in these comma-separated stages")
    parser.add_argument("--fail-until", type=int, default=0, help="exit 4 until this many invocations are counted")
    parser.add_argument("--stderr", default="", help="write this to stderr (\\n for new lines)")
    parser.add_argument("--flood", type=int, default=0, help="write this many bytes to stdout")
    parser.add_argument("--invalid-utf8", action="store_true", help="write invalid UTF-8 to stdout")
    parser.add_argument("--print-env", action="append", default=[], help="print NAME=VALUE of this variable")
    parser.add_argument("--print-argv", action="store_true")
    parser.add_argument("--print-modes", action="store_true", help="print the modes of --prompt-file and its directory")
    parser.add_argument("--flood-stderr", type=int, default=0, help="write this many bytes to stderr")
    parser.add_argument("--binary", type=int, default=0, help="write this many bytes of binary (0x00..0xFF repeated)")
    parser.add_argument("--env-at", action="append", default=[],
                        help="NAME=N: write N dots and the value of NAME to stdout, in two writes 0.3 s apart")
    parser.add_argument("--stderr-env-at", action="append", default=[], help="NAME=N: the same on stderr")
    parser.add_argument("--api-key", "--Auth-Token", "--db-password", "--auth-header", "-H", action="append", default=[],
                        help="accepted and ignored: secret-looking flags for the argv masking tests")
    parser.add_argument("--stderr-disguised", action="append", default=[],
                        help="NAME: write the value of NAME to stderr URL-encoded, split by an escape, overstruck")
    args = parser.parse_args()
    stage = os.environ.get("TEAMBOT_STAGE", "")
    if args.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    step = os.environ.get("TEAMBOT_STEP", "work")
    iteration = int(os.environ.get("TEAMBOT_ITERATION", "1"))
    count = 0
    if args.count:  # one line per call: STAGE for work, STAGE/review and STAGE/verdict for a reviewer's
        with open(args.count, "a", encoding="utf-8") as fh:
            fh.write(f"{stage}{'' if step == 'work' else '/' + step} {os.getpid()} {iteration}\n")
        with open(args.count, encoding="utf-8") as fh:
            count = sum(1 for _ in fh)
    if args.pid_file:
        _append(args.pid_file, os.getpid())
    if args.prompt_file:
        with open(args.prompt_file, encoding="utf-8") as fh:
            prompt = fh.read()
    elif args.no_stdin:
        prompt = ""
    else:
        prompt = sys.stdin.read()
    if args.child or args.daemon_child:
        code = "import signal, time\n" + ("signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" if args.ignore_term else "") + "time.sleep(600)\n"
        child = subprocess.Popen([sys.executable, "-c", code], stdout=sys.stdout, stderr=sys.stderr)
        if args.pid_file:
            _append(args.pid_file, child.pid)
    out = sys.stdout.buffer
    if args.print_argv:
        out.write(("argv: " + " ".join(sys.argv[1:]) + "\n").encode())
    if args.print_modes and args.prompt_file:
        folder = os.path.dirname(os.path.abspath(args.prompt_file))
        out.write(f"file mode {os.stat(args.prompt_file).st_mode & 0o777:o}\n".encode())
        out.write(f"dir mode {os.stat(folder).st_mode & 0o777:o}\n".encode())
    for name in args.print_env:
        out.write(f"{name}={os.environ.get(name, '')}\n".encode())
    if args.stderr:
        sys.stderr.write(args.stderr.replace("\\n", "\n") + "\n")
        sys.stderr.flush()
    for item in args.env_at:
        _split_write(out, item)
    for item in args.stderr_env_at:
        _split_write(sys.stderr.buffer, item)
    for name in args.stderr_disguised:
        value = os.environ.get(name, "")
        sys.stderr.write(f"GET /cb?k={urllib.parse.quote(value, safe='')}&q={urllib.parse.quote_plus(value)}\n"
                         f"error: {value[:6]}\x1b[0m{value[6:]}\nerror: {value[:6]}X\b{value[6:]}\n")
        sys.stderr.flush()
    if args.sleep and (not args.sleep_stage or stage in args.sleep_stage.split(",")) \
            and (not args.sleep_iteration or (iteration == args.sleep_iteration and step == "work")):
        time.sleep(args.sleep)
    if args.hang:
        out.write(b"working...\n")
        out.flush()
        time.sleep(600)
    if args.fail_until and count < args.fail_until:
        sys.stderr.write(f"failing on purpose (invocation {count} of {args.fail_until})\n")
        return 4
    if stage and stage in args.fail_stage.split(","):
        sys.stderr.write(f"failing on purpose in {stage}\n")
        return 3
    artifacts = os.environ.get("TEAMBOT_ARTIFACTS_DIR", ".")
    for item in args.write:
        name, _, text = item.partition("=")
        _write(os.path.join(artifacts, name), text or f"# {name}\n\nwritten by the fake agent in {stage}\n")
    if args.write_declared and os.environ.get("FAKE_ARTIFACT"):
        _write(os.path.join(artifacts, os.environ["FAKE_ARTIFACT"]), f"# artifact of {stage}\n")
    if args.flood_stderr:
        line = b"e" * 1023 + b"\n"
        for _ in range(args.flood_stderr // 1024):
            sys.stderr.buffer.write(line)
        sys.stderr.buffer.write(b"the last stderr line\n")
        sys.stderr.flush()
    if args.flood:
        line = b"x" * 1023 + b"\n"
        for _ in range(args.flood // 1024):
            out.write(line)
    if args.binary:
        pattern = bytes(range(256))
        for start in range(0, args.binary, len(pattern)):
            out.write(pattern[: args.binary - start])
    if args.invalid_utf8:
        out.write(b"before \xff\xfe bad \xc3( after\n")
    first = prompt.strip().splitlines()[0] if prompt.strip() else "(no prompt)"
    out.write(f"# {stage or 'stage'} output\n\nprompt began with: {first}\nprompt length: {len(prompt)}\n".encode())
    if stage == "PLAN" and step == "work":  # the default workflow's plan carries the tasks IMPLEMENTATION runs
        out.write(b"\n## Tasks file\n\n```yaml\ntasks:\n  - id: T1\n    title: Implement the plan\n```\n")
    if step in ("review", "verdict"):
        if iteration <= args.reject_iterations:
            out.write(f"feedback-marker-{iteration}: please fix section {iteration}\nVERDICT: CHANGES_REQUESTED\n".encode())
        else:
            text = args.reask_verdict if step == "verdict" and args.reask_verdict is not None else args.verdict
            out.write(f"{text}\n".encode())
    out.flush()
    if args.daemon_child:
        os._exit(args.exit)  # leave the grandchild running, holding our stdout open
    return args.exit


def _append(path: str, pid: int) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(f"{pid}\n")


def _split_write(stream, item: str) -> None:
    """N dots, then the variable's value split between two writes (a slow agent), then a newline."""
    name, _, count = item.partition("=")
    value = os.environ.get(name, "").encode()
    half = len(value) // 2
    stream.write(b"." * int(count) + value[:half])
    stream.flush()
    time.sleep(0.3)
    stream.write(value[half:] + b"\n")
    stream.flush()


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


if __name__ == "__main__":
    sys.exit(main())
