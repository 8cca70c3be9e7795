"""Before a run writes anything: can every command stage and acceptance command be started?"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

from teambot.config.models import StageKindName
from teambot.errors import AgentError
from teambot.kinds.acceptance import acceptance_command
from teambot.kinds.context import LoopSettings

_LEFT = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")
EXAMPLE = '[pytest, -q, tests/acceptance, "--junitxml={junit}"]'


def command_problems(workflow, settings: LoopSettings, demo_command: Callable[[str | None], tuple | None],
                     project_dir: Path) -> list[str]:
    """One line per command that cannot run: no acceptance command at all, or a program not found."""
    from teambot.runtimes.argv import resolve_program

    problems = []
    path_env = os.environ.get("PATH", os.defpath)
    for name in workflow.graph.order:
        stage = workflow.config.stages[name]
        commands: list[tuple[tuple[str, ...], str]] = []
        if stage.kind is StageKindName.COMMAND:
            commands += [(tuple(argv), f"stages.{name}.run[{i}]") for i, argv in enumerate(stage.run or [])]
        if stage.kind is StageKindName.ACCEPTANCE:
            found = acceptance_command(name, stage, settings.acceptance_command, demo_command(stage.work_agent))
            if found is None:
                problems.append(f"stages.{name}: an acceptance test stage needs a command for teambot to run; set "
                                f"acceptance.command in teambot.yaml (e.g. {EXAMPLE}) or acceptance_command on the stage")
            else:
                commands.append(found)
        for argv, origin in commands:
            program = argv[0].replace("{project_dir}", str(project_dir)).replace("{python}", sys.executable)
            if _LEFT.search(program):
                continue  # known only per attempt
            try:
                resolve_program(program, path_env, project_dir, origin, "command")
            except AgentError as exc:
                problems.append(exc.message)
    return problems
