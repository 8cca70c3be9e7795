"""Cost arithmetic, pricing and budget limits (costs.py), and TokenUsage's backward-compatible form."""

from __future__ import annotations

import pytest

from teambot.limits import Budget
from teambot.costs import Limits, cost_of, describe, priced, run_limits, spent
from teambot.settings import Price
from teambot.store.models import ChildRecord, RunBudget, RunRecord, StageRecord, TokenUsage


def test_cost_is_tokens_times_price_per_million_with_cached_input_apart():
    """(fresh input x input + cached x cached_input + output x output) / 1e6."""
    usage = TokenUsage(prompt_tokens=1_000_000, completion_tokens=200_000, cached_prompt_tokens=400_000)
    assert cost_of(usage, Price(input=3.0, output=15.0, cached_input=0.3)) == pytest.approx(0.6 * 3 + 0.4 * 0.3 + 0.2 * 15)
    assert cost_of(usage, Price(input=3.0, output=15.0)) == pytest.approx(1.0 * 3 + 0.2 * 15)  # no cached price


def test_priced_keeps_a_reported_cost_and_prices_by_the_reported_model_first():
    """A reported cost stands; else the runtime's model's price, else the configured model's; else none."""
    prices = {"a": Price(input=1, output=2), "b": Price(input=10, output=20)}
    reported = TokenUsage(prompt_tokens=10, cost_usd=0.5, model="a")
    assert priced(reported, "b", prices) == reported
    assert priced(TokenUsage(prompt_tokens=1_000_000, model="a"), "b", prices).cost_usd == pytest.approx(1)
    assert priced(TokenUsage(prompt_tokens=1_000_000), "b", prices).cost_usd == pytest.approx(10)
    assert priced(TokenUsage(prompt_tokens=5), "c", prices) == TokenUsage(prompt_tokens=5)  # tokens only: never a guess
    assert priced(None, "a", prices) is None


def test_sums_keep_known_costs_and_the_one_model():
    """Adding usage adds tokens and known costs; the model is kept only when one is named."""
    a = TokenUsage(prompt_tokens=1, completion_tokens=2, cost_usd=0.25, model="m")
    b = TokenUsage(prompt_tokens=3, cached_prompt_tokens=1)
    total = a.plus(b)
    assert total == TokenUsage(prompt_tokens=4, completion_tokens=2, cached_prompt_tokens=1, cost_usd=0.25, model="m")
    assert total.plus(TokenUsage(model="n")).model is None
    assert b.plus(b).cost_usd is None


def test_unset_fields_are_left_out_of_the_json():
    """Records without cost, cache or model serialise exactly as before the fields existed."""
    assert TokenUsage(prompt_tokens=5, completion_tokens=7).model_dump(mode="json") == {"prompt_tokens": 5, "completion_tokens": 7}
    assert TokenUsage.model_validate({"prompt_tokens": 5, "completion_tokens": 7}).cost_usd is None


def test_limits_are_reached_at_the_limit():
    """A budget is reached when the spend equals or passes it; an unknown cost never reaches max_cost."""
    limits = Limits(max_cost=1.0, max_tokens=100)
    assert limits.reached(TokenUsage(prompt_tokens=50, cost_usd=0.99)) is None
    assert limits.reached(TokenUsage(prompt_tokens=50, cost_usd=1.0)) == "max_cost $1.00"
    assert limits.reached(TokenUsage(prompt_tokens=60, completion_tokens=40)) == "max_tokens 100"
    assert Limits(max_cost=0.5).reached(TokenUsage(prompt_tokens=10**9)) is None


def test_run_limits_take_the_command_line_over_teambot_yaml():
    """`resume --max-cost` (kept in the run record) replaces teambot.yaml's max_cost, and keeps its max_tokens."""
    run = RunRecord(feature="f", objective_path="o", objective_sha256="x", stages_path="s", stages_sha256="y")
    assert run_limits(Budget(max_cost=1, max_tokens=10), run) == Limits(1, 10)
    run.budget = RunBudget(max_cost=5)
    assert run_limits(Budget(max_cost=1, max_tokens=10), run) == Limits(5, 10)
    assert run_limits(None, run) == Limits(5, None)


def test_spent_adds_stages_and_their_children():
    """The run's spend is every stage's and task's usage; a stage's is its own plus its tasks'."""
    records = {"A": StageRecord(name="A", usage=TokenUsage(prompt_tokens=10, cost_usd=0.1)),
               "B": StageRecord(name="B", usage=TokenUsage(prompt_tokens=5))}
    children = {"B/T1": ChildRecord(id="B/T1", usage=TokenUsage(completion_tokens=7, cost_usd=0.2))}
    total = spent(records, children)
    assert (total.prompt_tokens, total.completion_tokens, total.cost_usd) == (15, 7, pytest.approx(0.3))
    assert spent(records, children, "B") == TokenUsage(prompt_tokens=5, completion_tokens=7, cost_usd=0.2)
    assert describe(spent(records, children, "B")) == "$0.2000, 12 tokens"
    assert describe(TokenUsage(prompt_tokens=1234)) == "1,234 tokens"


def test_bad_prices_and_budget_are_reported_with_their_place(tmp_path):
    """A negative price, a missing output price and a zero budget are each reported as file:line:col (exit 2)."""
    from teambot.errors import ConfigError
    from teambot.settings import read_settings

    (tmp_path / "teambot.yaml").write_text("prices:\n  m: {input: -1}\nbudget:\n  max_cost: 0\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        read_settings(tmp_path)
    problems = "\n".join(err.value.problems)
    assert "prices.m.input" in problems and "prices.m.output" in problems and "budget.max_cost" in problems
    assert err.value.exit_code == 2


def test_stage_budget_and_model_are_checked_by_validate(tmp_path):
    """`teambot validate` accepts a stage budget and model, and refuses an unknown budget key naming its place."""
    from tests.helpers import teambot

    good = "stages:\n  A:\n    work_agent: ba\n    budget: {max_cost: 1.5, max_tokens: 1000}\n    model: m\nstage_order: [A]\n"
    (tmp_path / "stages.yaml").write_text(good, encoding="utf-8")
    assert teambot("validate", "stages.yaml", cwd=tmp_path).returncode == 0
    (tmp_path / "stages.yaml").write_text(good.replace("max_tokens", "max_tokenz"), encoding="utf-8")
    proc = teambot("validate", "stages.yaml", cwd=tmp_path)
    assert proc.returncode == 2 and "stages.A.budget.max_tokenz" in proc.stdout + proc.stderr


def test_model_and_budget_on_a_stage_without_agent_are_warned_about(tmp_path):
    """A command stage with `model:` or `budget:` validates, with a warning that they do nothing there."""
    from tests.helpers import teambot

    (tmp_path / "stages.yaml").write_text("stages:\n  LINT:\n    run: [[echo, hi]]\n    model: m\n    budget: {max_tokens: 5}\n"
                                          "stage_order: [LINT]\n", encoding="utf-8")
    proc = teambot("validate", "stages.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert "stages.LINT.model: model has no effect: LINT calls no agent" in out
    assert "stages.LINT.budget: budget has no effect: LINT calls no agent" in out
