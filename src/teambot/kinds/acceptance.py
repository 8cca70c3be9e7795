"""An acceptance test stage: the work agent writes tests or fixes → teambot runs the tests itself.

Steps of one iteration, each committed as it ends: `work` (the agent writes or updates the
acceptance tests, later fixes what failed), then `test`: teambot runs the acceptance
command (argv, no shell) and reads JUnit XML when the command has a {junit} placeholder,
else the exit code. Zero tests is a failure, never a pass. The history is append-only
across resumes. A stage with requires_acceptance_tests_passed starts only when every
acceptance stage's latest result passed (`gate_problem`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from teambot.config.models import StageConfig, StageKindName
from teambot.errors import AgentError, StageBlocked
from teambot.fsutil import atomic_write
from teambot.kinds import loop
from teambot.kinds.base import REPORT_KINDS, Attempted, KindDefaults
from teambot.kinds.context import StageWork
from teambot.kinds.junit import JUnitError, read_junit, read_report
from teambot.runtimes.base import StageRequest
from teambot.store.models import AcceptanceResult, Iteration, StageRecord

RESULTS_HEADING = "## Results recorded by teambot"
OUTPUT_TAIL = 12 * 1024  # characters of the command's output the work agent sees after a failure
_NO_TESTS = re.compile(r"^(Ran 0 tests\b|.*\bno tests ran\b)", re.MULTILINE)  # unittest, pytest
PYTEST_NO_TESTS = 5


def acceptance_command(name: str, stage: StageConfig, configured: tuple[str, ...] | None,
                       demo: tuple[str, ...] | None) -> tuple[tuple[str, ...], str] | None:
    """(argv, where it comes from): the stage's own, else the demo's generated tests when the
    stage's agent runs on the demo runtime, else teambot.yaml's; None when there is none."""
    if stage.acceptance_command:
        return tuple(stage.acceptance_command), f"stages.{name}.acceptance_command"
    if demo is not None:
        return demo, "the demo runtime's generated tests"
    if configured:
        return configured, "teambot.yaml acceptance.command"
    return None


def ended(it: Iteration) -> bool:
    return it.test is not None


def succeeded(it: Iteration) -> bool:
    return it.test is not None and it.test.passed


def configured_budget(work: StageWork) -> int:
    return work.stage.max_iterations or work.settings.acceptance_iterations


async def run_acceptance(work: StageWork, command: tuple[tuple[str, ...], str]) -> str:
    """Iterate until the acceptance tests pass; returns the stage output."""
    budget = loop.budget_of(work.record, configured_budget(work))
    return await loop.iterate(
        work, budget, ended=ended, succeeded=succeeded,
        steps=[(lambda it: it.work is None, lambda it: _work_step(work, it, budget)),
               (lambda it: it.test is None, lambda it: _test_step(work, it, command))],
        finish=lambda it: _passed(work, it),
        blocked=lambda: blocked_report(work, budget),
    )


async def _work_step(work: StageWork, it: Iteration, budget: int) -> Iteration:
    stage = work.stage
    prev = loop.previous(work.record, it)
    feedback = title = None
    if prev is not None and prev.test is not None and not prev.test.passed:
        feedback = _failure_feedback(work, prev)
        title = f"Acceptance tests failed in iteration {prev.number}: {prev.test.summary}"
    result = await loop.call_work_agent(work, it, budget, kind="acceptance", feedback=feedback, title=title)
    for artifact in stage.artifacts[1:]:  # the first one holds the results teambot records
        path = work.paths.artifact(artifact)
        if not path.is_file() or path.stat().st_size == 0:
            raise AgentError(f"iteration {it.number}: declared artifact {artifact} was not written by the work step",
                             retryable=True)
    it = loop.update(work, it, work=work.save(it.number, "work", result.output))
    work.emit("step_completed", iteration=it.number, step="work", agent=stage.work_agent)
    return it


async def _test_step(work: StageWork, it: Iteration, command: tuple[tuple[str, ...], str]) -> Iteration:
    from teambot.runtimes.argv import mask_argv
    from teambot.runtimes.command import CommandRuntime, CommandSpec

    argv, origin = command
    junit = work.step_path(it.number, "junit", ".xml")
    work.paths.make_dir(junit.parent, durable=work.durable)
    junit.unlink(missing_ok=True)  # left by an attempt that was cut short: never read a stale report
    uses_junit = any("{junit}" in arg for arg in argv)
    spec = CommandSpec(argv=argv, prompt_via="none", output_cap=work.settings.command_output_cap,
                       grace=work.settings.command_grace, origin=origin, label="acceptance command",
                       values=(("junit", str(junit)),))
    request = StageRequest(
        feature=work.paths.feature, stage=work.name, agent=None, prompt="", artifacts_dir=work.paths.artifacts,
        artifacts=(), upstream_artifacts=(), run_dir=work.paths.root, project_dir=work.project_dir,
        workdir=work.workdir, timeout=None, log_path=work.paths.log(work.name), attempt=work.attempt,
        on_spawn=work.on_spawn, kind="acceptance", step="test", iteration=it.number,
    )
    runner = CommandRuntime(spec, work.redact)
    timeout = work.stage.timeout or work.settings.acceptance_timeout
    shown = " ".join(mask_argv(runner.argv_for(request, None)))
    work.emit("acceptance_tests_started", iteration=it.number, command=shown)
    try:
        done = await asyncio.wait_for(runner.execute(request), timeout)
    except TimeoutError:
        done = None
    # Read once, in a thread, refusing FIFOs and symlinks: the command may have left anything there.
    report = await asyncio.to_thread(_read_or_why, junit, work.paths.root)
    if isinstance(report, bytes):  # test messages may quote a secret: the run keeps a redacted copy
        work.save_text(junit, report.decode("utf-8", errors="replace"))
    if done is None:
        code, tail = None, []
        stdout = f"(cut short; what it printed until then is in {work.paths.log(work.name)})"
        judged = Judgement(False, f"the acceptance command timed out after {timeout:g} s")
    else:
        code, stdout, tail = done.code, work.redact(done.stdout), done.stderr_tail
        judged = await asyncio.to_thread(judge, code, stdout + "\n" + "\n".join(tail), junit if uses_junit else None,
                                         report, work.redact)
    log = [f"$ {shown}", f"exit code: {code if code is not None else '(none: timed out)'}", f"result: {judged.summary}", ""]
    if judged.failed:
        log += ["## Failing tests", ""] + [f"### {name}\n\n{text}\n" for name, text in judged.failed]
    log += ["## Output", "", stdout.rstrip()]
    if tail:
        log += ["", "## End of stderr", "", *tail]
    outcome = AcceptanceResult(passed=judged.passed, exit_code=code, summary=judged.summary,
                               output=work.save(it.number, "test", "\n".join(log) + "\n", suffix=".log"), **judged.counts)
    it = loop.update(work, it, test=outcome, feedback=None if judged.passed else loop.excerpt(judged.summary))
    work.emit("acceptance_tests_completed", iteration=it.number, passed=judged.passed, summary=judged.summary,
              **judged.counts)
    return it


@dataclass
class Judgement:
    passed: bool
    summary: str
    failed: list[tuple[str, str]] = field(default_factory=list)  # (test, message) of failing tests
    counts: dict[str, int] = field(default_factory=dict)  # tests, failures, errors, skipped (JUnit)


def _read_or_why(junit: Path, root: Path) -> bytes | JUnitError:
    try:
        return read_report(junit, root)
    except JUnitError as exc:
        return exc


def judge(code: int, output: str, junit: Path | None, report: bytes | JUnitError | None = None,
          redact: Callable[[str], str] | None = None) -> Judgement:
    """Pass or fail from the exit code and, when the command writes one, the JUnit report.

    `output` is what the command printed (stdout and the end of stderr); `report` is the
    report at `junit` as already read (or why it could not be), else it is read here;
    `redact` is applied to failure texts before they are cut.

    Both must agree for a pass, and zero executed tests is a failure.
    """
    if junit is None:
        if code == PYTEST_NO_TESTS or _NO_TESTS.search(output):
            return Judgement(False, f"no acceptance tests ran (exit code {code})")
        if code != 0:
            return Judgement(False, f"the acceptance command exited with code {code}")
        return Judgement(True, "exit code 0 (no JUnit report: tests were not counted)")
    if isinstance(report, JUnitError):
        return Judgement(False, f"{report} (exit code {code})")
    try:
        parsed = read_junit(junit, report, redact=redact)
    except JUnitError as exc:
        return Judgement(False, f"{exc} (exit code {code})")
    counts = {"tests": parsed.tests, "failures": parsed.failures, "errors": parsed.errors, "skipped": parsed.skipped}
    if parsed.executed == 0:
        return Judgement(False, f"no acceptance tests ran ({parsed.tests} collected, {parsed.skipped} skipped)",
                         counts=counts)
    summary = (f"{parsed.executed} test{'s' if parsed.executed != 1 else ''} ran: {parsed.failures} failed, "
               f"{parsed.errors} errors, {parsed.skipped} skipped")
    if not parsed.passed:
        return Judgement(False, summary, parsed.failed, counts)
    if code != 0:
        return Judgement(False, f"{summary}, but the command exited with code {code}", counts=counts)
    return Judgement(True, summary, counts=counts)


def _failure_feedback(work: StageWork, prev: Iteration) -> str:
    text = work.read(prev.test.output, cap=1 << 20)
    if len(text) > OUTPUT_TAIL:
        text = f"[... {len(text) - OUTPUT_TAIL} earlier characters in {work.paths.root / prev.test.output.file}]\n" \
               + text[-OUTPUT_TAIL:]
    return text


def _history(record: StageRecord) -> list[str]:
    rows = ["| iteration | result | summary | at |", "|---|---|---|---|"]
    for it in record.iterations:
        if it.test is not None:
            rows.append(f"| {it.number} | {'passed' if it.test.passed else 'failed'} | {it.test.summary} | {it.test.output.at} |")
    return rows


def _passed(work: StageWork, it: Iteration) -> str:
    """Record the real results in the first declared artifact (after what the agent wrote)."""
    stage = work.stage
    results = "\n".join([RESULTS_HEADING, "", f"Passed in iteration {it.number}: {it.test.summary}.", "",
                         *_history(work.record), ""])
    if stage.artifacts:
        path = work.paths.artifact(stage.artifacts[0])
        try:
            written = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            written = f"# Acceptance test results: {work.objective.title}\n"
        written = written.split(RESULTS_HEADING, 1)[0].rstrip()  # an earlier budget's results
        atomic_write(path, work.redact(written + "\n\n" + results), durable=work.durable)
    return "\n".join([f"# {work.name}: acceptance tests passed in iteration {it.number}", "", results,
                        f"## Work ({stage.work_agent})", "", work.read(it.work).strip(), ""])


def blocked_report(work: StageWork, budget: int) -> StageBlocked:
    record = work.record
    last = record.iterations[-1]
    path = work.paths.report(work.name, "acceptance-failure")
    text = "\n".join([
        f"# Acceptance failure: {work.name}", "",
        f"The acceptance tests did not pass in {budget} iteration{'s' if budget != 1 else ''} "
        f"(run {work.paths.feature}; work agent {work.stage.work_agent}).", "",
        f"## Last result (iteration {last.number})", "", last.test.summary if last.test else "(none)", "",
        f"Output: {work.paths.root / last.test.output.file}" if last.test else "", "",
        "## History", "", *_history(record), "",
        "## What to do", "",
        "- Read the failing tests' output. Fix the code (or a wrong test) yourself if the agent could not.",
        f"- Give the stage a fresh budget, then continue: `teambot unblock {work.name} {work.paths.feature}` "
        f"and `teambot resume {work.paths.feature}`. The history is kept.", "",
    ])
    summary = last.test.summary if last.test else "no result"
    return loop.report_blocked(path, text, f"acceptance tests still failing after {budget} "
                               f"iteration{'s' if budget != 1 else ''} ({summary})", kind="iterations", redact=work.redact)


def latest_results(records: Mapping[str, StageRecord], stages: Mapping[str, StageConfig]) -> dict[str, Iteration]:
    """Each acceptance stage's most recent test result in its current budget (stages without one are left out).

    A stage given a fresh budget (rerun, unblock) has no result until it tests again: an old pass
    from before must not count."""
    found = {}
    for name, record in records.items():
        if name in stages and stages[name].kind is StageKindName.ACCEPTANCE:
            tested = [it for it in record.iterations[record.budget_start:] if it.test is not None]
            if tested:
                found[name] = tested[-1]
    return found


def gate_problem(records: Mapping[str, StageRecord], stages: Mapping[str, StageConfig],
                 gated: str | None = None) -> tuple[str, str] | None:
    """(why, the acceptance stage to fix) when stage `gated` (requires_acceptance_tests_passed) may
    not start, else None. The gate opens only when every other acceptance stage of the workflow
    has a result in its current budget and its latest one passed, so no finishing order opens it
    early. A gated acceptance stage does not wait for its own result."""
    latest = latest_results(records, stages)
    for name in (n for n, s in stages.items() if s.kind is StageKindName.ACCEPTANCE and n != gated):
        it = latest.get(name)
        if it is None:
            return f"no acceptance test result yet from {name}", name
        if not it.test.passed:
            return f"the latest acceptance result of {name} (iteration {it.number}) failed: {it.test.summary}", name
    return None


def gate_blocked(work: StageWork) -> StageBlocked | None:
    """None when `work.name` (requires_acceptance_tests_passed) may start; else why not, in gate-<STAGE>.md."""
    name, paths = work.name, work.paths
    found = gate_problem(work.records, work.stages, name)
    if found is None:
        return None
    problem, acceptance = found
    feature = paths.feature
    path = paths.report(name, "gate")
    text = "\n".join([
        f"# Acceptance gate: {name} refused to start", "",
        f"{name} has requires_acceptance_tests_passed, and {problem}.", "",
        "## What to do", "",
        f"- Make the acceptance tests pass: `teambot rerun {acceptance} {feature}` (or `teambot unblock "
        f"{acceptance} {feature}` when it ran out of iterations), then `teambot resume {feature}`.",
        f"- {name} is checked again on every resume.", "",
    ])
    return loop.report_blocked(path, text, f"acceptance gate: {problem}", kind="acceptance_gate")



class AcceptanceKind(KindDefaults):
    """is_acceptance_test_stage: the work agent writes tests and fixes, teambot runs them, until they pass."""

    name = StageKindName.ACCEPTANCE
    ended = staticmethod(ended)
    succeeded = staticmethod(succeeded)
    configured_budget = staticmethod(configured_budget)
    blocked_report = staticmethod(blocked_report)

    def precheck(self, work: StageWork) -> StageBlocked | None:
        gate = super().precheck(work)
        # resumed with its budget still spent: blocked again, nothing to attempt
        return gate if gate is not None else loop.spent_budget(work, self)

    async def attempt(self, work: StageWork) -> Attempted:
        demo = getattr(work.runtime, "demo_acceptance_command", None)
        command = acceptance_command(work.name, work.stage, work.settings.acceptance_command,
                                     demo(work.stage.work_agent) if demo else None)
        if command is None:
            raise AgentError(f"{work.name} is an acceptance test stage but no acceptance command is configured: set "
                             "acceptance.command in teambot.yaml or acceptance_command on the stage", retryable=False)
        return Attempted(await run_acceptance(work, command), usage=work.usage)

    def stale_reports(self, stage: StageConfig) -> tuple[str, ...]:
        return REPORT_KINDS
