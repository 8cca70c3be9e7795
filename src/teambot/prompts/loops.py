"""Prompts of the iterating stages: the work step with feedback, the review, the verdict request.

The work prompt is the stage's usual prompt (assemble.render_prompt) plus what the last
iteration taught: the reviewer's requested changes, or the failing acceptance tests. The
review prompt gives the reviewer the objective, the work under review and the verdict
protocol (kinds/verdict.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from teambot.config.models import StageConfig, StageKindName
from teambot.verdict import APPROVED_LINE, CHANGES_LINE
from teambot.objective import Objective
from teambot.paths import RunPaths
from teambot.prompts.assemble import (RenderedPrompt, artifact_text, criteria_section, files_section, locations_section,
                                     render_prompt, stage_context, stage_title)

VERDICT_RULES = f"""## Your verdict

Review the work against the objective, the instructions and the exit criteria. List each
finding with where it is (file, section), what is wrong and what would fix it, most severe
first. Then end your review with one line that is exactly one of these, on its own:

{APPROVED_LINE}
{CHANGES_LINE}

Approve only when nothing blocking is left. Anything else than that exact line (a
paraphrase, markdown around it, a negation) is not an approval."""


def render_work_prompt(stage_name: str, stage: StageConfig, objective: Objective, upstream: Sequence[Path],
                       project_dir: Path, *, persona: str | None, iteration: int, position: int, budget: int,
                       feedback: str | None, feedback_title: str | None, own_files: Sequence[Path] = (),
                       previous_output: str | None = None, paths: RunPaths, workdir: Path | None = None) -> RenderedPrompt:
    """The work agent's prompt for one iteration; `feedback` is what the previous one ended with.

    With feedback, the agent also sees what it is revising: the stage's own files as they are
    now (`own_files`) and what it reported last time (`previous_output`).
    """
    base = render_prompt(stage_name, stage, objective, upstream, project_dir, persona=persona, paths=paths, workdir=workdir)
    parts = [base.user.rstrip(), "", f"## Iteration {iteration} ({position} of at most {budget} in this budget)", ""]
    if feedback:
        parts += [f"### {feedback_title or 'Feedback'}", "", feedback.strip(), ""]
        if previous_output:
            parts += ["### What you reported in the previous iteration", "", previous_output.strip(), ""]
        for path in own_files:
            parts += [f"### Your {path.name} as it is now ({path})", "", artifact_text(path), ""]
        if stage.kind is StageKindName.ACCEPTANCE:
            parts += ["Fix the implementation so these acceptance tests pass. Do not weaken, skip or delete "
                      "tests to make them pass; teambot runs the acceptance command itself after you finish "
                      "and decides from its real results.", ""]
        else:
            parts += ["Address every requested change: revise the work under review and the files listed "
                      "above, and say what you changed. The reviewer will look again.", ""]
    elif stage.kind is StageKindName.ACCEPTANCE:
        parts += ["Write or update the executable acceptance tests. When you finish, teambot runs the "
                  "acceptance command itself and decides from its real results, not from your report.", ""]
    return RenderedPrompt(system=base.system, user="\n".join(parts))


def render_review_prompt(stage_name: str, stage: StageConfig, objective: Objective, *, persona: str | None,
                         under_review: Sequence[Path], work_output: str, project_dir: Path, iteration: int,
                         position: int, budget: int, git: str | None, paths: RunPaths,
                         workdir: Path | None = None) -> RenderedPrompt:
    """The reviewer's prompt: objective, the files under review, the work agent's output, git."""
    parts = [f"# Review: {stage_title(stage_name, stage)}, iteration {iteration} "
             f"({position} of at most {budget} in this budget)", ""]
    parts += [f"You are reviewing as **{stage.review_agent}** the work of **{stage.work_agent}**.", ""]
    parts += locations_section(project_dir, paths, workdir)
    parts += stage_context(stage, objective, project_dir, "Instructions the work followed")
    parts += files_section("Under review", under_review)
    parts += [f"## What {stage.work_agent} reported (iteration {iteration})", "", work_output.strip() or "(nothing)", ""]
    if git:
        parts += ["## Changes in the project (git)", "", git, ""]
    parts += criteria_section(stage)
    parts += [VERDICT_RULES, ""]
    return RenderedPrompt(system=persona, user="\n".join(parts))


def render_verdict_request(stage_name: str, *, persona: str | None, review: str, iteration: int) -> RenderedPrompt:
    """Asked once when a review has no verdict line."""
    user = "\n".join([
        f"# Verdict needed: {stage_name}, iteration {iteration}", "",
        "Your review below has no verdict line, so teambot cannot tell whether you approve.",
        "Reply with one line that is exactly one of these (nothing else is needed):", "",
        APPROVED_LINE, CHANGES_LINE, "",
        "Without that line the review counts as changes requested.", "",
        "## Your review", "", review.strip() or "(empty)", "",
    ])
    return RenderedPrompt(system=persona, user=user)


def render_cut_review_request(review_prompt: RenderedPrompt, limit: int) -> RenderedPrompt:
    """Asked once when a review was cut: the review prompt again, without the cut review.

    The cut text is left out on purpose: it may hold an early `VERDICT: APPROVED` whose final
    rejection was cut off, and a reviewer shown it would likely repeat that approval."""
    note = "\n".join([
        "## Your previous review was cut", "",
        f"Your previous review of this work was cut at teambot's output limit: it went over about "
        f"{limit:,} bytes, so its end (and your verdict) is missing and it is not shown again. Review "
        "the work again from the start: keep the review short (the blocking findings, briefly, well "
        "under that size) and end it with the verdict line.", "",
    ])
    return RenderedPrompt(system=review_prompt.system, user=review_prompt.user.rstrip() + "\n\n" + note)
