"""People in the loop: approval gates (`approval: required`) and human reviewers (`review_agent: human`).

A stage whose work succeeded waits in `awaiting_approval`; a human review step waits in
`awaiting_review`. Nothing runs for a waiting stage and nothing is lost: its work is
committed before it waits. Decisions come through the run's inbox (inbox.py); the executor
polls it while anything waits and applies a decision here, through the stage's lifecycle:
an approval finishes the stage (its dependents start), a rejection sends it back to
pending with the comment as feedback for its next attempt, a review verdict is recorded in
the iteration exactly where an agent reviewer's would be, and the loop goes on from it.
Design: .agent-tracking/design/approvals.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from teambot.config.people import HUMAN, is_human, needs_approval
from teambot.errors import EXIT_WAITING, AwaitingPerson
from teambot.lifecycle import StageLifecycle, StageStatus
from teambot.paths import RunPaths
from teambot.store.models import Decision, Iteration, StageRecord, StepRecord, now_iso

if TYPE_CHECKING:
    from teambot.prompts.assemble import RenderedPrompt

__all__ = ["HUMAN", "POLL_SECONDS", "is_human", "needs_approval", "take_decision"]

POLL_SECONDS = 0.5  # how often a live run looks into its inbox while a stage waits


class StageAccess(Protocol):
    """What deciding on a stage needs of one stage's work (the executor's StageWork has it all)."""

    name: str
    paths: RunPaths

    @property
    def record(self) -> StageRecord: ...
    def commit(self, **changes: Any) -> StageRecord: ...
    def emit(self, type: str, **details: Any) -> Any: ...
    def step_path(self, iteration: int, step: str, suffix: str = ".md") -> Path: ...
    def save_text(self, path: Path, text: str) -> str: ...
    def save(self, iteration: int, step: str, text: str, suffix: str = ".md") -> StepRecord: ...


# -- the run side: waiting and applying a decision -------------------------------------------
def human_review(work: StageAccess, it: Iteration, prompt: RenderedPrompt) -> AwaitingPerson:
    """The review step of a human reviewer: save what an agent reviewer would be told (the person
    reads it), then wait. The verdict arrives through the inbox (take_decision)."""
    path = work.step_path(it.number, "review.request")
    work.save_text(path, prompt.text)
    return AwaitingPerson(f"iteration {it.number} waits for a human review ({path.relative_to(work.paths.root)})",
                          iteration=it.number)


def take_decision(work: StageAccess, lifecycle: StageLifecycle) -> StageStatus | None:
    """Apply the inbox's decision on the waiting stage `work.name`, if there is one that answers
    this wait (a stale one is dropped); returns the stage's new status, or None if it still waits."""
    from teambot import inbox

    entry = inbox.read_entry(work.paths, work.name)
    record = work.record
    if entry is None:
        return None
    if not inbox.answers(entry, record):
        inbox.remove(work.paths, work.name)
        work.emit("decision_ignored", action=entry.action, by=entry.by,
                  reason=f"it answers an earlier wait (attempt {entry.attempt}); the stage is {record.status.value}")
        return None
    decision = Decision(action=entry.action, by=entry.by, at=entry.at, comment=entry.comment, attempt=entry.attempt,
                        iteration=entry.iteration, applied_at=now_iso())
    history = {"decisions": [*record.decisions, decision], "waiting_since": None}
    details = {"by": entry.by, "comment": entry.comment}
    if entry.action == "approve":
        lifecycle.approve()
        work.commit(status=lifecycle.status, **history)
        work.emit("stage_approved", **details)
        work.emit("stage_succeeded", attempt=record.attempts, artifacts=sorted(record.artifacts), approved_by=entry.by)
    elif entry.action == "reject":
        lifecycle.reject()
        fresh = {"budget_start": len(record.iterations), "budget": None} if record.iterations else {}
        work.commit(status=lifecycle.status, error=None, **fresh, **history)  # a loop stage: a new iteration
        work.emit("stage_rejected", **details)
    else:
        _record_verdict(work, entry, history)
        lifecycle.reviewed()
        work.commit(status=lifecycle.status)
        work.emit("step_completed", iteration=entry.iteration, step="review", agent=HUMAN, verdict=entry.action)
        work.emit("review_given", verdict=entry.action, iteration=entry.iteration, **details)
    inbox.remove(work.paths, work.name)
    return lifecycle.status


def _record_verdict(work: StageAccess, entry, history: dict) -> None:
    """The person's verdict as the newest iteration's review: saved, then committed with it."""
    record = work.record
    it = record.iterations[-1]
    line = "VERDICT: APPROVED" if entry.action == "approved" else "VERDICT: CHANGES_REQUESTED"
    text = "\n".join([f"# Review of {work.name}, iteration {it.number}", "",
                      f"By {entry.by} (a person, {_through(entry.by)}) at {entry.at[:19]}.", "",
                      (entry.comment or "Approved.").strip(), "", line, ""])
    review = work.save(it.number, "review", text)
    changed = it.model_copy(update={"review": review, "verdict": entry.action,
                                    "verdict_note": f"given by {entry.by} with {_through(entry.by)}",
                                    "feedback": (entry.comment or "").strip() or None})
    work.commit(iterations=[*record.iterations[:-1], changed], **history)


# -- feedback of a rejection in the next prompt --------------------------------------------
def rejection(record: StageRecord) -> Decision | None:
    """The rejection the stage's next attempt answers: its newest decision, if it is one."""
    last = record.decisions[-1] if record.decisions else None
    return last if last is not None and last.action == "reject" else None


def with_rejection(prompt: RenderedPrompt, record: StageRecord) -> RenderedPrompt:
    """A plain stage's prompt plus the rejection it answers (if any), at its end."""
    from dataclasses import replace

    decision = rejection(record)
    if decision is None:
        return prompt
    return replace(prompt, user=prompt.user.rstrip("\n") + "\n\n" + "\n".join(rejection_section(decision)) + "\n")


def rejection_section(decision: Decision) -> list[str]:
    return [f"## Rejected by {decision.by} (a person) at {decision.at[:19]}", "",
            "Your previous result was not approved. Address this feedback:", "",
            (decision.comment or "(no comment given)").strip(), ""]


def loop_rejection(record: StageRecord, previous: Iteration | None) -> tuple[str, str] | None:
    """(feedback, title) for the first work step after a rejection of a review / acceptance stage."""
    decision = rejection(record)
    if decision is None or previous is None or decision.iteration != previous.number:
        return None
    return (decision.comment or "(no comment given)").strip(), f"Rejected by {decision.by} (a person) after iteration {previous.number}"


def _through(by: str) -> str:
    """How a person's verdict came: `teambot review`, or the HTTP API of `teambot serve` (`user@http`)."""
    return "the HTTP API of teambot serve" if by.endswith("@http") else "teambot review"


# -- the end of a process with waiting stages -------------------------------------------------
def decide_command(name: str, status: str, feature: str) -> str:
    if status == StageStatus.AWAITING_REVIEW:
        return f"teambot review {name} {feature} --approve | --request-changes TEXT"
    return f"teambot approve {name} {feature} [--comment TEXT]  (or: teambot reject {name} {feature} --comment TEXT)"


def produced(root: Path, record: StageRecord) -> list[str]:
    """What a person should look at before deciding: the stage's output and artifacts or, for a
    review, the newest iteration's work, the review request and the artifacts under review."""
    files = [root / "outputs" / f"{record.name}.md", *(root / "artifacts" / a for a in record.artifacts)]
    if record.status == StageStatus.AWAITING_REVIEW and record.iterations:
        it = record.iterations[-1]
        files = [*(root / s.file for s in (it.work,) if s is not None),
                 root / "iterations" / record.name / f"{it.number:02d}-review.request.md",
                 *(root / "artifacts" / a for a in it.artifacts)]
    return [str(p) for p in files if p.exists()]


def finish_waiting(records, events, outcome, say) -> int:
    """End the process with the run `waiting` (exit 4): what waits, and the command to decide."""
    from teambot.store.models import RunStatus

    run = records.run
    run.status = RunStatus.WAITING
    run.error = None
    records.save_run()
    events.emit("run_waiting", None, waiting=outcome.waiting, pending=outcome.pending)
    say(f"run waiting: {len(outcome.waiting)} stage(s) wait for a person; finished work is kept")
    for name, status in outcome.waiting.items():
        what = "an approval" if status == StageStatus.AWAITING_APPROVAL else "a review"
        say(f"  {name} waits for {what}: {decide_command(name, status, run.feature)}")
    if outcome.pending:
        say(f"  not started until then: {', '.join(outcome.pending)}")
    say(f"  see what it produced: teambot status {run.feature}; after deciding: teambot resume {run.feature}")
    return EXIT_WAITING
