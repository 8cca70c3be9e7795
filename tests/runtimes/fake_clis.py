"""Fake agent CLIs (claude, codex, gemini) printing each real CLI's machine-readable output.

The shapes were read from the real CLIs' code (Claude Code 2.1.197's result message, Codex CLI
0.171.0's `exec --json` events, Gemini CLI 0.61.0's JsonFormatter and its per-model token
stats); which CLI it plays is $FAKE_CLI_AS, else the name it is run as (claude, codex or gemini).
It reads the prompt from stdin, answers with a fixed text naming the stage and step (with an
approving verdict line, for review steps), and appends one JSON line per call to $FAKE_CLI_LOG.

Environment: FAKE_CLI_USAGE="INPUT,OUTPUT,CACHED" tokens (default 1000,200,400), FAKE_CLI_COST
(claude's total_cost_usd, default 0.05), FAKE_CLI_MODE=json (default) | garbage (plain text,
not the expected JSON) | fail (the usage is printed, then exit 1); FAKE_CLI_WRITE=1 writes
<task or "work">.txt in its working directory.
"""

from __future__ import annotations

import json
import os
import sys
import uuid


def answer() -> str:
    stage, step = os.environ.get("TEAMBOT_STAGE", "?"), os.environ.get("TEAMBOT_STEP", "work")
    return f"# Answer for {stage}\n\nThe {step} step is done: \"quoted\" text and a backslash \\ survive.\n\nVERDICT: APPROVED\n"


def claude(text: str, tokens: tuple[int, int, int], cost: float) -> str:
    """One line: Claude Code's `-p --output-format json` result (JSON.stringify of its result message)."""
    fresh, output, cached = tokens
    usage = {"input_tokens": fresh - cached, "cache_creation_input_tokens": 0, "cache_read_input_tokens": cached,
             "output_tokens": output, "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
             "service_tier": "standard", "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0}}
    return json.dumps({
        "type": "result", "subtype": "success", "is_error": False, "api_error_status": None, "duration_ms": 4210,
        "duration_api_ms": 3980, "num_turns": 2, "result": text, "stop_reason": "end_turn", "session_id": str(uuid.uuid4()),
        "total_cost_usd": cost, "usage": usage,
        "modelUsage": {"claude-sonnet-4-5": {"inputTokens": fresh - cached, "outputTokens": output,
                                             "cacheReadInputTokens": cached, "cacheCreationInputTokens": 0,
                                             "webSearchRequests": 0, "costUSD": cost, "contextWindow": 200000}},
        "permission_denials": [], "uuid": str(uuid.uuid4()), "terminal_reason": "completed",
    }, separators=(",", ":")) + "\n"


def codex(text: str, tokens: tuple[int, int, int]) -> str:
    """JSON lines: Codex's `exec --json` events for one turn that ran a command and answered."""
    prompt, output, cached = tokens
    events = [
        {"type": "thread.started", "thread_id": str(uuid.uuid4())},
        {"type": "turn.started"},
        {"type": "item.completed", "item": {"id": "item_0", "type": "reasoning", "text": "**Reading the task**"}},
        {"type": "item.started", "item": {"id": "item_1", "type": "command_execution", "command": "bash -lc ls",
                                          "aggregated_output": "", "exit_code": None, "status": "in_progress"}},
        {"type": "item.completed", "item": {"id": "item_1", "type": "command_execution", "command": "bash -lc ls",
                                            "aggregated_output": "README.md\n", "exit_code": 0, "status": "completed"}},
        {"type": "item.completed", "item": {"id": "item_2", "type": "agent_message", "text": "Looking at the files first."}},
        {"type": "item.completed", "item": {"id": "item_3", "type": "agent_message", "text": text}},
        {"type": "turn.completed", "usage": {"input_tokens": prompt, "cached_input_tokens": cached, "output_tokens": output}},
    ]
    return "".join(json.dumps(e) + "\n" for e in events)


def gemini(text: str, tokens: tuple[int, int, int]) -> str:
    """Gemini CLI's `--output-format json` object (pretty-printed, as its JsonFormatter does)."""
    prompt, output, cached = tokens
    thoughts = output // 4
    model = {"api": {"totalRequests": 1, "totalErrors": 0, "totalLatencyMs": 5053, "errorsByType": {}},
             "tokens": {"input": prompt - cached, "prompt": prompt, "candidates": output - thoughts, "total": prompt + output,
                        "cached": cached, "thoughts": thoughts, "tool": 0},
             "roles": {"main": {"totalRequests": 1, "totalErrors": 0, "totalLatencyMs": 5053,
                                "tokens": {"input": prompt - cached, "prompt": prompt, "candidates": output - thoughts,
                                           "total": prompt + output, "cached": cached, "thoughts": thoughts, "tool": 0}}}}
    stats = {"models": {"gemini-2.5-pro": model},
             "tools": {"totalCalls": 0, "totalSuccess": 0, "totalFail": 0, "totalDurationMs": 0,
                       "totalDecisions": {"accept": 0, "reject": 0, "modify": 0, "auto_accept": 0}, "byName": {}},
             "files": {"totalLinesAdded": 0, "totalLinesRemoved": 0}}
    return json.dumps({"session_id": str(uuid.uuid4()), "response": text, "stats": stats}, indent=2)


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
    tokens = tuple(int(n) for n in os.environ.get("FAKE_CLI_USAGE", "1000,200,400").split(","))
    mode = os.environ.get("FAKE_CLI_MODE", "json")
    text = answer()
    if mode == "garbage":
        sys.stdout.write(text)
        return 0
    if name == "claude":
        sys.stdout.write(claude(text, tokens, float(os.environ.get("FAKE_CLI_COST", "0.05"))))
    elif name == "codex":
        sys.stdout.write(codex(text, tokens))
    else:
        sys.stdout.write(gemini(text, tokens))
    if mode == "fail":
        print("Error: the model is overloaded", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
