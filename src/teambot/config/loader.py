"""Load stages.yaml into a validated Workflow (config + DAG), reporting every problem at once."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from teambot.config.models import StagesFile
from teambot.config.problems import Positions, invalid, render
from teambot.config.structure import check_structure
from teambot.config.validate import check_workflow
from teambot.config.yamlsafe import parse
from teambot.errors import ConfigError
from teambot.graph import StageGraph, build_graph
from teambot.inputs import read_input

DEFAULT_STAGES = Path(__file__).resolve().parent.parent / "data" / "stages.yaml"
MAX_BYTES = 1 << 20  # a stages file is a few kB; anything this big is a mistake or an attack


@dataclass(frozen=True)
class Workflow:
    """A validated stages.yaml: where it came from, its content hash, the model and the DAG.

    `warnings` are printable lines (`file:line:col: path: reason`) that do not stop a run.
    """

    path: Path
    sha256: str
    config: StagesFile
    graph: StageGraph
    warnings: tuple[str, ...] = ()


def resolve_stages_path(option: str | Path | None, project_dir: Path) -> Path:
    """--stages, else ./stages.yaml, else the packaged default workflow."""
    if option is not None:
        return Path(option)
    local = project_dir / "stages.yaml"
    return local if local.exists() else DEFAULT_STAGES


def load_workflow(path: str | Path, *, project_dir: Path | None = None, check_templates: bool = True) -> Workflow:
    """Read, parse and validate `path`. Raises ConfigError listing every problem found.

    prompt_template paths resolve against `project_dir` (default: the current directory);
    `check_templates=False` skips that check (for commands that only look at the graph).
    """
    path = Path(path)
    raw = _read(path)
    document, problems = parse(raw)
    if document is None:
        raise _invalid(path, render(problems, str(path), Positions()))
    parts, found = check_structure(document.data)
    problems += found
    found, cautions = check_workflow(parts, project_dir or Path.cwd(), check_templates=check_templates)
    problems += found
    if problems:
        raise _invalid(path, render(problems, str(path), document.positions))
    config = StagesFile(stages=parts.stages, stage_order=parts.order or [],
                        parallel_groups=parts.groups, work_to_review_mapping=parts.review_map)
    return Workflow(path=path, sha256=hashlib.sha256(raw).hexdigest(), config=config,
                    graph=build_graph(config), warnings=tuple(render(cautions, str(path), document.positions)))


def _invalid(path: Path, lines: list[str]) -> ConfigError:
    return invalid(path, lines, "stages", f"fix them all, then check with `teambot validate {path}` (reference: docs/stages.md)")


def _read(path: Path) -> bytes:
    """The file's bytes; refuses missing, non-regular and oversized files (inputs.read_input)."""
    try:
        return read_input(path, MAX_BYTES, "stages file")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: cannot read stages file: {exc.strerror}",
                          hint="give the path of a stages file, or run `teambot init` to write the default one") from None


__all__ = ["DEFAULT_STAGES", "MAX_BYTES", "Workflow", "load_workflow", "resolve_stages_path"]
