"""Parsing each agent CLI's machine-readable output (runtimes/usage.py): the real CLIs' captured output
(tests/runtimes/captured/, what the loopback model server sent in served.json) and the fake CLIs replaying it."""

from __future__ import annotations

import json

import pytest

from teambot.costs import priced
from teambot.runtimes.usage import parse
from teambot.settings import Price
from teambot.store.models import TokenUsage
from tests.runtimes import fake_clis

SERVED = json.loads((fake_clis.CAPTURED / "served.json").read_text(encoding="utf-8"))
FORMATS = {"claude": "claude-json", "codex": "codex-jsonl", "gemini": "gemini-json"}

TEXT = 'line one\n"two" \\ three\n'


def test_claude_result_gives_answer_tokens_and_reported_cost():
    """Claude's prompt is fresh + cache-created + cache-read input; its own total_cost_usd is kept."""
    reported = parse("claude-json", fake_clis.claude(TEXT, (1000, 200, 400), 0.0123))
    assert reported.text == TEXT
    assert reported.usage == TokenUsage(prompt_tokens=1000, completion_tokens=200, cached_prompt_tokens=400,
                                        cost_usd=0.0123, model="claude-opus-4-8")


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
    """Gemini given a model: prompt includes cached tokens; thoughts are billed as output; the model is named."""
    output = fake_clis.gemini(TEXT, (1000, 200, 400), model="gemini-2.5-pro")
    reported = parse("gemini-json", "Loaded cached credentials.\n" + output)
    assert reported.text == TEXT
    assert reported.usage == TokenUsage(prompt_tokens=1000, completion_tokens=200, cached_prompt_tokens=400,
                                        model="gemini-2.5-pro")


def test_gemini_with_two_models_names_none():
    """Two models in Gemini's stats (its router's and the routed one): the tokens add up, and no single model
    (price) is named."""
    data = json.loads(fake_clis.gemini(TEXT, (100, 20, 0)))
    assert len(data["stats"]["models"]) == 2
    for body in data["stats"]["models"].values():
        body["tokens"].update(prompt=100, candidates=15, thoughts=5)
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


def expected_usage(run: dict) -> TokenUsage:
    """What the loopback server reported to one captured CLI run, in teambot's terms (summed over requests)."""
    total = TokenUsage(prompt_tokens=0, completion_tokens=0)
    for served in run["served"]:
        u = served["usage"]
        if served["api"] == "anthropic":  # cached input counted apart from input_tokens
            cached = u["cache_read_input_tokens"]
            prompt = u["input_tokens"] + u["cache_creation_input_tokens"] + cached
            one = TokenUsage(prompt_tokens=prompt, completion_tokens=u["output_tokens"], cached_prompt_tokens=cached)
        elif served["api"] == "openai-responses":  # cached input inside input_tokens, reasoning inside output
            one = TokenUsage(prompt_tokens=u["input_tokens"], completion_tokens=u["output_tokens"],
                             cached_prompt_tokens=u["input_tokens_details"]["cached_tokens"])
        else:  # gemini: cached inside promptTokenCount, thoughts apart from candidates
            one = TokenUsage(prompt_tokens=u["promptTokenCount"], cached_prompt_tokens=u.get("cachedContentTokenCount", 0),
                             completion_tokens=u["candidatesTokenCount"] + u.get("thoughtsTokenCount", 0))
        total = total.plus(one)
    return total


@pytest.mark.parametrize("run", sorted(SERVED))
def test_each_captured_output_reads_as_the_server_sent(run):
    """The verbatim output of each real CLI gives the answer and the tokens the loopback server sent; claude's
    own cost is kept, gemini names a model only when one did all the work (given with --model)."""
    record = SERVED[run]
    cli = record["argv"][0]
    output = (fake_clis.CAPTURED / record["fixture"]).read_text(encoding="utf-8")
    reported = parse(FORMATS[cli], output)
    assert reported.text == record["answer"]
    usage = reported.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.cached_prompt_tokens) == (
        expected_usage(record).prompt_tokens, expected_usage(record).completion_tokens,
        expected_usage(record).cached_prompt_tokens)
    models = {s["model"] for s in record["served"]}
    if cli == "claude":  # its own price list: kept as reported, named by the model the API was asked for
        assert usage.cost_usd == json.loads(output)["total_cost_usd"] > 0
        assert usage.model == models.pop()
    elif cli == "gemini":
        assert usage.cost_usd is None and usage.model == (models.pop() if len(models) == 1 else None)
    else:
        assert (usage.cost_usd, usage.model) == (None, None)


def test_captured_usage_without_a_cost_is_priced_from_prices():
    """Codex and Gemini report no cost: tokens x `prices` of the model (Gemini's own, Codex's configured)."""
    prices = {"gpt-5-codex": Price(input=1.25, output=10, cached_input=0.125), "gemini-2.5-pro": Price(input=1.25, output=10)}
    codex = parse("codex-jsonl", fake_clis.captured("codex")).usage
    # 3512 input of which 1408 cached, 77 output (19 of them reasoning)
    assert priced(codex, "gpt-5-codex", prices).cost_usd == pytest.approx((2104 * 1.25 + 1408 * 0.125 + 77 * 10) / 1e6)
    gemini = parse("gemini-json", fake_clis.captured("gemini", with_model=True)).usage
    # 4321 prompt (1024 cached, at the input price: no cached price), 66 candidates + 22 thoughts
    assert priced(gemini, None, prices).cost_usd == pytest.approx((4321 * 1.25 + 88 * 10) / 1e6)
    routed = parse("gemini-json", fake_clis.captured("gemini")).usage
    assert priced(routed, None, prices).cost_usd is None  # two models, none configured: tokens only
    assert priced(routed, "gemini-2.5-pro", prices).cost_usd == pytest.approx((5133 * 1.25 + 107 * 10) / 1e6)


@pytest.mark.parametrize("run", ["claude", "claude-model", "codex", "gemini-model"])
def test_the_fake_clis_replay_the_capture_byte_for_byte(run):
    """Given the captured answer and numbers, a fake CLI prints exactly what the real CLI printed: only the
    answer, the usage (and claude's cost, a given model's name) are substituted."""
    record = SERVED[run]
    cli, raw = record["argv"][0], (fake_clis.CAPTURED / record["fixture"]).read_text(encoding="utf-8")
    model = record["argv"][record["argv"].index("--model") + 1] if "--model" in record["argv"] else None
    [u] = [s["usage"] for s in record["served"]]
    if cli == "claude":
        tokens = (u["input_tokens"] + u["cache_creation_input_tokens"] + u["cache_read_input_tokens"],
                  u["output_tokens"], u["cache_read_input_tokens"])
        replay = fake_clis.claude(record["answer"], tokens, json.loads(raw)["total_cost_usd"], model,
                                  created=u["cache_creation_input_tokens"])
    elif cli == "codex":
        tokens = (u["input_tokens"], u["output_tokens"], u["input_tokens_details"]["cached_tokens"])
        replay = fake_clis.codex(record["answer"], tokens, reasoning=u["output_tokens_details"]["reasoning_tokens"])
    else:
        tokens = (u["promptTokenCount"], u["candidatesTokenCount"] + u["thoughtsTokenCount"], u["cachedContentTokenCount"])
        replay = fake_clis.gemini(record["answer"], tokens, model, thoughts=u["thoughtsTokenCount"])
    assert replay == raw


def test_the_fake_gemini_without_a_model_keeps_the_routers_entry_at_zero():
    """Without --model the fake gemini replays both models of the capture, the given tokens on the main role's."""
    data = json.loads(fake_clis.gemini(TEXT, (1000, 200, 400)))
    captured = json.loads(fake_clis.captured("gemini"))
    assert list(data["stats"]["models"]) == list(captured["stats"]["models"])
    main = {name for name, body in data["stats"]["models"].items() if "main" in body["roles"]}
    for name, body in data["stats"]["models"].items():
        assert body["tokens"]["prompt"] == (1000 if name in main else 0)
        assert body["roles"].keys() == captured["stats"]["models"][name]["roles"].keys()
    assert parse("gemini-json", json.dumps(data)).usage.prompt_tokens == 1000
