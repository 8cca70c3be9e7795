"""The offline, deterministic demo runtime.

It writes each declared artifact as plausible markdown derived from the objective and the
upstream artifacts. As a reviewer it approves (a `VERDICT: APPROVED` line). In an acceptance
stage it writes a small real unittest test and the code it tests under
artifacts/acceptance/, which DEMO_ACCEPTANCE_COMMAND runs (runtimes/demo_tests.py).

Knobs (environment): TEAMBOT_DEMO_DELAY seconds per agent call (float),
TEAMBOT_DEMO_DELAY_<STAGE> the same for one stage (overrides the first; also
TEAMBOT_DEMO_DELAY_<TASK ID> for a task); TEAMBOT_DEMO_FAIL,
comma-separated stage names that fail; TEAMBOT_DEMO_REJECT=STAGE:N[,STAGE:N] makes the
reviewer of STAGE request changes in its first N iterations; TEAMBOT_DEMO_ACCEPTANCE=fail:N
makes the generated code fail its test in the first N iterations, and =none writes no test.
Task stages: runtimes/demo_tasks.py (TEAMBOT_DEMO_CONFLICT; TEAMBOT_DEMO_FAIL takes task ids).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from teambot.errors import AgentError, UsageError
from teambot.fsutil import atomic_write
from teambot.runtimes.base import StageRequest, StageResult


DEMO_ACCEPTANCE_COMMAND = ("{python}", "-m", "teambot.runtimes.demo_tests", "{artifacts_dir}/acceptance", "--junit", "{junit}")


class DemoRuntime:
    name = "demo"

    def __init__(self, delay: float | None = None, fail: set[str] | None = None) -> None:
        self.delay = _env_delay() if delay is None else delay
        self.fail = _env_fail() if fail is None else fail
        self.reject = _env_reject()
        self.acceptance = _env_acceptance()
        for name in os.environ:  # checked now, so a bad value is a usage error before the run, not a failed stage
            if name.startswith("TEAMBOT_DEMO_DELAY_"):
                _env_delay(name)

    def demo_acceptance_command(self, agent: str | None) -> tuple[str, ...]:
        return DEMO_ACCEPTANCE_COMMAND

    async def run(self, request: StageRequest) -> StageResult:
        delay = _env_delay(f"TEAMBOT_DEMO_DELAY_{request.stage}", self.delay)
        if request.task is not None:  # TEAMBOT_DEMO_DELAY_<task id> for one task
            delay = _env_delay(f"TEAMBOT_DEMO_DELAY_{request.task}", delay)
        if delay > 0:
            await asyncio.sleep(delay)
        if request.stage in self.fail or (request.task is not None and request.task in self.fail):
            raise AgentError(f"demo failure requested for {request.stage} (TEAMBOT_DEMO_FAIL)")
        if request.kind == "task":
            from teambot.runtimes.demo_tasks import do_task

            return StageResult(output=do_task(request))
        if request.step in ("review", "verdict"):
            return StageResult(output=self._review(request))
        if request.kind == "acceptance":
            self._write_acceptance_test(request)
        produced: dict[str, Path] = {}
        for name in request.artifacts:
            path = request.artifacts_dir / name
            atomic_write(path, _artifact_text(request, name), durable=False)
            produced[name] = path
        made = ", ".join(request.artifacts) or "no artifacts"
        output = f"# {request.stage}\n\n{request.agent or 'teambot'} finished {request.stage} for \"{request.objective_title}\" ({made}).\n"
        return StageResult(output=output, artifacts=produced)

    async def aclose(self) -> None:
        return None

    def _review(self, request: StageRequest) -> str:
        rejections = self.reject.get(request.stage, 0)
        if request.iteration <= rejections:
            return (f"# Review of {request.stage}, iteration {request.iteration}\n\n"
                    f"1. The revision log does not yet answer finding {request.iteration} of this review "
                    "(demo reviewer, TEAMBOT_DEMO_REJECT).\n\nVERDICT: CHANGES_REQUESTED\n")
        return (f"# Review of {request.stage}, iteration {request.iteration}\n\n"
                "No blocking findings: the work meets the exit criteria (demo reviewer).\n\nVERDICT: APPROVED\n")

    def _write_acceptance_test(self, request: StageRequest) -> None:
        """A real test and the code it checks; the code is broken in the first `fail:N` iterations."""
        folder = request.artifacts_dir / "acceptance"
        folder.mkdir(parents=True, exist_ok=True)
        mode, count = self.acceptance
        test = folder / "test_objective.py"
        if mode == "none":
            test.unlink(missing_ok=True)
            return
        title = request.objective_title
        answer = "not implemented yet" if mode == "fail" and request.iteration <= count else title
        atomic_write(folder / "feature.py", f'"""Written by the demo agent (iteration {request.iteration})."""\n\n\n'
                                            f"def describe():\n    return {answer!r}\n", durable=False)
        atomic_write(test, "\n".join([
            f'"""Acceptance test written by the demo agent for: {title}."""', "", "import unittest", "",
            "import feature", "", "",
            "class ObjectiveAcceptance(unittest.TestCase):",
            "    def test_feature_describes_the_objective(self):",
            f"        self.assertEqual(feature.describe(), {title!r})", "",
        ]), durable=False)


def _artifact_text(request: StageRequest, name: str) -> str:
    if Path(name).name == "tasks.yaml":  # a plan's tasks (runtimes/demo_tasks.py)
        from teambot.runtimes.demo_tasks import tasks_file

        return tasks_file(request)
    if Path(name).name == "implementation_plan.md":  # the default workflow's plan carries its tasks
        from teambot.runtimes.demo_tasks import tasks_file

        body = _generic_text(request, name)
        return body + "\n## Tasks file\n\n```yaml\n" + tasks_file(request) + "```\n"
    return _generic_text(request, name)


def _generic_text(request: StageRequest, name: str) -> str:
    title = Path(name).stem.replace("_", " ").title()
    lines = [f"# {title}: {request.objective_title}", "", f"Stage {request.stage} by {request.agent or 'teambot'}.", ""]
    if request.description:
        lines += [request.description.strip(), ""]
    if request.upstream_artifacts:
        lines += ["## Inputs", ""]
        for path in request.upstream_artifacts:
            lines.append(f"- {path.name}: {_first_heading(path)}")
        lines.append("")
    lines += ["## Outcome", "", "All exit criteria addressed (demo runtime, offline).", ""]
    return "\n".join(lines)


def _first_heading(path: Path) -> str:
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    except OSError:
        return "(unreadable)"
    return "(no heading)"


def _env_delay(name: str = "TEAMBOT_DEMO_DELAY", default: float = 0.0) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"{name}={raw!r} is not a number of seconds", hint="set it to a float such as 0.5") from None
    return max(value, 0.0)


def _env_reject() -> dict[str, int]:
    """TEAMBOT_DEMO_REJECT=STAGE:N[,STAGE:N]: STAGE's reviewer requests changes N times first."""
    raw = os.environ.get("TEAMBOT_DEMO_REJECT", "")
    found: dict[str, int] = {}
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        stage, sep, count = item.partition(":")
        if not sep or not stage.strip() or not count.strip().isdigit():
            raise UsageError(f"TEAMBOT_DEMO_REJECT={raw!r}: {item!r} is not STAGE:N", hint="for example SPEC_REVIEW:2")
        found[stage.strip()] = int(count)
    return found


def _env_acceptance() -> tuple[str, int]:
    """TEAMBOT_DEMO_ACCEPTANCE: pass (default), fail:N, or none."""
    raw = os.environ.get("TEAMBOT_DEMO_ACCEPTANCE", "").strip()
    if raw in ("", "pass"):
        return "pass", 0
    if raw == "none":
        return "none", 0
    mode, _, count = raw.partition(":")
    if mode == "fail" and count.isdigit():
        return "fail", int(count)
    raise UsageError(f"TEAMBOT_DEMO_ACCEPTANCE={raw!r} is not pass, none or fail:N", hint="for example fail:1")


def _env_fail() -> set[str]:
    return {s.strip() for s in os.environ.get("TEAMBOT_DEMO_FAIL", "").split(",") if s.strip()}
