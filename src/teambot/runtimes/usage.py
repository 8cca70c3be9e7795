"""The answer and the usage in an agent CLI's machine-readable output (the presets ask for it).

Each format is the one the real CLI prints: tests/runtimes/captured/ holds their output,
captured from the CLIs named in docs/runtimes.md against a loopback model server, and
tests/runtimes/fake_clis.py replays it.

- `claude-json` (Claude Code `-p --output-format json`): one JSON object, `{"type": "result",
  "result": TEXT, "total_cost_usd": X, "usage": {"input_tokens", "cache_creation_input_tokens",
  "cache_read_input_tokens", "output_tokens", ...}, "modelUsage": {MODEL: {...}}, ...}`.
  Anthropic counts cached input apart from `input_tokens`, so the prompt is all three. Its
  default model is named with a context-window tag (`claude-opus-4-8[1m]`): the model recorded
  is the API's name, without the tag.
- `codex-jsonl` (Codex `exec --json`): one JSON event per line; the answer is the text of the
  last `item.completed` event whose item is an `agent_message`, the usage is in each
  `turn.completed` event: `{"input_tokens", "cached_input_tokens", "output_tokens"}` (OpenAI
  counts cached input inside `input_tokens`, and `reasoning_output_tokens` inside `output_tokens`).
- `gemini-json` (Gemini CLI `--output-format json`): one JSON object, `{"session_id",
  "response": TEXT, "stats": {"models": {MODEL: {"tokens": {"prompt", "candidates", "cached",
  "thoughts", ...}}}, ...}}`; thoughts are billed as output. With no model given, its router
  asks a small model first, so two models are listed and none is named (prices are per model).

`parse` returns None when the text is not the expected shape (a CLI that printed something
else, an output cut at the cap): the caller then keeps the raw text and records no usage.
Nothing is ever estimated.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from teambot.store.models import TokenUsage

FORMATS = ("claude-json", "codex-jsonl", "gemini-json")


@dataclass(frozen=True)
class Reported:
    """What a CLI's output says: the agent's answer, and its usage when it reports one."""

    text: str
    usage: TokenUsage | None


def parse(fmt: str, output: str) -> Reported | None:
    """The answer and usage in `output` printed in format `fmt` (one of FORMATS), or None."""
    return _PARSERS[fmt](output)


def read(fmt: str, output: str, model: str | None) -> Reported | None:
    """`parse`, the usage naming `model` (the configured one) when the CLI named none."""
    reported = parse(fmt, output)
    if reported is not None and reported.usage is not None and reported.usage.model is None and model:
        return Reported(reported.text, reported.usage.model_copy(update={"model": model}))
    return reported


def _claude(output: str) -> Reported | None:
    data = _document(output)
    if isinstance(data, list):  # `--verbose` prints every message: the result is the last one
        data = next((d for d in reversed(data) if isinstance(d, dict) and d.get("type") == "result"), None)
    if not isinstance(data, dict) or not isinstance(data.get("result"), str):
        return None
    raw = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    cached, created = _int(raw, "cache_read_input_tokens"), _int(raw, "cache_creation_input_tokens")
    cost = data.get("total_cost_usd")
    usage = None
    if raw or _number(cost):
        usage = TokenUsage(prompt_tokens=_int(raw, "input_tokens") + cached + created,
                           completion_tokens=_int(raw, "output_tokens"), cached_prompt_tokens=cached,
                           cost_usd=float(cost) if _number(cost) else None,
                           model=_untagged(_only(data.get("modelUsage"))))
    return Reported(data["result"], usage)


def _codex(output: str) -> Reported | None:
    text: str | None = None
    usage: TokenUsage | None = None
    events = 0
    for line in output.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue  # not an event (a warning the CLI printed to stdout): the events carry everything
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            continue
        events += 1
        item = event.get("item")
        if event["type"] == "item.completed" and isinstance(item, dict) and item.get("type") == "agent_message":
            text = item.get("text") if isinstance(item.get("text"), str) else text
        raw = event.get("usage")
        if event["type"] == "turn.completed" and isinstance(raw, dict):
            turn = TokenUsage(prompt_tokens=_int(raw, "input_tokens"), completion_tokens=_int(raw, "output_tokens"),
                              cached_prompt_tokens=_int(raw, "cached_input_tokens"))
            usage = turn if usage is None else usage.plus(turn)
    if not events or (text is None and usage is None):
        return None
    return Reported(text or "", usage)


def _gemini(output: str) -> Reported | None:
    data = _document(output)
    if not isinstance(data, dict) or not isinstance(data.get("response"), str):
        return None
    stats = data.get("stats") if isinstance(data.get("stats"), dict) else {}
    models = stats.get("models") if isinstance(stats.get("models"), dict) else {}
    usage = None
    for body in models.values():
        tokens = body.get("tokens") if isinstance(body, dict) else None
        if not isinstance(tokens, dict):
            continue
        one = TokenUsage(prompt_tokens=_int(tokens, "prompt"),
                         completion_tokens=_int(tokens, "candidates") + _int(tokens, "thoughts"),
                         cached_prompt_tokens=_int(tokens, "cached"))
        usage = one if usage is None else usage.plus(one)
    if usage is not None:
        usage = usage.model_copy(update={"model": _only(models)})
    return Reported(data["response"], usage)


_PARSERS: dict[str, Callable[[str], Reported | None]] = {
    "claude-json": _claude, "codex-jsonl": _codex, "gemini-json": _gemini,
}


def _document(output: str) -> Any:
    """The one JSON document in `output`; if lines precede it (a notice on stdout), from the first
    line that opens an object or array."""
    text = output.strip()
    try:
        return json.loads(text)
    except ValueError:
        pass
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(("{", "[")):
            try:
                return json.loads("\n".join(lines[i:]))
            except ValueError:
                return None
    return None


def _int(data: dict, key: str) -> int:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def _untagged(model: str | None) -> str | None:
    """Claude Code's model name without its context-window tag: `claude-opus-4-8[1m]` → `claude-opus-4-8`."""
    return re.sub(r"\[[^\]]*\]$", "", model) or model if model else model


def _only(models: object) -> str | None:
    """The model's name when exactly one model did the work (prices are per model)."""
    return next(iter(models)) if isinstance(models, dict) and len(models) == 1 else None
