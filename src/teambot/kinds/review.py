"""A review stage: work agent produces or revises → reviewer reviews → verdict, until approved.

Steps of one iteration, each committed as it ends: `work` (the work agent's output and the
declared artifacts it wrote), `review` (with its verdict when the review has a verdict
line), then, only when it has none, `verdict` (the reviewer asked once more). A review or
answer that was cut (output cap, an HTTP length limit) has no verdict, whatever it says: an
early approval must not stand for a rejection that was cut off. The reviewer of a cut review
is asked for the whole (shorter) review again, without being shown the cut one. A resumed
run continues at the first step the newest iteration lacks. Out of iterations, the stage
is blocked and review-failure-<STAGE>.md says why.
"""

from __future__ import annotations

import asyncio

from teambot import approvals
from teambot.errors import AgentError, StageBlocked
from teambot.fsutil import sha256_file
from teambot.config.models import StageConfig, StageKindName
from teambot.kinds import loop
from teambot.kinds.base import REPORT_KINDS, Attempted, KindDefaults
from teambot.kinds.context import StageWork
from teambot.kinds.gitinfo import git_summary
from teambot.verdict import Verdict, parse_verdict
from teambot.prompts.assemble import RenderedPrompt
from teambot.prompts.loops import render_cut_review_request, render_review_prompt, render_verdict_request
from teambot.runtimes.base import StageResult
from teambot.store.models import Iteration

CUT_REVIEW = "the review was cut (output limit): no verdict read from it"


def ended(it: Iteration) -> bool:
    return it.verdict is not None


def succeeded(it: Iteration) -> bool:
    return it.verdict == Verdict.APPROVED


def configured_budget(work: StageWork) -> int:
    return work.stage.max_iterations or work.settings.review_iterations


async def run_review(work: StageWork) -> str:
    """Iterate until approved; returns the stage output."""
    budget = loop.budget_of(work.record, configured_budget(work))
    return await loop.iterate(
        work, budget, ended=ended, succeeded=succeeded,
        steps=[(lambda it: it.work is None, lambda it: _work_step(work, it, budget)),
               (lambda it: it.review is None, lambda it: _review_step(work, it, budget)),
               (lambda it: it.verdict is None, lambda it: _verdict_step(work, it, budget))],
        finish=lambda it: _approved(work, it),
        blocked=lambda: blocked_report(work, budget),
    )


async def _work_step(work: StageWork, it: Iteration, budget: int) -> Iteration:
    stage = work.stage
    prev = loop.previous(work.record, it)
    feedback = title = None
    if prev is not None and prev.verdict == Verdict.CHANGES_REQUESTED:
        feedback = work.read(prev.review)
        if prev.verdict_request is not None:
            feedback += "\n\n" + work.read(prev.verdict_request)
        title = f"Changes requested by {stage.review_agent} in iteration {prev.number}"
    result = await loop.call_work_agent(work, it, budget, kind="review", feedback=feedback, title=title)
    hashes = {}
    for artifact in stage.artifacts:
        path = work.paths.artifact(artifact)
        if artifact not in result.artifacts or not path.is_file() or path.stat().st_size == 0:
            raise AgentError(f"iteration {it.number}: declared artifact {artifact} was not written by the work step",
                             retryable=True)
        hashes[artifact] = sha256_file(path)
    it = loop.update(work, it, work=work.save(it.number, "work", result.output), artifacts=hashes)
    work.emit("step_completed", iteration=it.number, step="work", agent=stage.work_agent)
    return it


async def _review_prompt(work: StageWork, it: Iteration, budget: int) -> RenderedPrompt:
    stage = work.stage
    under_review = list(dict.fromkeys([*(work.paths.artifact(a) for a in stage.artifacts), *work.upstream]))
    return render_review_prompt(work.name, stage, work.objective, persona=work.persona(stage.review_agent),
                                under_review=under_review, work_output=work.read(it.work), project_dir=work.project_dir,
                                iteration=it.number, position=loop.position(work.record, it), budget=budget,
                                git=await git_summary(work.workdir, work.integration.base if work.integration else None),
                                paths=work.paths, workdir=work.workdir)


async def _review_step(work: StageWork, it: Iteration, budget: int) -> Iteration:
    stage = work.stage
    prompt = await _review_prompt(work, it, budget)
    if approvals.is_human(stage.review_agent):  # a person reviews: wait for `teambot review`
        raise approvals.human_review(work, it, prompt)
    result = await work.call(stage.review_agent, prompt, kind="review", step="review", iteration=it.number)
    verdict = await _verdict_of(result)
    changes: dict = {"review": work.save(it.number, "review", result.output)}
    if verdict is not None:
        changes |= {"verdict": verdict.value, "verdict_note": "verdict line in the review",
                    "feedback": loop.excerpt(work.redact(result.output))}
    elif result.truncated:  # read by the verdict step (also after a resume)
        changes |= {"verdict_note": CUT_REVIEW}
    it = loop.update(work, it, **changes)
    work.emit("step_completed", iteration=it.number, step="review", agent=stage.review_agent,
              verdict=verdict.value if verdict else None)
    return it


async def _verdict_step(work: StageWork, it: Iteration, budget: int) -> Iteration:
    stage = work.stage
    review = work.read(it.review)
    cut = it.verdict_note == CUT_REVIEW
    if cut:  # the whole review again: the cut one is not shown (its early approval would be repeated)
        prompt = render_cut_review_request(await _review_prompt(work, it, budget), _saved_size(work, it))
    else:
        prompt = render_verdict_request(work.name, persona=work.persona(stage.review_agent), review=review,
                                        iteration=it.number)
    result = await work.call(stage.review_agent, prompt, kind="review", step="verdict", iteration=it.number)
    verdict = await _verdict_of(result)
    if verdict is not None:
        note = "verdict line given when asked again" + (" (the review was cut)" if cut else "")
    elif result.truncated:
        note = "the answer was cut too (output limit): counted as changes requested"
    else:
        note = "no verdict line, even when asked again: counted as changes requested"
    verdict = verdict or Verdict.CHANGES_REQUESTED
    saved = work.save(it.number, "verdict", result.output)
    feedback = loop.excerpt(work.read(saved) if cut else review)  # a cut review's findings are in the new one
    it = loop.update(work, it, verdict_request=saved, verdict=verdict.value, verdict_note=note, feedback=feedback)
    work.emit("step_completed", iteration=it.number, step="verdict", agent=stage.review_agent, verdict=verdict.value)
    return it


def _saved_size(work: StageWork, it: Iteration) -> int:
    """How many bytes of the cut review were kept (about the output limit it went over)."""
    try:
        return (work.paths.root / it.review.file).stat().st_size
    except (OSError, AttributeError):
        return 0


async def _verdict_of(result: StageResult) -> Verdict | None:
    """The verdict of a review or answer; None when it was cut. Parsed in a thread: a reviewer
    that wrote megabytes must not stall the other stages (the parser is pure Python)."""
    if result.truncated:
        return None
    return await asyncio.to_thread(parse_verdict, result.output)


def _approved(work: StageWork, it: Iteration) -> str:
    return "\n".join([
        f"# {work.name}: approved in iteration {it.number}", "",
        f"## Work ({work.stage.work_agent})", "", work.read(it.work).strip(), "",
        f"## Review ({work.stage.review_agent})", "", work.read(it.review).strip(), "",
    ])


def blocked_report(work: StageWork, budget: int) -> StageBlocked:
    record, stage = work.record, work.stage
    last = record.iterations[-1]
    path = work.paths.report(work.name, "review-failure")
    rows = [f"| {i.number} | {i.verdict or '-'} | {i.verdict_note or ''} |" for i in record.iterations]
    text = "\n".join([
        f"# Review failure: {work.name}", "",
        f"The reviewer ({stage.review_agent}) did not approve {work.name} in {budget} iteration"
        f"{'s' if budget != 1 else ''} (run {work.paths.feature}; work agent {stage.work_agent}).", "",
        f"## Last feedback (iteration {last.number}, {last.review.file if last.review else 'no review'})", "",
        work.read(last.review).strip() or "(no review text)", "",
        "## History", "", "| iteration | verdict | how |", "|---|---|---|", *rows, "",
        "## What to do", "",
        "- Read the feedback. Fix what the agents could not (edit the files under review yourself) if needed.",
        f"- Give the stage a fresh budget, then continue: `teambot unblock {work.name} {work.paths.feature}` "
        f"and `teambot resume {work.paths.feature}`. Every iteration so far stays in the history.", "",
    ])
    return loop.report_blocked(path, text, f"not approved after {budget} iteration{'s' if budget != 1 else ''}",
                               kind="iterations", link="last feedback in", redact=work.redact)


class ReviewKind(KindDefaults):
    """is_review_stage: work agent → reviewer → verdict, until approved; holds both agents."""

    name = StageKindName.REVIEW
    ended = staticmethod(ended)
    succeeded = staticmethod(succeeded)
    configured_budget = staticmethod(configured_budget)
    blocked_report = staticmethod(blocked_report)

    def holds(self, stage: StageConfig) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a for a in (stage.work_agent, stage.review_agent) if a and not approvals.is_human(a)))

    def precheck(self, work: StageWork) -> StageBlocked | None:
        gate = super().precheck(work)
        # resumed with its budget still spent: blocked again, nothing to attempt
        return gate if gate is not None else loop.spent_budget(work, self)

    async def attempt(self, work: StageWork) -> Attempted:
        return Attempted(await run_review(work), usage=work.usage)

    def stale_reports(self, stage: StageConfig) -> tuple[str, ...]:
        return REPORT_KINDS
