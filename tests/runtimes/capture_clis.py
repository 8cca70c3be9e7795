"""Capture the real claude, codex and gemini CLIs' machine-readable output (not run by the test suite).

Each CLI runs with exactly its preset's argv (runtimes/presets.py) and a short prompt on stdin,
against a loopback fake model server on 127.0.0.1 that answers every model request with one
known text and known token usage; its stdout is saved verbatim as
tests/runtimes/captured/<cli>-<version>.<ext>, and what the server sent (the answer, the usage
it reported per request, every request the CLI made) into captured/served.json, which the
tests compare the parsers against.

    npm install --prefix /tmp/clis @anthropic-ai/claude-code @openai/codex @google/gemini-cli
    python tests/runtimes/capture_clis.py --prefix /tmp/clis [--only claude]

Every CLI gets a scratch HOME (and CODEX_HOME) in a temporary directory and a dummy API key;
no request leaves 127.0.0.1 (telemetry and update checks are turned off where the CLI allows).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "captured"
sys.path.insert(0, str(ROOT / "src"))

from teambot.runtimes.presets import PRESETS  # noqa: E402

ANSWER = 'Captured answer.\nA "quoted" word and a backslash \\ survive.'
PROMPT = "Reply with one short sentence.\n"
# per request, in each provider's own terms (the numbers differ so a swapped field shows)
ANTHROPIC_USAGE = {"input_tokens": 1203, "cache_creation_input_tokens": 301, "cache_read_input_tokens": 2409,
                   "output_tokens": 57}
OPENAI_USAGE = {"input_tokens": 3512, "input_tokens_details": {"cached_tokens": 1408},
                "output_tokens": 77, "output_tokens_details": {"reasoning_tokens": 19}, "total_tokens": 3589}
GEMINI_USAGE = {"promptTokenCount": 4321, "cachedContentTokenCount": 1024, "candidatesTokenCount": 66,
                "thoughtsTokenCount": 22, "totalTokenCount": 4409}
# gemini's model router (model "auto") first asks a small model to score the task's complexity
ROUTER_ANSWER = '{"complexity_reasoning": "A one-sentence reply.", "complexity_score": 12}'
ROUTER_USAGE = {"promptTokenCount": 812, "candidatesTokenCount": 14, "thoughtsTokenCount": 5, "totalTokenCount": 831}
# a second capture runs the preset with a model configured (the preset's --model flag): gemini then
# skips its router, and claude names the model as given
MODELS = {"claude": "claude-sonnet-4-5", "gemini": "gemini-2.5-pro"}
EXT = {"claude": "json", "codex": "jsonl", "gemini": "json"}
RUNS = [*EXT, *(f"{cli}-model" for cli in MODELS)]


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[dict] = []
        self.served: list[dict] = []  # one per model answer: the API, the model and the usage sent
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        path = urlsplit(self.path).path
        record = {"method": self.command, "path": self.path, "headers": _headers(self.headers), "body": body}
        with self.server.lock:
            self.server.requests.append(record)
        if self.command == "POST" and path.endswith("/v1/messages"):
            return self._anthropic(body if isinstance(body, dict) else {})
        if self.command == "POST" and path.endswith("/responses"):
            return self._openai(body if isinstance(body, dict) else {})
        match = re.search(r"/models/([^/:]+):(streamGenerateContent|generateContent|countTokens)$", path)
        if self.command == "POST" and match:
            return self._gemini(match[1], match[2], body if isinstance(body, dict) else {})
        record["answered"] = 404
        self._send(404, "application/json", json.dumps({"error": {"message": f"not served: {self.path}"}}).encode())

    def _served(self, api: str, model: str, usage: dict) -> None:
        with self.server.lock:
            self.server.served.append({"api": api, "model": model, "usage": usage})

    # -- Anthropic Messages API (https://docs.anthropic.com/en/api/messages-streaming)
    def _anthropic(self, body: dict) -> None:
        model = body.get("model", "claude")
        msg_id = f"msg_{uuid.uuid4().hex[:24]}"
        usage = dict(ANTHROPIC_USAGE)
        self._served("anthropic", model, usage)
        message = {"id": msg_id, "type": "message", "role": "assistant", "model": model, "content": [],
                   "stop_reason": None, "stop_sequence": None,
                   "usage": {**usage, "output_tokens": 1}}
        if not body.get("stream"):
            done = {**message, "content": [{"type": "text", "text": ANSWER}], "stop_reason": "end_turn", "usage": usage}
            return self._send(200, "application/json", json.dumps(done).encode())
        events = [
            ("message_start", {"type": "message_start", "message": message}),
            ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": ANSWER}}),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                               "usage": {"output_tokens": usage["output_tokens"]}}),
            ("message_stop", {"type": "message_stop"}),
        ]
        self._sse([f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events])

    # -- OpenAI Responses API, streamed (https://platform.openai.com/docs/api-reference/responses-streaming)
    def _openai(self, body: dict) -> None:
        model = body.get("model", "gpt")
        resp_id, item_id = f"resp_{uuid.uuid4().hex}", f"msg_{uuid.uuid4().hex}"
        usage = json.loads(json.dumps(OPENAI_USAGE))
        self._served("openai-responses", model, usage)
        item = {"id": item_id, "type": "message", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": ANSWER, "annotations": []}]}
        base = {"id": resp_id, "object": "response", "created_at": int(time.time()), "model": model, "output": []}
        events = [
            {"type": "response.created", "response": {**base, "status": "in_progress"}},
            {"type": "response.output_item.added", "output_index": 0,
             "item": {**item, "status": "in_progress", "content": []}},
            {"type": "response.output_text.delta", "item_id": item_id, "output_index": 0, "content_index": 0, "delta": ANSWER},
            {"type": "response.output_item.done", "output_index": 0, "item": item},
            {"type": "response.completed", "response": {**base, "status": "completed", "output": [item], "usage": usage}},
        ]
        self._sse([f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events])

    # -- Gemini API (https://ai.google.dev/api/generate-content)
    def _gemini(self, model: str, method: str, body: dict) -> None:
        if method == "countTokens":
            return self._send(200, "application/json", json.dumps({"totalTokens": 10}).encode())
        schema = (body.get("generationConfig") or {}).get("responseJsonSchema") or {}
        router = "complexity_score" in (schema.get("properties") or {})
        usage = dict(ROUTER_USAGE if router else GEMINI_USAGE)
        self._served("gemini-router" if router else "gemini", model, usage)
        chunk = {"candidates": [{"content": {"parts": [{"text": ROUTER_ANSWER if router else ANSWER}], "role": "model"}, "finishReason": "STOP",
                                 "index": 0}], "usageMetadata": usage, "modelVersion": model,
                 "responseId": uuid.uuid4().hex[:20]}
        if method == "generateContent":
            return self._send(200, "application/json", json.dumps(chunk).encode())
        self._sse([f"data: {json.dumps(chunk)}\r\n\r\n"])

    def _sse(self, chunks: list[str]) -> None:
        data = "".join(chunks).encode()
        self._send(200, "text/event-stream", data)

    def _send(self, status: int, kind: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


def _headers(headers: object) -> dict:
    """The request's headers, keys and credentials replaced (they are dummies, but never saved)."""
    secret = re.compile(r"authorization|api-key|x-goog-api-key|cookie", re.I)
    return {k: ("<dummy>" if secret.search(k) else v) for k, v in headers.items()}  # type: ignore[attr-defined]


def setups(prefix: Path, url: str, scratch: Path) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Per CLI: the preset's argv (the program from `prefix`) and its environment."""
    home = scratch / "home"
    home.mkdir()
    codex_home = home / ".codex"
    codex_home.mkdir()
    (codex_home / "config.toml").write_text(
        'model_provider = "loopback"\n\n[model_providers.loopback]\nname = "loopback"\n'
        f'base_url = "{url}/v1"\nenv_key = "LOOPBACK_API_KEY"\nwire_api = "responses"\n', encoding="utf-8")
    # GOOGLE_GEMINI_BASE_URL alone makes gemini 0.61.0 pick the "gateway" auth type, which its
    # headless auth check refuses ("Invalid auth method selected.", exit 41): name the API-key one.
    (home / ".gemini").mkdir()
    (home / ".gemini" / "settings.json").write_text(json.dumps({
        "security": {"auth": {"selectedType": "gemini-api-key"}}, "privacy": {"usageStatisticsEnabled": False},
        "telemetry": {"enabled": False}}), encoding="utf-8")
    base = {"PATH": f"{prefix / 'node_modules' / '.bin'}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
            "HOME": str(home), "LANG": "C.UTF-8", "TERM": "dumb", "NO_COLOR": "1", "NO_PROXY": "127.0.0.1",
            "XDG_CONFIG_HOME": str(home / ".config"), "XDG_CACHE_HOME": str(home / ".cache")}
    envs = {
        "claude": {"ANTHROPIC_BASE_URL": url, "ANTHROPIC_API_KEY": "sk-ant-dummy-loopback", "DISABLE_TELEMETRY": "1",
                   "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1",
                   "DISABLE_ERROR_REPORTING": "1"},
        "codex": {"CODEX_HOME": str(codex_home), "LOOPBACK_API_KEY": "sk-dummy-loopback"},
        "gemini": {"GOOGLE_GEMINI_BASE_URL": url, "GEMINI_API_KEY": "dummy-loopback-key",
                   "GEMINI_TELEMETRY_ENABLED": "false", "GEMINI_CLI_NO_RELAUNCH": "true"},
    }
    runs = {name: (_argv(name, None), base | env) for name, env in envs.items()}
    runs |= {f"{cli}-model": (_argv(cli, model), base | envs[cli]) for cli, model in MODELS.items()}
    return runs


def _argv(name: str, model: str | None) -> list[str]:
    values = {p: f"/tmp/teambot-capture-{p}" for p in ("run_dir", "artifacts_dir", "project_dir")} | {"model": model}
    return [re.sub(r"\{(\w+)\}", lambda m: values.get(m[1]) or m[0], a) for a in PRESETS[name].command(model)]


def version(name: str, env: dict[str, str]) -> str:
    out = subprocess.run([name, "--version"], env=env, capture_output=True, text=True, timeout=120).stdout
    found = re.search(r"\d+\.\d+\.\d+", out)
    if not found:
        raise SystemExit(f"capture: `{name} --version` printed no version: {out!r}")
    return found[0]


def missing_flags(argv: list[str], env: dict[str, str]) -> list[str]:
    """The preset's long flags its CLI's `--help` does not name (codex: `codex exec --help`)."""
    head = argv[:2] if argv[0] == "codex" else argv[:1]
    text = subprocess.run([*head, "--help"], env=env, capture_output=True, text=True, timeout=120).stdout
    return [a for a in argv if a.startswith("--") and not re.search(re.escape(a) + r"\b", text)]


def capture(name: str, server: Server, argv: list[str], env: dict[str, str], work: Path) -> dict:
    start_req, start_served = len(server.requests), len(server.served)
    cli = argv[0]
    if not shutil.which(cli, path=env["PATH"].split(os.pathsep)[0]):
        raise SystemExit(f"capture: {cli} is not installed under the --prefix (node_modules/.bin/{cli})")
    ver = version(cli, env)
    missing = missing_flags(argv, env)
    if missing:
        print(f"capture: {cli} {ver} --help does not name {', '.join(missing)}", file=sys.stderr)
    work.mkdir()
    proc = subprocess.run(argv, input=PROMPT, env=env, cwd=work, capture_output=True, text=True, timeout=300)
    requests = server.requests[start_req:]
    served = server.served[start_served:]
    fixture = OUT / f"{cli}-{ver}{name.removeprefix(cli)}.{EXT[cli]}"
    fixture.write_text(proc.stdout, encoding="utf-8")
    print(f"{name} {ver}: exit {proc.returncode}, {len(proc.stdout)} bytes -> {fixture.relative_to(ROOT)}; "
          f"{len(requests)} requests, {len(served)} model answers", file=sys.stderr)
    if proc.returncode:
        print(proc.stderr[-3000:], file=sys.stderr)
    return {"version": ver, "fixture": fixture.name, "flags_missing_from_help": missing, "argv": argv, "stdin": PROMPT, "exit_code": proc.returncode,
            "stderr_tail": proc.stderr[-2000:], "answer": ANSWER, "served": served,
            "requests": [{"method": r["method"], "path": r["path"], "answered": r.get("answered", 200),
                          "model": (r["body"] or {}).get("model") if isinstance(r["body"], dict) else None,
                          "user_agent": r["headers"].get("User-Agent")} for r in requests],
            "date": date.today().isoformat()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prefix", type=Path, required=True, help="the npm --prefix the CLIs are installed in")
    parser.add_argument("--only", action="append", choices=RUNS, help="capture only this CLI (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory and dump full request bodies")
    args = parser.parse_args(argv)
    if not (args.prefix / "node_modules" / ".bin").is_dir():
        print(f"capture: no node_modules/.bin under {args.prefix}: run npm install --prefix {args.prefix} ... first",
              file=sys.stderr)
        return 2
    OUT.mkdir(exist_ok=True)
    served_path = OUT / "served.json"
    results = json.loads(served_path.read_text(encoding="utf-8")) if served_path.exists() else {}
    server = Server()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    scratch = Path(tempfile.mkdtemp(prefix="teambot-capture-"))
    try:
        for name, (cli_argv, env) in setups(args.prefix.resolve(), server.url, scratch).items():
            if args.only and name not in args.only:
                continue
            results[name] = capture(name, server, cli_argv, env, scratch / f"work-{name}")
        if args.keep:
            (scratch / "requests.json").write_text(json.dumps(server.requests, indent=1), encoding="utf-8")
            print(f"capture: scratch kept in {scratch}", file=sys.stderr)
    finally:
        server.shutdown()
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    served_path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    (OUT / "README.md").write_text(readme(results), encoding="utf-8")
    return 0


README_HEAD = """\
# Captured agent CLI output

Written by `python tests/runtimes/capture_clis.py --prefix /tmp/clis` (after `npm install --prefix
/tmp/clis @anthropic-ai/claude-code @openai/codex @google/gemini-cli`); do not edit by hand.
Each file is the real CLI's stdout, verbatim, for one run of its preset's argv
(src/teambot/runtimes/presets.py) with the prompt below on stdin, in an empty working directory,
against a loopback model server on 127.0.0.1 that answered every model request with the same
text and fixed token usage. `served.json` holds, per run, the argv, the answer, the usage the
server reported on each request and the requests the CLI made (method, path, model, user agent).
tests/runtimes/test_usage.py reads these files with runtimes/usage.py; tests/runtimes/fake_clis.py
replays them with other answers and numbers.

How each CLI was pointed at the server (a scratch HOME, a dummy key):
- claude: `ANTHROPIC_BASE_URL`, `ANTHROPIC_API_KEY`, `DISABLE_TELEMETRY=1`,
  `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1`, `DISABLE_AUTOUPDATER=1`; Anthropic Messages API,
  streamed (POST /v1/messages?beta=true). It also sends `HEAD /` first (answered 404; it goes on).
- codex: `CODEX_HOME/config.toml` with `model_provider = "loopback"` and
  `[model_providers.loopback]` `base_url = "http://127.0.0.1:PORT/v1"`, `env_key`,
  `wire_api = "responses"` (the only value 0.171.0 accepts); OpenAI Responses API, streamed
  (POST /v1/responses).
- gemini: `GOOGLE_GEMINI_BASE_URL`, `GEMINI_API_KEY`, and `~/.gemini/settings.json`
  `security.auth.selectedType = "gemini-api-key"`: with the base URL set gemini 0.61.0 picks the
  `gateway` auth type, which its headless auth check refuses ("Invalid auth method selected.",
  exit 41). Gemini API (POST /v1beta/models/MODEL:streamGenerateContent?alt=sse). Without
  `--model` (model "auto") it first asks a small model to score the task
  (POST .../gemini-3.5-flash-lite:generateContent with a JSON schema; answered with a score),
  then the routed model, so its stats list two models.

What the captures showed (runtimes/usage.py reads all of them; docs/runtimes.md):
- claude names its default model with a context-window tag (`claude-opus-4-8[1m]` in
  `modelUsage`; the API was asked for `claude-opus-4-8`); `total_cost_usd` is its own price.
- codex adds `cache_write_input_tokens` and `reasoning_output_tokens` (inside `output_tokens`)
  to `turn.completed`; it names no model. A one-answer turn has one `agent_message` item.
- gemini's stats carry per-model `roles` (`main`, `utility_router`); thoughts are apart from
  `candidates`, cached tokens inside `prompt`.
"""


def readme(results: dict) -> str:
    """captured/README.md: how the files were made, and per run the command and the usage served."""
    parts = [README_HEAD, f"\nPrompt (stdin): `{PROMPT.strip()}`  \nAnswer sent: `{json.dumps(ANSWER)}` (a JSON string)\n"]
    for name in RUNS:
        run = results.get(name)
        if not run:
            continue
        parts.append(f"\n## {run['fixture']}\n\n{run['argv'][0]} {run['version']}, captured {run['date']}, "
                     f"exit {run['exit_code']}; its `--help` names "
                     + ("every long flag of the argv" if not run.get("flags_missing_from_help")
                        else "none of " + ", ".join(run["flags_missing_from_help"])) + ".\n\n```\n{' '.join(_quote(a) for a in run['argv'])} < prompt\n```\n\n"
                     "Usage the server reported:\n")
        parts += [f"- {s['api']} `{s['model']}`: `{json.dumps(s['usage'])}`\n" for s in run["served"]]
    return "".join(parts)


def _quote(arg: str) -> str:
    return arg if re.fullmatch(r"[\w./{}=:@+-]+", arg) else "'" + arg.replace("'", "'\\''") + "'"


if __name__ == "__main__":
    sys.exit(main())
