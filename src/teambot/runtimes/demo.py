"""The offline, deterministic demo runtime.

It writes each declared artifact as plausible markdown derived from the objective and the
upstream artifacts. Knobs (environment): TEAMBOT_DEMO_DELAY seconds per stage (float),
TEAMBOT_DEMO_DELAY_<STAGE> the same for one stage (overrides the first), and
TEAMBOT_DEMO_FAIL, comma-separated stage names that fail.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from teambot.errors import AgentError, UsageError
from teambot.fsutil import atomic_write
from teambot.runtimes.base import StageRequest, StageResult


class DemoRuntime:
    name = "demo"

    def __init__(self, delay: float | None = None, fail: set[str] | None = None) -> None:
        self.delay = _env_delay() if delay is None else delay
        self.fail = _env_fail() if fail is None else fail

    async def run(self, request: StageRequest) -> StageResult:
        delay = _env_delay(f"TEAMBOT_DEMO_DELAY_{request.stage}", self.delay)
        if delay > 0:
            await asyncio.sleep(delay)
        if request.stage in self.fail:
            raise AgentError(f"demo failure requested for {request.stage} (TEAMBOT_DEMO_FAIL)")
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


def _artifact_text(request: StageRequest, name: str) -> str:
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


def _env_fail() -> set[str]:
    return {s.strip() for s in os.environ.get("TEAMBOT_DEMO_FAIL", "").split(",") if s.strip()}
