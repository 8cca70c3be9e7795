"""What agent calls cost, and the budgets that cap it (design: .agent-tracking/design/budgets.md).

Prices: teambot.yaml `prices` maps a model to US dollars per million input, output and
cached input tokens; a call whose runtime reported no cost is priced with them (the router
does it, for every runtime). A model without a price gets tokens only, never a guessed cost.

Budgets: the run's (teambot.yaml `budget`, raised by `resume --max-cost/--max-tokens`, kept
in the run record) and each stage's (stages.yaml `budget`). Spending is everything recorded
in the run: every stage's and task's usage, across attempts, resumes and reruns.

Checked after every agent call: `BudgetWatch` observes the run's records (records.py), and
when a call's recorded usage reaches the run's budget, every other running stage stops at once
(the executor cancels it: its agent's process group is ended, the stage is recorded blocked). A
task stage checks its own budget after each task's call the same way (kinds/task_run.py). The
call that crossed a budget keeps its result (paid work is never thrown away); `guard` then
refuses the next call, and stages not started yet are blocked before they start (StageBlocked,
kind "budget").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from teambot.errors import StageBlocked
from teambot.store.models import TokenUsage

if TYPE_CHECKING:  # pragma: no cover - typing only
    from teambot.limits import Budget
    from teambot.settings import Price
    from teambot.store.models import ChildRecord, RunRecord, StageRecord

MILLION = 1_000_000


def priced(usage: TokenUsage | None, model: str | None, prices: Mapping[str, Price]) -> TokenUsage | None:
    """`usage` with its cost: as the runtime reported it, else tokens x the price of its model
    (the model the runtime reported, else `model`), else none."""
    if usage is None or usage.cost_usd is not None:
        return usage
    name = usage.model or model
    price = prices.get(name) if name else None
    if price is None:
        return usage  # tokens only
    return usage.model_copy(update={"cost_usd": cost_of(usage, price), "model": name})


def cost_of(usage: TokenUsage, price: Price) -> float:
    """US dollars for `usage` at `price` (per million tokens; cached input at its own price if set)."""
    cached = min(usage.cached_prompt_tokens, usage.prompt_tokens)
    cached_price = price.cached_input if price.cached_input is not None else price.input
    dollars = ((usage.prompt_tokens - cached) * price.input + cached * cached_price
               + usage.completion_tokens * price.output) / MILLION
    return round(dollars, 10)  # no float dust in state and status


@dataclass(frozen=True)
class Limits:
    """One budget: US dollars and tokens (None: no limit)."""

    max_cost: float | None = None
    max_tokens: int | None = None

    @classmethod
    def of(cls, budget: Budget | None) -> Limits:
        return cls() if budget is None else cls(budget.max_cost, budget.max_tokens)

    def raised(self, max_cost: float | None, max_tokens: int | None) -> Limits:
        return Limits(self.max_cost if max_cost is None else max_cost,
                      self.max_tokens if max_tokens is None else max_tokens)

    def reached(self, spent: TokenUsage) -> str | None:
        """Which limit `spent` has reached ("max_cost $1.00", "max_tokens 5,000"), or None."""
        if self.max_cost is not None and (spent.cost_usd or 0.0) >= self.max_cost:
            return f"max_cost {money(self.max_cost)}"
        if self.max_tokens is not None and spent.total >= self.max_tokens:
            return f"max_tokens {self.max_tokens:,}"
        return None


def run_limits(configured: Budget | None, run: RunRecord) -> Limits:
    """The run's budget: teambot.yaml's, with what `resume --max-cost/--max-tokens` set on top."""
    limits = Limits.of(configured)
    if run.budget is not None:
        limits = limits.raised(run.budget.max_cost, run.budget.max_tokens)
    return limits


def spent(records: Mapping[str, StageRecord], children: Mapping[str, ChildRecord], stage: str | None = None) -> TokenUsage:
    """Everything recorded as spent by the run, or by one stage with its children (tasks)."""
    total = TokenUsage()
    for name, record in records.items():
        if stage is None or name == stage:
            total = total.plus(record.usage)
    for child in children.values():
        if stage is None or child.stage == stage:
            total = total.plus(child.usage)
    return total


def describe(usage: TokenUsage) -> str:
    """`$0.0123, 4,567 tokens` (tokens only when no cost is known)."""
    tokens = f"{usage.total:,} tokens"
    return tokens if usage.cost_usd is None else f"{money(usage.cost_usd)}, {tokens}"


def money(dollars: float) -> str:
    return f"${dollars:.4f}" if dollars < 1 else f"${dollars:,.2f}"


def guard(work) -> None:
    """Before an agent call: raise StageBlocked (kind "budget") when the stage's or the run's budget is reached.

    `work` is the stage's kinds.context.StageWork (not imported: kinds are the executor's to use).
    """
    blocked = over_budget(work)
    if blocked is not None:
        raise blocked


def over_budget(work) -> StageBlocked | None:
    """The StageBlocked (kind "budget") for a stage whose own or the run's budget is reached, or None."""
    policy = work.costs
    if policy is None:
        return None
    stage_limits = Limits.of(work.stage.budget)
    if stage_limits.max_cost is not None or stage_limits.max_tokens is not None:
        used = spent(work.records, work.children, work.name)
        limit = stage_limits.reached(used)
        if limit is not None:
            return _blocked(work, "stage", limit, used,
                            f"stage {work.name} reached its budget ({limit}, stages.{work.name}.budget): it has spent "
                            f"{describe(used)}; raise the budget in the stages file, then "
                            f"`teambot resume {work.paths.feature}`")
    limits = policy.limits()
    if limits == Limits():  # no run budget: nothing to add up (spent() walks every record)
        return None
    used = spent(work.records, work.children)
    limit = limits.reached(used)
    if limit is not None:
        return _blocked(work, "run", limit, used, run_budget_message(work.paths.feature, limit, used))
    return None


def _blocked(work, scope: str, limit: str, used: TokenUsage, message: str) -> StageBlocked:
    key = (scope, work.name if scope == "stage" else None, limit)
    if key not in work.costs.announced:  # once, not at every refused call
        work.costs.announced.add(key)
        work.emit("budget_exceeded", scope=scope, limit=limit, tokens=used.total, cost_usd=used.cost_usd)
    return StageBlocked(message, kind="budget")


def run_budget_message(feature: str, limit: str, used: TokenUsage) -> str:
    flag = "--max-cost" if limit.startswith("max_cost") else "--max-tokens"
    return (f"the run reached its budget ({limit}): it has spent {describe(used)}; continue with a higher "
            f"one: `teambot resume {feature} {flag} N`")


class BudgetWatch:
    """Observes the run's records: when recorded usage (after an agent call) reaches the run's
    budget, calls `on_reached(stage, limit, spent)` once, naming the stage whose call reached it."""

    def __init__(self, records, policy: CostPolicy, on_reached) -> None:
        self.records = records
        self.policy = policy
        self.on_reached = on_reached
        self._seen = {name: r.usage for name, r in records.items()} | {cid: c.usage for cid, c in records.children.items()}
        self.reached: str | None = None  # the limit, once reached

    def stage_changed(self, record) -> None:
        self._changed(record.name, record.name, record.usage)

    def child_changed(self, record) -> None:
        self._changed(record.id, record.stage, record.usage)

    def run_changed(self, run, stages) -> None:
        pass

    async def settled(self) -> None:
        return None

    def _changed(self, key: str, stage: str, usage: TokenUsage | None) -> None:
        if usage is None or self._seen.get(key) == usage:
            return
        self._seen[key] = usage  # new usage: an agent call just ended
        if self.reached is not None:
            return
        used = spent(self.records, self.records.children)
        limit = self.policy.limits().reached(used)
        if limit is not None:
            self.reached = limit
            self.on_reached(stage, limit, used)


class CostPolicy:
    """The run's budget as a live run sees it (the executor hands it to every stage)."""

    def __init__(self, configured: Budget | None, run: RunRecord) -> None:
        self.configured = configured
        self.run = run
        self.announced: set[tuple[str, str | None, str]] = set()  # budget_exceeded sent (scope, stage, limit)

    def limits(self) -> Limits:
        return run_limits(self.configured, self.run)


def raise_budget(run: RunRecord, max_cost: float | None, max_tokens: int | None) -> None:
    """`resume --max-cost/--max-tokens`: the run's new budget, kept in its record for later resumes."""
    from teambot.store.models import RunBudget

    old = run.budget or RunBudget()
    run.budget = RunBudget(max_cost=old.max_cost if max_cost is None else max_cost,
                           max_tokens=old.max_tokens if max_tokens is None else max_tokens)
