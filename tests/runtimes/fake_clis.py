"""Fake agent CLIs (claude, codex, gemini) replaying each real CLI's captured machine-readable output.

The outputs in tests/runtimes/captured/ were printed by the real CLIs (Claude Code 2.1.197, Codex
CLI 0.171.0, Gemini CLI 0.61.0) run with their preset's argv against a loopback model server
(tests/runtimes/capture_clis.py; captured/README.md). A fake call loads the capture and replaces
only the answer text and the usage numbers at their places (claude's costs too, and the model's
name where the real CLI prints the `--model` it was given); every other field stays as captured.
With `--model` in its argv it replays the capture made with a model configured (gemini then
reports one model instead of its router's and the routed one's).

Which CLI it plays is $FAKE_CLI_AS, else the name it is run as (claude, codex or gemini). It
reads the prompt from stdin, answers with a fixed text naming the stage and step (with an
approving verdict line, for review steps), and appends one JSON line per call to $FAKE_CLI_LOG.

Environment: FAKE_CLI_USAGE="INPUT,OUTPUT,CACHED" tokens (default 1000,200,400; INPUT includes
CACHED), FAKE_CLI_COST (claude's total_cost_usd, default 0.05), FAKE_CLI_MODE=json (default) |
garbage (plain text, not the expected JSON) | fail (the usage is printed, then exit 1);
FAKE_CLI_WRITE=1 writes <task or "work">.txt in its working directory.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

CAPTURED = Path(__file__).resolve().parent / "captured"
VERSIONS = {"claude": "2.1.197", "codex": "0.171.0", "gemini": "0.61.0"}
EXT = {"claude": "json", "codex": "jsonl", "gemini": "json"}


def captured(cli: str, with_model: bool = False) -> str:
    """The real CLI's output, verbatim (the run with a model configured, for claude and gemini if asked)."""
    suffix = "-model" if with_model and cli != "codex" else ""
    return (CAPTURED / f"{cli}-{VERSIONS[cli]}{suffix}.{EXT[cli]}").read_text(encoding="utf-8")


def answer() -> str:
    stage, step = os.environ.get("TEAMBOT_STAGE", "?"), os.environ.get("TEAMBOT_STEP", "work")
    return f"# Answer for {stage}\n\nThe {step} step is done: \"quoted\" text and a backslash \\ survive.\n\nVERDICT: APPROVED\n"


def claude(text: str, tokens: tuple[int, int, int], cost: float, model: str | None = None, created: int = 0) -> str:
    """Claude Code's `-p --output-format json` result: tokens are (prompt, output, cache read), the prompt
    including the cache read and the `created` cache-creation tokens."""
    prompt, output, cached = tokens
    raw = captured("claude", model is not None)
    data = json.loads(raw)
    data["result"], data["total_cost_usd"] = text, cost
    data["usage"].update(input_tokens=prompt - cached - created, cache_creation_input_tokens=created,
                         cache_read_input_tokens=cached, output_tokens=output)
    [(name, per_model)] = data["modelUsage"].items()
    per_model.update(inputTokens=prompt - cached - created, outputTokens=output, cacheReadInputTokens=cached,
                     cacheCreationInputTokens=created, costUSD=cost)
    if model is not None:  # the real CLI names the model it was given (captured: its --model)
        data["modelUsage"] = {model: per_model}
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False) + _tail(raw)


def codex(text: str, tokens: tuple[int, int, int], reasoning: int = 0) -> str:
    """Codex's `exec --json` events: tokens are (input, output, cached input), cached and reasoning
    counted inside input and output as OpenAI does."""
    prompt, output, cached = tokens
    raw = captured("codex")
    lines = []
    for line in raw.splitlines():
        event = json.loads(line)
        if event["type"] == "item.completed" and event["item"]["type"] == "agent_message":
            event["item"]["text"] = text
        if event["type"] == "turn.completed":
            event["usage"].update(input_tokens=prompt, cached_input_tokens=cached, output_tokens=output,
                                  reasoning_output_tokens=reasoning)
        lines.append(json.dumps(event, separators=(",", ":"), ensure_ascii=False))
    return "\n".join(lines) + _tail(raw)


def gemini(text: str, tokens: tuple[int, int, int], model: str | None = None, thoughts: int | None = None) -> str:
    """Gemini CLI's `--output-format json` object: tokens are (prompt, output, cached), the prompt including
    the cached tokens and the output the `thoughts` (a quarter unless given). They go to the model of the
    `main` role; without a model, the router's model (captured beside it) is left at zero tokens."""
    prompt, output, cached = tokens
    thoughts = output // 4 if thoughts is None else thoughts
    raw = captured("gemini", model is not None)
    data = json.loads(raw)
    data["response"] = text
    models = data["stats"]["models"]
    for body in models.values():
        main = "main" in body["roles"]
        counts = {"input": prompt - cached, "prompt": prompt, "candidates": output - thoughts,
                  "total": prompt + output, "cached": cached, "thoughts": thoughts, "tool": 0}
        counts = counts if main else dict.fromkeys(counts, 0)
        body["tokens"].update(counts)
        for role in body["roles"].values():
            role["tokens"].update(counts)
    if model is not None:  # the real CLI names the model it was given (captured: its --model)
        [(_, body)] = models.items()
        data["stats"]["models"] = {model: body}
    return json.dumps(data, indent=2, ensure_ascii=False) + _tail(raw)


def _tail(raw: str) -> str:
    """What the CLI printed after its JSON (a newline, or nothing)."""
    return raw[len(raw.rstrip()):]


def _model(argv: list[str]) -> str | None:
    return argv[argv.index("--model") + 1] if "--model" in argv[:-1] else None


def main() -> int:
    name = os.environ.get("FAKE_CLI_AS") or os.path.basename(sys.argv[0])
    sys.stdin.read()
    log = os.environ.get("FAKE_CLI_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"cli": name, "argv": sys.argv[1:], "stage": os.environ.get("TEAMBOT_STAGE"),
                                 "step": os.environ.get("TEAMBOT_STEP")}) + "\n")
    if os.environ.get("FAKE_CLI_WRITE"):  # do some work where it runs (a task's worktree): a file named after it
        with open(f"{os.environ.get('TEAMBOT_TASK') or 'work'}.txt", "w", encoding="utf-8") as fh:
            fh.write("done\n")
    prompt, output, cached = (int(n) for n in os.environ.get("FAKE_CLI_USAGE", "1000,200,400").split(","))
    tokens = (prompt, output, cached)
    mode = os.environ.get("FAKE_CLI_MODE", "json")
    text = answer()
    if mode == "garbage":
        sys.stdout.write(text)
        return 0
    model = _model(sys.argv[1:])
    if name == "claude":
        sys.stdout.write(claude(text, tokens, float(os.environ.get("FAKE_CLI_COST", "0.05")), model))
    elif name == "codex":
        sys.stdout.write(codex(text, tokens))
    else:
        sys.stdout.write(gemini(text, tokens, model))
    if mode == "fail":
        print("Error: the model is overloaded", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
