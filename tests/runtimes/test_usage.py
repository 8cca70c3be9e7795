"""Parsing each agent CLI's machine-readable output (runtimes/usage.py) on the shapes the fake CLIs print."""

from __future__ import annotations

import json

import pytest

from teambot.runtimes.usage import parse
from teambot.store.models import TokenUsage
from tests.runtimes import fake_clis

TEXT = 'line one\n"two" \\ three\n'


def test_claude_result_gives_answer_tokens_and_reported_cost():
    """Claude's prompt is fresh + cache-created + cache-read input; its own total_cost_usd is kept."""
    reported = parse("claude-json", fake_clis.claude(TEXT, (1000, 200, 400), 0.0123))
    assert reported.text == TEXT
    assert reported.usage == TokenUsage(prompt_tokens=1000, completion_tokens=200, cached_prompt_tokens=400,
                                        cost_usd=0.0123, model="claude-sonnet-4-5")


def test_claude_verbose_array_takes_the_result_message():
    """With --verbose Claude prints every message in an array: the result message is the one read."""
    result = json.loads(fake_clis.claude(TEXT, (10, 5, 0), 0.001))
    output = json.dumps([{"type": "system", "subtype": "init"}, {"type": "assistant", "message": {}}, result])
    assert parse("claude-json", output).usage.completion_tokens == 5


def test_codex_takes_the_last_agent_message_and_sums_turns():
    """Codex: the last agent_message is the answer; every turn.completed's usage counts; no cost is invented."""
    output = fake_clis.codex(TEXT, (100, 20, 40)) + fake_clis.codex("second answer", (50, 10, 0))
    reported = parse("codex-jsonl", output)
    assert reported.text == "second answer"
    assert reported.usage == TokenUsage(prompt_tokens=150, completion_tokens=30, cached_prompt_tokens=40)
    assert reported.usage.cost_usd is None


def test_gemini_counts_thoughts_as_output_and_names_its_one_model():
    """Gemini: prompt includes cached tokens; thoughts are billed as output; the single model is named."""
    reported = parse("gemini-json", "Loaded cached credentials.\n" + fake_clis.gemini(TEXT, (1000, 200, 400)))
    assert reported.text == TEXT
    assert reported.usage == TokenUsage(prompt_tokens=1000, completion_tokens=200, cached_prompt_tokens=400,
                                        model="gemini-2.5-pro")


def test_gemini_with_two_models_names_none():
    """Two models in Gemini's stats: the tokens add up, and no single model (price) is named."""
    data = json.loads(fake_clis.gemini(TEXT, (100, 20, 0)))
    data["stats"]["models"]["gemini-2.5-flash"] = data["stats"]["models"]["gemini-2.5-pro"]
    usage = parse("gemini-json", json.dumps(data)).usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.model) == (200, 40, None)


@pytest.mark.parametrize("fmt", ["claude-json", "codex-jsonl", "gemini-json"])
@pytest.mark.parametrize("output", ["plain text answer\n", "", '{"type": "result"}', "[1, 2]", '{"response": 3}',
                                    '{"result": "cut in the mid'])
def test_anything_else_is_not_parsed(fmt, output):
    """Output that is not the format's shape gives None: the caller keeps the raw text and records no usage."""
    assert parse(fmt, output) is None


def test_a_reported_answer_without_usage_records_none():
    """A result without usage or cost: the answer is taken, the usage stays unknown (never a guess)."""
    reported = parse("claude-json", json.dumps({"type": "result", "result": "ok"}))
    assert (reported.text, reported.usage) == ("ok", None)


def test_nonsense_numbers_are_ignored():
    """Negative token counts, booleans and a non-finite cost are not taken as usage."""
    output = json.dumps({"type": "result", "result": "ok", "total_cost_usd": float("inf"),
                         "usage": {"input_tokens": -5, "output_tokens": True, "cache_read_input_tokens": 3}})
    usage = parse("claude-json", output).usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.cost_usd) == (3, 0, None)
